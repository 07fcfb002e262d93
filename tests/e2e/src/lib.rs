//! Shared harness for the end-to-end tests (`tests/e2e/tests/*.rs`, one file per protocol).
//!
//! ```no_run
//! use e2e::{run, TestEnv};
//! use std::time::Duration;
//! let env = TestEnv::new();
//! let out = run(
//!     env.cmd("entra-cred").args(["token", "--scope", "x/.default"]),
//!     None,
//!     Duration::from_secs(30),
//! );
//! assert_eq!(out.code, 0, "{}", out.stderr);
//! env.assert_clean_stderr(&out);
//! ```

pub use entra_emulator::{self as emulator, Emulator, Endpoint, Fault, Options};

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

/// The installed binaries: `binaries.txt` at the workspace root (one a line, `#` comments).
pub fn installed_bins() -> Vec<&'static str> {
    include_str!("../../../binaries.txt")
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The workspace binaries (the ones `cmd` resolves to the target dir): the installed ones and
/// the emulator.
pub fn workspace_bins() -> Vec<&'static str> {
    let mut v = installed_bins();
    v.push("entra-emulator");
    v
}

// ----- binaries --------------------------------------------------------------------------------

/// The directory holding the workspace binaries of this test's profile
/// (`<target>/<profile>/`, derived from the test executable in `<target>/<profile>/deps/`).
pub fn bin_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("current_exe");
        let mut dir = exe.parent().expect("test exe has a parent").to_path_buf();
        if dir.file_name().map(|n| n == "deps").unwrap_or(false) {
            dir.pop();
        }
        dir
    })
    .clone()
}

/// Path of a workspace binary in this test's target dir and profile. Builds the workspace
/// binaries first (once per process).
pub fn bin(name: &str) -> PathBuf {
    ensure_built();
    let p = bin_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        p.exists(),
        "{} does not exist after building the workspace",
        p.display()
    );
    p
}

/// Run `$CARGO build --workspace --bins` (same profile and target dir as this test) once per
/// process; fails the test with cargo's stderr if the build fails. Skipped when
/// `E2E_SKIP_BUILD=1` (CI that has just built everything).
pub fn ensure_built() {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let r = BUILT.get_or_init(|| {
        if std::env::var_os("E2E_SKIP_BUILD").is_some_and(|v| v == "1") {
            return Ok(());
        }
        let dir = bin_dir();
        let profile = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "debug".into());
        let parent = dir.parent().map(Path::to_path_buf).unwrap_or_default();
        // <target>/<profile> or <target>/<triple>/<profile>
        let (target_dir, triple) = if parent.join("CACHEDIR.TAG").exists() {
            (parent, None)
        } else {
            let triple = parent.file_name().map(|n| n.to_string_lossy().into_owned());
            (
                parent.parent().map(Path::to_path_buf).unwrap_or(parent),
                triple,
            )
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
        let mut c = Command::new(cargo);
        // `cargo test` gives this process the package variables of the test crate
        // (CARGO_MANIFEST_DIR, CARGO_PKG_NAME, ...). Build scripts that watch them (ring's
        // does) would then be rebuilt here and again by the next outer `cargo test`.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if [
                "CARGO_PKG_",
                "CARGO_MANIFEST_",
                "CARGO_CRATE_",
                "CARGO_BIN_",
                "CARGO_PRIMARY_",
            ]
            .iter()
            .any(|p| k.starts_with(p))
                || k == "OUT_DIR"
            {
                c.env_remove(k.as_ref());
            }
        }
        c.args(["build", "--workspace", "--bins", "--manifest-path"])
            .arg(&manifest)
            .env("CARGO_TARGET_DIR", &target_dir)
            .stdin(Stdio::null());
        match profile.as_str() {
            "debug" => {}
            "release" => {
                c.arg("--release");
            }
            other => {
                c.args(["--profile", other]);
            }
        }
        if let Some(t) = triple {
            c.args(["--target", &t]);
        }
        match c.output() {
            Ok(o) if o.status.success() => Ok(()),
            Ok(o) => Err(format!(
                "`cargo build --workspace --bins` failed ({}):\n{}",
                o.status,
                String::from_utf8_lossy(&o.stderr)
            )),
            Err(e) => Err(format!("cannot run cargo: {e}")),
        }
    });
    if let Err(e) = r {
        panic!("{e}");
    }
}

// ----- running processes ----------------------------------------------------------------------

/// What a finished process did.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// Exit code; `128 + signal` when killed by a signal.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl RunOutput {
    pub fn success(&self) -> bool {
        self.code == 0
    }
    /// Assert exit 0 (showing stderr otherwise) and return self.
    #[track_caller]
    pub fn ok(self) -> RunOutput {
        assert_eq!(
            self.code, 0,
            "expected success\n--- stdout:\n{}\n--- stderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
    /// Assert this exit code and return self.
    #[track_caller]
    pub fn code_is(self, code: i32) -> RunOutput {
        assert_eq!(
            self.code, code,
            "unexpected exit code\n--- stdout:\n{}\n--- stderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Run `cmd` to completion, feeding `stdin` (else stdin as configured, `null` from
/// [`TestEnv::cmd`]), capturing stdout and stderr. Kills the child and fails the test if it
/// runs longer than `timeout`.
#[track_caller]
pub fn run(cmd: &mut Command, stdin: Option<&[u8]>, timeout: Duration) -> RunOutput {
    match try_run(cmd, stdin, timeout) {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    }
}

/// Like [`run`] but returns the timeout (or spawn failure) as an error instead of panicking.
pub fn try_run(
    cmd: &mut Command,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<RunOutput, String> {
    let start = Instant::now();
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {desc}: {e}"))?;
    let writer = match (stdin, child.stdin.take()) {
        (Some(data), Some(mut pipe)) => {
            let data = data.to_vec();
            Some(std::thread::spawn(move || {
                let _ = pipe.write_all(&data);
                // dropping the pipe closes it: EOF for the child
            }))
        }
        _ => None,
    };
    let reader = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out_t = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err_t = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Ok(s),
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("waiting for {desc}: {e}")),
        }
    };
    if let Some(w) = writer {
        let _ = w.join();
    }
    // A grandchild may still hold the pipes open; don't wait for it forever.
    let stdout = join_with_deadline(out_t, Duration::from_secs(5));
    let stderr = join_with_deadline(err_t, Duration::from_secs(5));
    let elapsed = start.elapsed();
    match status {
        Ok(s) => Ok(RunOutput {
            code: exit_code(&s),
            stdout,
            stderr,
            elapsed,
        }),
        Err(()) => Err(format!(
            "TIMEOUT: {desc} still running after {timeout:?}; killed\n--- stdout:\n{stdout}\n--- stderr:\n{stderr}"
        )),
    }
}

fn join_with_deadline(t: std::thread::JoinHandle<String>, d: Duration) -> String {
    let start = Instant::now();
    while !t.is_finished() {
        if start.elapsed() > d {
            return "<output still open after the process exited>".into();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    t.join().unwrap_or_default()
}

fn exit_code(s: &std::process::ExitStatus) -> i32 {
    if let Some(c) = s.code() {
        return c;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = s.signal() {
            return 128 + sig;
        }
    }
    -1
}

/// Start `n` processes (`make_cmd(i)`) as close to simultaneously as possible, each fed
/// `stdin`, and collect every output in order. Fails the test if any exceeds `timeout`.
#[track_caller]
pub fn spawn_many(
    n: usize,
    mut make_cmd: impl FnMut(usize) -> Command,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Vec<RunOutput> {
    spawn_many_with_input(n, |i| (make_cmd(i), stdin.map(<[u8]>::to_vec)), timeout)
}

/// Like [`spawn_many`], but each process gets its own stdin: `make(i)` returns the command and
/// what to write to it (for mixing helper kinds that read different protocols).
#[track_caller]
pub fn spawn_many_with_input(
    n: usize,
    mut make: impl FnMut(usize) -> (Command, Option<Vec<u8>>),
    timeout: Duration,
) -> Vec<RunOutput> {
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (mut cmd, stdin) = make(i);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                try_run(&mut cmd, stdin.as_deref(), timeout)
            })
        })
        .collect();
    let results: Vec<Result<RunOutput, String>> = handles
        .into_iter()
        .map(|h| {
            h.join()
                .unwrap_or_else(|_| Err("runner thread panicked".into()))
        })
        .collect();
    let errors: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        errors.is_empty(),
        "{} of {n} processes failed to run:\n{}",
        errors.len(),
        errors
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    results.into_iter().filter_map(Result::ok).collect()
}

// ----- secret hygiene -------------------------------------------------------------------------

/// Fail the test if `haystack` contains any of `secrets` (secrets shorter than 6 characters are
/// ignored; for JWTs the signature part alone also counts). The message names the secret only
/// by its first characters.
#[track_caller]
pub fn assert_no_secret(haystack: &str, secrets: &[&str]) {
    if let Some(s) = find_secret(haystack, secrets) {
        panic!(
            "a secret ({}...) leaked into:\n{}",
            &s[..s.len().min(8)],
            haystack.replace(s, "<SECRET>")
        );
    }
}

fn find_secret<'a>(haystack: &str, secrets: &[&'a str]) -> Option<&'a str> {
    for s in secrets {
        if s.len() < 6 {
            continue;
        }
        if haystack.contains(s) {
            return Some(s);
        }
        let parts: Vec<&str> = s.split('.').collect();
        if parts.len() == 3 && parts[2].len() >= 20 && haystack.contains(parts[2]) {
            return Some(s);
        }
    }
    None
}

// ----- the test environment -------------------------------------------------------------------

/// Where [`TestEnv`] points IMDS by default: a closed loopback port (the discard port), so that
/// no test ever sends a packet to 169.254.169.254 and the `auto` probe fails at once.
pub const CLOSED_IMDS: &str = "http://127.0.0.1:9";

/// A started emulator plus a private temp dir (`home/`, `config/`, `cache/`) and a clean
/// environment for the processes under test.
pub struct TestEnv {
    emu: Emulator,
    dir: tempfile::TempDir,
    extra_env: Vec<(String, String)>,
}

impl Default for TestEnv {
    fn default() -> Self {
        TestEnv::new()
    }
}

impl TestEnv {
    pub fn new() -> TestEnv {
        TestEnv::with_options(Options::default())
    }

    /// A test environment whose emulator knows application `app` with client secret `secret`,
    /// and whose helpers sign in as it (`AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` and
    /// `AZURE_TENANT_ID` set: `flow = auto` picks the client secret).
    pub fn with_app(app: &str, secret: &str) -> TestEnv {
        let mut opts = Options::default();
        opts.clients.push((app.into(), secret.into()));
        let mut env = TestEnv::with_options(opts);
        env.set_env("AZURE_CLIENT_ID", app);
        env.set_env("AZURE_CLIENT_SECRET", secret);
        env.set_env("AZURE_TENANT_ID", emulator::DEFAULT_TENANT);
        env
    }

    pub fn with_options(opts: Options) -> TestEnv {
        let emu = Emulator::start(opts).expect("start emulator");
        let dir = tempfile::Builder::new()
            .prefix("entra-e2e-")
            .tempdir()
            .expect("temp dir");
        for d in ["home", "config", "cache", "home/.config", "home/.cache"] {
            std::fs::create_dir_all(dir.path().join(d)).expect("create test dirs");
        }
        TestEnv {
            emu,
            dir,
            extra_env: Vec::new(),
        }
    }

    pub fn emu(&self) -> &Emulator {
        &self.emu
    }
    /// Shortcut for `emu().state()`.
    pub fn state(&self) -> &entra_emulator::State {
        self.emu.state()
    }
    /// The temp dir root.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
    /// `$HOME` of the processes under test.
    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }
    /// `$ENTRA_CRED_CACHE_DIR`.
    pub fn cache_dir(&self) -> PathBuf {
        self.root().join("cache")
    }
    /// `$ENTRA_CRED_CONFIG` (not created until [`TestEnv::write_config`]).
    pub fn config_path(&self) -> PathBuf {
        self.root().join("config").join("config.toml")
    }

    /// Write the entra-cred config file; returns its path.
    pub fn write_config(&self, toml: &str) -> PathBuf {
        let p = self.config_path();
        std::fs::write(&p, toml).expect("write config");
        p
    }

    /// Add a variable to every command made from now on (after the defaults, so it can
    /// override them).
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.extra_env.push((key.into(), value.into()));
    }

    /// A command for a workspace binary (built on first use) or, for any other name, a program
    /// found on `PATH`, with a clean environment:
    /// `PATH` (target bin dir first), `LANG=C`, `HOME`, `XDG_CONFIG_HOME`, `XDG_CACHE_HOME`,
    /// `ENTRA_CRED_CACHE_DIR`, `ENTRA_CRED_CONFIG`, `AZURE_AUTHORITY_HOST=<entra url>`,
    /// `ENTRA_CRED_KEYRING=file`, `ENTRA_CRED_HTTP_TIMEOUT=10`, `GIT_CONFIG_NOSYSTEM=1`,
    /// `AZURE_POD_IDENTITY_AUTHORITY_HOST=`[`CLOSED_IMDS`] (override with the emulator's
    /// `imds` URL to test IMDS); stdin null.
    pub fn cmd(&self, name: &str) -> Command {
        ensure_built();
        let program = if workspace_bins().contains(&name) {
            bin(name)
        } else {
            PathBuf::from(name)
        };
        self.clean_command(program)
    }

    /// Like [`TestEnv::cmd`] for an outside program (curl, git, ...) without building the
    /// workspace first.
    pub fn tool(&self, name: &str) -> Command {
        self.clean_command(PathBuf::from(name))
    }

    fn clean_command(&self, program: PathBuf) -> Command {
        let mut c = Command::new(program);
        c.env_clear();
        let mut paths = vec![bin_dir()];
        if let Some(p) = std::env::var_os("PATH") {
            paths.extend(std::env::split_paths(&p));
        }
        if let Ok(p) = std::env::join_paths(paths) {
            c.env("PATH", p);
        }
        let home = self.home();
        c.env("LANG", "C")
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("ENTRA_CRED_CACHE_DIR", self.cache_dir())
            .env("ENTRA_CRED_CONFIG", self.config_path())
            .env("AZURE_AUTHORITY_HOST", self.emu.entra_url())
            .env("ENTRA_CRED_KEYRING", "file")
            .env("ENTRA_CRED_HTTP_TIMEOUT", "10")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            // No test may probe the real IMDS (169.254.169.254): a closed loopback port.
            .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", CLOSED_IMDS)
            .current_dir(self.root())
            .stdin(Stdio::null());
        for (k, v) in &self.extra_env {
            c.env(k, v);
        }
        c
    }

    /// Every secret the emulator issued or knows (tokens, client secrets, ...).
    pub fn secrets(&self) -> Vec<String> {
        self.emu.state().issued_secrets()
    }

    /// Assert no issued secret appears in `text`.
    #[track_caller]
    pub fn assert_no_secret_in(&self, text: &str) {
        let s = self.secrets();
        let refs: Vec<&str> = s.iter().map(String::as_str).collect();
        assert_no_secret(text, &refs);
    }

    /// Assert no issued secret appears on the process's stderr.
    #[track_caller]
    pub fn assert_clean_stderr(&self, out: &RunOutput) {
        self.assert_no_secret_in(&out.stderr);
    }

    /// Assert no issued secret sits in any file of the temp dir outside the cache dir (config,
    /// home: git/docker/kube/aws configs, logs...).
    #[track_caller]
    pub fn assert_no_secret_in_files(&self) {
        let s = self.secrets();
        let refs: Vec<&str> = s.iter().map(String::as_str).collect();
        let cache = self.cache_dir();
        for f in walk(self.root()) {
            if f.starts_with(&cache) {
                continue;
            }
            if let Ok(bytes) = std::fs::read(&f) {
                let text = String::from_utf8_lossy(&bytes);
                if let Some(sec) = find_secret(&text, &refs) {
                    panic!(
                        "a secret ({}...) leaked into {}",
                        &sec[..sec.len().min(8)],
                        f.display()
                    );
                }
            }
        }
    }
}

/// Moves every `obtained_at` in the cache `secs` seconds into the past (the tokens of
/// sessions, ACR and STS state), as if they had been fetched that long ago: a short-lived
/// token fetched moments ago is served to other callers, one fetched a while ago is not.
pub fn age_cache(cache: &Path, secs: i64) {
    fn shift(v: &mut serde_json::Value, secs: i64) {
        if let Some(t) = v.get("obtained_at").and_then(serde_json::Value::as_i64) {
            v["obtained_at"] = serde_json::json!(t - secs);
        }
    }
    for f in walk(cache) {
        if f.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        shift(&mut v, secs);
        if let Some(tokens) = v.get_mut("tokens").and_then(|t| t.as_object_mut()) {
            for t in tokens.values_mut() {
                shift(t, secs);
            }
        }
        std::fs::write(&f, v.to_string()).expect("rewrite a cache file");
    }
}

/// Every regular file under `dir` (symlinks are not followed).
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push(e.path());
            }
        }
    }
    out
}

/// A kubeconfig for the emulator's Kubernetes API (TLS, its CA inline) whose one user runs the
/// exec plugin `command` with `args`, `apiVersion` `api_version` and `interactiveMode` `mode`.
pub fn kubeconfig_yaml(
    env: &TestEnv,
    api_version: &str,
    command: &str,
    args: &[&str],
    mode: &str,
) -> String {
    use base64::Engine;
    let args: String = if args.is_empty() {
        String::new()
    } else {
        let items: String = args.iter().map(|a| format!("      - \"{a}\"\n")).collect();
        format!("      args:\n{items}")
    };
    format!(
        "apiVersion: v1
kind: Config
current-context: aks
clusters:
- name: aks
  cluster:
    server: {server}
    certificate-authority-data: {ca}
contexts:
- name: aks
  context:
    cluster: aks
    user: entra
users:
- name: entra
  user:
    exec:
      apiVersion: {api_version}
      command: {command}
{args}      interactiveMode: {mode}
      provideClusterInfo: false
",
        server = env
            .emu()
            .url(emulator::services::kube::NAME)
            .expect("kube service"),
        ca = base64::engine::general_purpose::STANDARD.encode(emulator::services::kube::ca_pem()),
    )
}

/// Serves a bare repository `<org>/proj/repo` (one commit on `main`, pushed through the file
/// system: no credentials involved) from the emulator's Azure Repos service under
/// `<root>/repos`, and writes a global git config in the test's HOME that uses credential
/// helper `helper` with `useHttpPath`. Returns the bare repository's path.
pub fn serve_azure_repo(env: &TestEnv, org: &str, helper: &str) -> PathBuf {
    let git = |dir: &Path, args: &[&str]| {
        let mut c = env.tool("git");
        c.current_dir(dir).args(args);
        run(&mut c, None, Duration::from_secs(30)).ok();
    };
    let root = env.root().join("repos");
    let bare = root.join(org).join("proj").join("repo.git");
    std::fs::create_dir_all(&bare).expect("mkdir");
    let bare_s = bare.to_string_lossy().into_owned();
    git(&root, &["init", "-q", "--bare", "-b", "main", &bare_s]);
    for (k, v) in [
        ("user.name", "E2E"),
        ("user.email", "e2e@example.invalid"),
        ("init.defaultBranch", "main"),
        ("credential.helper", helper),
        ("credential.useHttpPath", "true"),
    ] {
        git(env.root(), &["config", "--global", k, v]);
    }
    let seed = env.root().join("seed");
    git(env.root(), &["init", "-q", "seed"]);
    std::fs::write(seed.join("README"), "hello\n").expect("write");
    git(&seed, &["add", "README"]);
    git(&seed, &["commit", "-qm", "seed"]);
    git(&seed, &["push", "-q", &bare_s, "HEAD:refs/heads/main"]);
    env.emu().set_repos_root(&root);
    bare
}

/// Runs the `openssl` CLI in `dir` (test certificates are made fresh, never committed); panics
/// with its standard error when it fails.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (the CLI) is needed to make test certificates");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed certificate made with `openssl req -x509` and the key options `key`
/// (`["-newkey", "rsa:2048"]`, ...), as `<name>.crt` and `<name>.key` in `dir`:
/// `(<name>.pem holding the certificate then the key, the certificate's DER)`.
pub fn test_certificate(dir: &Path, name: &str, key: &[&str]) -> (PathBuf, Vec<u8>) {
    let (k, c) = (format!("{name}.key"), format!("{name}.crt"));
    let mut args = vec![
        "req",
        "-x509",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=entra-cred e2e",
    ];
    args.extend_from_slice(key);
    args.extend_from_slice(&["-keyout", &k, "-out", &c]);
    openssl(dir, &args);
    let crt = std::fs::read_to_string(dir.join(&c)).expect("crt");
    let key_text = std::fs::read_to_string(dir.join(&k)).expect("key");
    let pem = dir.join(format!("{name}.pem"));
    std::fs::write(&pem, format!("{crt}{key_text}")).expect("pem");
    (
        pem,
        emulator::services::certs::cert_from_text(&crt).expect("der"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// binaries.txt names exactly the crates under helpers/, and each crate's binary.
    #[test]
    fn binaries_txt_lists_every_helper() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut dirs: Vec<String> = std::fs::read_dir(root.join("helpers"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        dirs.sort();
        let mut listed: Vec<String> = installed_bins().iter().map(|s| s.to_string()).collect();
        listed.sort();
        assert_eq!(dirs, listed);
        let workspace = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        for b in installed_bins() {
            assert!(
                workspace.contains(&format!("\"helpers/{b}\"")),
                "{b} not in the workspace"
            );
        }
    }

    #[test]
    fn secret_detection() {
        assert!(find_secret("abc token123 def", &["token123"]).is_some());
        assert!(find_secret("abc", &["abc"]).is_none()); // too short to judge
        let jwt = "aaaa.bbbb.cccccccccccccccccccccccccc";
        assert!(find_secret("sig=cccccccccccccccccccccccccc", &[jwt]).is_some());
        assert!(find_secret("nothing here", &[jwt]).is_none());
    }

    #[test]
    fn run_times_out_and_kills() {
        let mut c = Command::new("sleep");
        c.arg("10");
        let e = try_run(&mut c, None, Duration::from_millis(200)).unwrap_err();
        assert!(e.starts_with("TIMEOUT"), "{e}");
    }

    #[test]
    fn run_feeds_stdin() {
        let mut c = Command::new("cat");
        let o = run(&mut c, Some(b"hello"), Duration::from_secs(5));
        assert_eq!(o.stdout, "hello");
        assert_eq!(o.code, 0);
    }
}
