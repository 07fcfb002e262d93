//! `entra-cred setup git|docker|kubectl|aws` on prepared config files full of other content:
//! exact results, idempotence (second run: same bytes, "nothing changed"), `--dry-run` writes
//! nothing, `-p P` carried, corrupt files refused with exit 2 and left untouched, and the real
//! tools (git's URL matching, botocore's parser) reading what was written.

use e2e::{bin_dir, run, RunOutput, TestEnv};
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn entra_cred(env: &TestEnv, args: &[&str]) -> RunOutput {
    let out = run(env.cmd("entra-cred").args(args), None, T);
    env.assert_clean_stderr(&out);
    out
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn bin(name: &str) -> String {
    bin_dir().join(name).to_string_lossy().into_owned()
}

/// Runs the same setup twice: the first run changes the file to `expected`, the second changes
/// nothing (same bytes, says so).
#[track_caller]
fn twice(env: &TestEnv, args: &[&str], file: &Path, expected: &str) -> RunOutput {
    let first = entra_cred(env, args).ok();
    assert!(
        first.stdout.is_empty(),
        "setup prints nothing on stdout: {}",
        first.stdout
    );
    assert!(first.stderr.contains("Updated "), "{}", first.stderr);
    let after = read(file);
    assert_eq!(after, expected, "after `{}`", args.join(" "));
    let second = entra_cred(env, args).ok();
    assert!(
        second.stderr.contains("nothing changed"),
        "second run: {}",
        second.stderr
    );
    assert!(second.stdout.is_empty());
    assert_eq!(read(file), after, "second run changed the file");
    first
}

/// `--dry-run` prints a diff on stdout, writes nothing.
#[track_caller]
fn dry_run(env: &TestEnv, args: &[&str], file: &Path, must_show: &[&str]) {
    let before = std::fs::read(file).ok();
    let mut a = args.to_vec();
    a.push("--dry-run");
    let out = entra_cred(env, &a).ok();
    assert_eq!(std::fs::read(file).ok(), before, "--dry-run wrote the file");
    assert!(out.stdout.starts_with("--- "), "{}", out.stdout);
    for s in must_show {
        assert!(out.stdout.contains(s), "diff lacks {s:?}:\n{}", out.stdout);
    }
    assert!(out.stderr.contains("nothing was written"), "{}", out.stderr);
}

/// A corrupt file is refused with one line, exit 2, and left byte for byte.
#[track_caller]
fn refused(env: &TestEnv, args: &[&str], file: &Path, corrupt: &str) {
    std::fs::write(file, corrupt).unwrap();
    let out = entra_cred(env, args).code_is(2);
    assert_eq!(read(file), corrupt, "a corrupt file was changed");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("cannot parse"), "{}", out.stderr);
    assert!(
        out.stderr.contains(&file.display().to_string()),
        "{}",
        out.stderr
    );
}

fn env_with_work_profile() -> TestEnv {
    let env = TestEnv::new();
    env.write_config(
        "[profiles.work]\ntenant = \"contoso.example\"\ngit_hosts = [\"127.0.0.1:9\"]\nacr_hosts = [\"myreg.azurecr.io\"]\n",
    );
    env
}

// ----- git ---------------------------------------------------------------------------------

const GITCONFIG: &str = "[user]\n\tname = Alice\n\temail = alice@example.com\n[credential]\n\thelper = store\n[credential \"https://github.com\"]\n\thelper = gh-helper\n[core]\n\tautocrlf = input\n";

fn git_sections(helper: &str) -> String {
    format!(
        "[credential \"https://dev.azure.com\"]\n\thelper = \n\thelper = {helper}\n\tuseHttpPath = true\n[credential \"https://*.visualstudio.com\"]\n\thelper = \n\thelper = {helper}\n[credential \"http://127.0.0.1:9\"]\n\thelper = \n\thelper = {helper}\n\tuseHttpPath = true\n"
    )
}

fn urlmatch(env: &TestEnv, url: &str) -> String {
    let out = run(
        env.tool("git")
            .args(["config", "--get-urlmatch", "credential.helper", url]),
        None,
        T,
    )
    .ok();
    out.stdout.trim_end().to_string()
}

#[test]
fn git_setup_writes_exact_sections_is_idempotent_and_carries_the_profile() {
    let env = env_with_work_profile();
    let gc = env.home().join(".gitconfig");
    std::fs::write(&gc, GITCONFIG).unwrap();
    let helper = bin("git-credential-entra");
    let args = ["setup", "git", "--host", "127.0.0.1:9"];

    dry_run(
        &env,
        &args,
        &gc,
        &["+\thelper = \n", &format!("+\thelper = {helper}\n")],
    );
    let expected = format!("{GITCONFIG}{}", git_sections(&helper));
    twice(&env, &args, &gc, &expected);

    // git resolves our helper for Azure Repos URLs, and keeps the others elsewhere.
    assert_eq!(
        urlmatch(&env, "https://dev.azure.com/org/project/_git/repo"),
        helper
    );
    assert_eq!(
        urlmatch(&env, "https://contoso.visualstudio.com/project/_git/repo"),
        helper
    );
    assert_eq!(
        urlmatch(&env, "https://alice@dev.azure.com/org/_git/repo"),
        helper
    );
    assert_eq!(urlmatch(&env, "http://127.0.0.1:9/org/_git/repo"), helper);
    assert_eq!(urlmatch(&env, "https://github.com/a/b"), "gh-helper");
    assert_eq!(urlmatch(&env, "https://gitlab.example/a/b"), "store");

    // -p carried: the helper line is replaced in place.
    let with_p = format!("{helper} -p work");
    let expected_p = format!("{GITCONFIG}{}", git_sections(&with_p));
    let mut pargs = vec!["-p", "work"];
    pargs.extend_from_slice(&args);
    twice(&env, &pargs, &gc, &expected_p);
    assert_eq!(urlmatch(&env, "https://dev.azure.com/org/r"), with_p);

    // GIT_CONFIG_GLOBAL is respected; a corrupt file is refused.
    let mut env = env;
    let other = env.root().join("other.gitconfig");
    env.set_env("GIT_CONFIG_GLOBAL", other.to_str().unwrap());
    twice(&env, &args, &other, &git_sections(&helper));
    refused(&env, &args, &other, "[user\n\tname = x\n");
    assert_eq!(read(&gc), expected_p, "~/.gitconfig untouched");
}

#[test]
fn git_setup_resets_inherited_helpers_for_wired_urls_only() {
    let mut env = env_with_work_profile();
    env.set_env("GIT_TERMINAL_PROMPT", "0");
    let gc = env.home().join(".gitconfig");
    std::fs::write(&gc, "[credential]\n\thelper = store\n").unwrap();
    // `store` holds a stale password for the wired (closed, loopback) host and one for another.
    std::fs::write(
        env.home().join(".git-credentials"),
        "http://stale:stale-pat-0123456789@127.0.0.1:9\nhttps://bob:other-pat-0123456789@git.example\n",
    )
    .unwrap();
    let fill = |host: &str, proto: &str| {
        run(
            env.tool("git").args(["credential", "fill"]),
            // No path: useHttpPath must not be what keeps `store` out.
            Some(format!("protocol={proto}\nhost={host}\n\n").as_bytes()),
            T,
        )
    };
    let before = fill("127.0.0.1:9", "http");
    assert!(
        before.stdout.contains("stale-pat"),
        "store answers before setup"
    );

    entra_cred(
        &env,
        &["-p", "work", "setup", "git", "--host", "127.0.0.1:9"],
    )
    .ok();
    let after = fill("127.0.0.1:9", "http");
    assert!(
        !after.stdout.contains("stale-pat"),
        "store still answers for a wired host:\n{}",
        after.stdout
    );
    let other = fill("git.example", "https");
    assert!(other.stdout.contains("other-pat"), "other hosts keep store");
}

// ----- docker -----------------------------------------------------------------------------

const DOCKER_CONFIG: &str = "{\n\t\"auths\": {\n\t\t\"ghcr.io\": {\n\t\t\t\"auth\": \"dXNlcjpwYXNz\"\n\t\t}\n\t},\n\t\"credHelpers\": {\n\t\t\"gcr.io\": \"gcloud\",\n\t\t\"old.azurecr.io\": \"acr-env\"\n\t},\n\t\"credsStore\": \"desktop\",\n\t\"currentContext\": \"default\"\n}\n";

#[test]
fn docker_setup_keeps_every_other_key_in_order_and_the_mode() {
    let env = env_with_work_profile();
    let dir = env.home().join(".docker");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.json");
    std::fs::write(&cfg, DOCKER_CONFIG).unwrap();
    std::fs::set_permissions(&cfg, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();

    let args = [
        "-p",
        "work",
        "setup",
        "docker",
        "myreg.azurecr.io",
        "https://Old.azurecr.io/v2/",
    ];
    dry_run(
        &env,
        &args,
        &cfg,
        &["+\t\t\"myreg.azurecr.io\": \"entra\"\n"],
    );
    let expected = "{\n\t\"auths\": {\n\t\t\"ghcr.io\": {\n\t\t\t\"auth\": \"dXNlcjpwYXNz\"\n\t\t}\n\t},\n\t\"credHelpers\": {\n\t\t\"gcr.io\": \"gcloud\",\n\t\t\"old.azurecr.io\": \"entra\",\n\t\t\"myreg.azurecr.io\": \"entra\"\n\t},\n\t\"credsStore\": \"desktop\",\n\t\"currentContext\": \"default\"\n}\n";
    let first = twice(&env, &args, &cfg, expected);
    assert_eq!(mode(&cfg), 0o640, "mode kept");
    assert!(
        first
            .stderr
            .contains("old.azurecr.io used the helper 'acr-env'"),
        "{}",
        first.stderr
    );
    // Docker cannot pass -p: myreg is in work's acr_hosts (fine); old.azurecr.io is not (said).
    assert!(
        !first.stderr.contains("for myreg.azurecr.io, add acr_hosts"),
        "{}",
        first.stderr
    );
    assert!(
        first.stderr.contains("docker cannot pass -p: to use profile 'work' for old.azurecr.io, add acr_hosts = [\"old.azurecr.io\"]"),
        "{}",
        first.stderr
    );

    // A registry the helper does not serve by name: written, with a warning saying what to add.
    let out = entra_cred(&env, &["setup", "docker", "127.0.0.1:5000"]).ok();
    assert!(
        out.stderr.contains("acr_hosts = [\"127.0.0.1:5000\"]"),
        "{}",
        out.stderr
    );
    assert!(read(&cfg).contains("\t\t\"127.0.0.1:5000\": \"entra\"\n\t},"));
    assert_eq!(mode(&cfg), 0o640);

    refused(
        &env,
        &["setup", "docker", "x.azurecr.io"],
        &cfg,
        "{\"auths\": ",
    );
    refused(
        &env,
        &["setup", "docker", "x.azurecr.io"],
        &cfg,
        "{\"credHelpers\": \"no\"}",
    );
}

#[test]
fn docker_setup_creates_a_private_file_under_docker_config() {
    let mut env = TestEnv::new();
    let dir = env.root().join("dockercfg");
    env.set_env("DOCKER_CONFIG", dir.to_str().unwrap());
    let cfg = dir.join("config.json");
    twice(
        &env,
        &["setup", "docker", "a.azurecr.io"],
        &cfg,
        "{\n\t\"credHelpers\": {\n\t\t\"a.azurecr.io\": \"entra\"\n\t}\n}\n",
    );
    assert_eq!(mode(&cfg), 0o600);
    assert!(!env.home().join(".docker").exists());
}

// ----- aws --------------------------------------------------------------------------------

const AWS_CONFIG: &str = "# AWS config, written by hand\n[default]\nregion = eu-west-1\noutput = json\n\n; the dev account\n[profile dev]\nregion = us-east-1\ncredential_process = /usr/local/bin/old-helper --x\ns3 =\n  max_concurrent_requests = 20\n\n# production: do not touch\n[profile prod]\nregion = eu-central-1\n";

#[test]
fn aws_setup_replaces_the_line_in_its_section_and_keeps_the_rest() {
    let mut env = env_with_work_profile();
    let cfg = env.root().join("aws-config");
    env.set_env("AWS_CONFIG_FILE", cfg.to_str().unwrap());
    std::fs::write(&cfg, AWS_CONFIG).unwrap();
    let program = bin("entra-credential-process");

    let dev = [
        "-p",
        "work",
        "setup",
        "aws",
        "--aws-profile",
        "dev",
        "--scope",
        "api://aws-app/.default",
        "--role-arn",
        "arn:aws:iam::123456789012:role/dev-role",
        "--region",
        "us-east-1",
    ];
    let dev_line = format!("credential_process = \"{program}\" -p work --scope api://aws-app/.default --role-arn arn:aws:iam::123456789012:role/dev-role --region us-east-1");
    dry_run(
        &env,
        &dev,
        &cfg,
        &[
            "-credential_process = /usr/local/bin/old-helper --x\n",
            &format!("+{dev_line}\n"),
        ],
    );
    let expected = AWS_CONFIG.replace(
        "credential_process = /usr/local/bin/old-helper --x",
        &dev_line,
    );
    twice(&env, &dev, &cfg, &expected);

    // A new profile is appended; [default] is `[default]`.
    let ci = [
        "setup",
        "aws",
        "--aws-profile",
        "ci",
        "--scope",
        "api://aws-app/.default",
    ];
    let ci_line = format!("credential_process = \"{program}\" --scope api://aws-app/.default");
    let expected = format!("{expected}\n[profile ci]\n{ci_line}\n");
    let out = twice(&env, &ci, &cfg, &expected);
    assert!(out.stderr.contains("token mode"), "{}", out.stderr);
    let def = [
        "setup",
        "aws",
        "--aws-profile",
        "default",
        "--scope",
        "api://aws-app/.default",
    ];
    let expected = expected.replace("output = json\n", &format!("output = json\n{ci_line}\n"));
    twice(&env, &def, &cfg, &expected);

    // botocore reads exactly the argv we meant.
    let py = "import botocore.session, shlex, json\nfor p in ('dev', 'ci', 'default'):\n    s = botocore.session.Session(profile=p)\n    print(json.dumps(shlex.split(s.get_scoped_config()['credential_process'])))\n";
    let out = run(env.tool("python3").args(["-c", py]), None, T).ok();
    let argv: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("json argv"))
        .collect();
    assert_eq!(
        argv[0],
        serde_json::json!([
            program,
            "-p",
            "work",
            "--scope",
            "api://aws-app/.default",
            "--role-arn",
            "arn:aws:iam::123456789012:role/dev-role",
            "--region",
            "us-east-1"
        ])
    );
    assert_eq!(
        argv[1],
        serde_json::json!([program, "--scope", "api://aws-app/.default"])
    );
    assert_eq!(argv[2], argv[1]);

    refused(&env, &ci, &cfg, "[profile a]\nthis is not ini\n");
    refused(&env, &ci, &cfg, "region = x\n[profile a]\n");
}

#[test]
fn aws_setup_creates_the_default_file() {
    let env = TestEnv::new();
    let cfg = env.home().join(".aws").join("config");
    let program = bin("entra-credential-process");
    twice(
        &env,
        &["setup", "aws", "--aws-profile", "dev", "--scope", "api://x/.default", "--role-arn", "arn:aws:iam::1:role/r"],
        &cfg,
        &format!("[profile dev]\ncredential_process = \"{program}\" --scope api://x/.default --role-arn arn:aws:iam::1:role/r\n"),
    );
    assert_eq!(mode(&cfg), 0o600);
}

// ----- kubectl ----------------------------------------------------------------------------

/// `setup kubectl` converts in its own process: a `kubectl-entra` next to entra-cred (here a
/// stand-in that would fail with exit 7) is never run, and the report is on stdout.
#[test]
fn kubectl_setup_runs_no_sibling_binary() {
    let env = env_with_work_profile();
    let dir = env.root().join("bin");
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("entra-cred");
    // A hard link, not a copy: a copy's write descriptor, inherited for a moment by a process
    // another test thread forks, makes executing it fail with ETXTBSY.
    std::fs::hard_link(bin_dir().join("entra-cred"), &exe)
        .or_else(|_| std::fs::copy(bin_dir().join("entra-cred"), &exe).map(|_| ()))
        .unwrap();
    let fake = dir.join("kubectl-entra");
    std::fs::write(&fake, "#!/bin/sh\necho \"args: $*\"\nexit 7\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let kc = env.root().join("kubeconfig");
    let original = read(&fixture("kubeconfig-aks-legacy-azure.yaml"));
    std::fs::write(&kc, &original).unwrap();
    let mut c = env.tool(exe.to_str().unwrap());
    c.env("PATH", &dir).args([
        "-p",
        "work",
        "setup",
        "kubectl",
        "--kubeconfig",
        kc.to_str().unwrap(),
        "--dry-run",
    ]);
    let out = run(&mut c, None, T).ok();
    assert!(!out.stdout.contains("convert-kubeconfig"), "{}", out.stdout);
    assert!(out.stdout.contains("would convert user"), "{}", out.stdout);
    assert!(out.stdout.contains("work"), "-p carried: {}", out.stdout);
    assert_eq!(read(&kc), original, "--dry-run wrote the kubeconfig");
}

fn kubectl_entra_converts(env: &TestEnv) -> bool {
    let out = run(
        env.cmd("kubectl-entra")
            .args(["convert-kubeconfig", "--help"]),
        None,
        T,
    );
    out.code == 0 && out.stdout.contains("kubeconfig")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/setup")
        .join(name)
}

/// The real conversion, through `kubectl-entra convert-kubeconfig`.
#[test]
fn kubectl_setup_converts_the_aks_fixture_once() {
    let env = env_with_work_profile();
    assert!(
        kubectl_entra_converts(&env),
        "kubectl-entra convert-kubeconfig --help failed"
    );
    let src = fixture("kubeconfig-aks-legacy-azure.yaml");
    let original = read(&src);
    let kc = env.root().join("kubeconfig");
    std::fs::write(&kc, &original).unwrap();
    let k = kc.to_str().unwrap();
    let args = ["-p", "work", "setup", "kubectl", "--kubeconfig", k];

    let mut dry = args.to_vec();
    dry.push("--dry-run");
    entra_cred(&env, &dry).ok();
    assert_eq!(read(&kc), original, "--dry-run wrote the kubeconfig");

    entra_cred(&env, &args).ok();
    let converted = read(&kc);
    assert_ne!(converted, original);
    // Minimal edit: everything before the users list, and the untouched user, keep their bytes.
    let users = original.find("\nusers:\n").unwrap();
    assert_eq!(converted[..users], original[..users], "re-indented");
    let other = original.find("- name: other-admin").unwrap();
    assert!(converted.ends_with(&original[other..]), "{converted}");
    assert!(converted.contains("kubectl-entra"), "{converted}");
    assert!(!converted.contains("auth-provider:"), "{converted}");
    assert!(!original.contains("work"));
    assert!(converted.contains("work"), "-p carried: {converted}");
    for kept in [
        "other-admin",
        "https://kind.example:6443",
        "namespace: dev",
        "client-key-data",
    ] {
        assert!(converted.contains(kept), "{kept} lost: {converted}");
    }
    entra_cred(&env, &args).ok();
    assert_eq!(read(&kc), converted, "second run changed the kubeconfig");

    std::fs::write(&kc, "apiVersion: v1\nusers: [\n").unwrap();
    let out = entra_cred(&env, &args).code_is(2);
    assert_eq!(read(&kc), "apiVersion: v1\nusers: [\n");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

// ----- completions ------------------------------------------------------------------------

#[test]
fn completions_for_each_shell_name_the_setup_commands() {
    let env = TestEnv::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = entra_cred(&env, &["completions", shell]).ok();
        assert!(out.stdout.contains("setup"), "{shell}");
        assert!(out.stdout.contains("aws-profile"), "{shell}");
        // Only login/token/refresh/status/logout (and the top level) offer --tenant (bash
        // has no descriptions: bash_completion_works_past_the_first_word checks it).
        if shell == "bash" {
            continue;
        }
        assert_eq!(
            out.stdout.matches("Tenant to use instead").count(),
            6,
            "{shell}: {}",
            out.stdout
        );
    }
    let fish = entra_cred(&env, &["completions", "fish"]).ok().stdout;
    assert!(!fish
        .lines()
        .any(|l| l.contains("using_subcommand inspect") && l.contains("-l tenant")));
    entra_cred(&env, &["completions", "tcsh"]).code_is(2);
}

// ----- no copy of a user's file anywhere else; --remove; bare registry names ----------------

/// One file-system change a traced process made or tried: syscall, path, mode of a creation.
#[derive(Debug)]
struct Write {
    call: String,
    path: PathBuf,
    mode: Option<u32>,
}

/// The quoted path arguments of an strace line.
fn quoted(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find('"') {
        let after = &rest[i + 1..];
        let Some(j) = after.find('"') else { break };
        out.push(after[..j].to_string());
        rest = &after[j + 1..];
    }
    out
}

/// Runs `entra-cred ARGS` under `strace -f` (children too: git, kubectl-entra) with `TMPDIR`
/// pointing at an empty directory, and returns every attempt to create, write, rename, link,
/// remove or make a directory, with relative paths resolved against the working directory.
fn traced(env: &TestEnv, args: &[&str]) -> (RunOutput, Vec<Write>) {
    e2e::ensure_built();
    let log = env.root().join("strace.log");
    let tmp = env.root().join("tmpdir");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut c = env.tool("strace");
    c.args([
        "-f",
        "-qq",
        "-e",
        "signal=none",
        "-e",
        "trace=open,openat,creat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,mkdir,mkdirat,unlink,unlinkat,truncate",
        "-o",
    ])
    .arg(&log)
    .arg("--")
    .arg(bin_dir().join("entra-cred"))
    .args(args)
    .env("TMPDIR", &tmp);
    let out = run(&mut c, None, T);
    let text = read(&log);
    let mut writes = Vec::new();
    for line in text.lines() {
        let body = line.split_once(' ').map(|x| x.1).unwrap_or(line).trim();
        let call = body.split('(').next().unwrap_or("").to_string();
        let paths = quoted(body);
        let is_open = matches!(call.as_str(), "open" | "openat");
        if is_open
            && !(body.contains("O_WRONLY")
                || body.contains("O_RDWR")
                || body.contains("O_CREAT")
                || body.contains("O_TRUNC"))
        {
            continue;
        }
        let mode = if body.contains("O_CREAT") || call == "creat" {
            body.rsplit_once(", 0")
                .and_then(|(_, m)| u32::from_str_radix(m.split(')').next().unwrap_or(""), 8).ok())
        } else {
            None
        };
        for p in paths {
            if p == "/dev/null" || p == "/dev/tty" {
                continue;
            }
            let path = if p.starts_with('/') {
                PathBuf::from(&p)
            } else {
                env.root().join(&p)
            };
            writes.push(Write {
                call: call.clone(),
                path,
                mode,
            });
        }
    }
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "something was left in TMPDIR"
    );
    (out, writes)
}

/// Every change is beside `file` (in its directory), and every file created there has `mode`.
#[track_caller]
fn only_beside(writes: &[Write], file: &Path, mode: u32) {
    let dir = file.parent().unwrap();
    assert!(!writes.is_empty(), "the trace saw no write at all");
    for w in writes {
        assert_eq!(
            w.path.parent(),
            Some(dir),
            "{} of {} is outside {}",
            w.call,
            w.path.display(),
            dir.display()
        );
        if let Some(m) = w.mode {
            assert_eq!(m, mode, "{} created with {m:o}", w.path.display());
        }
    }
}

fn no_dry_run_write(env: &TestEnv, args: &[&str]) {
    let mut a = args.to_vec();
    a.push("--dry-run");
    let (out, writes) = traced(env, &a);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let writes: Vec<&Write> = writes
        .iter()
        .filter(|w| !w.path.starts_with(env.root().join("strace.log")))
        .collect();
    assert!(writes.is_empty(), "--dry-run wrote: {writes:?}");
}

/// Every setup, traced: the only file created is the temporary one beside the user's file,
/// with that file's mode (0600 for a new one); `--dry-run` writes nothing at all, and nothing
/// lands in TMPDIR.
#[test]
fn setups_write_only_beside_the_file_with_its_mode() {
    let mut env = env_with_work_profile();
    let dir = |name: &str| {
        let d = env.root().join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    let (gdir, ddir, adir, kdir) = (dir("git"), dir("docker"), dir("aws"), dir("kube"));
    let gc = gdir.join("config");
    let dc = ddir.join("config.json");
    let ac = adir.join("config");
    let kc = kdir.join("config");
    std::fs::write(&gc, GITCONFIG).unwrap();
    std::fs::write(&dc, DOCKER_CONFIG).unwrap();
    std::fs::write(&ac, AWS_CONFIG).unwrap();
    std::fs::write(&kc, read(&fixture("kubeconfig-aks-legacy-azure.yaml"))).unwrap();
    for f in [&gc, &dc, &ac, &kc] {
        std::fs::set_permissions(f, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    }
    env.set_env("GIT_CONFIG_GLOBAL", gc.to_str().unwrap());
    env.set_env("DOCKER_CONFIG", ddir.to_str().unwrap());
    env.set_env("AWS_CONFIG_FILE", ac.to_str().unwrap());
    let k = kc.to_str().unwrap().to_string();
    let aws = [
        "setup",
        "aws",
        "--aws-profile",
        "dev",
        "--scope",
        "api://x/.default",
    ];
    let cases: Vec<(Vec<&str>, &Path)> = vec![
        (vec!["setup", "git"], &gc),
        (vec!["setup", "docker", "myreg.azurecr.io"], &dc),
        (aws.to_vec(), &ac),
        (vec!["setup", "kubectl", "--kubeconfig", &k], &kc),
        (vec!["setup", "git", "--remove"], &gc),
        (vec!["setup", "docker", "--remove"], &dc),
        (vec!["setup", "aws", "--remove"], &ac),
    ];
    for (args, file) in &cases {
        let before = std::fs::read(file).unwrap();
        no_dry_run_write(&env, args);
        assert_eq!(
            std::fs::read(file).unwrap(),
            before,
            "--dry-run changed {args:?}"
        );
        let (out, writes) = traced(&env, args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        let writes: Vec<Write> = writes
            .into_iter()
            .filter(|w| !w.path.starts_with(env.root().join("strace.log")))
            .collect();
        only_beside(&writes, file, 0o640);
        assert_ne!(
            std::fs::read(file).unwrap(),
            before,
            "{args:?} changed nothing"
        );
        assert_eq!(mode(file), 0o640, "{args:?} kept the mode");
    }

    // New files: created 0600 (and the temporary too).
    std::fs::remove_file(&gc).unwrap();
    let (out, writes) = traced(&env, &["setup", "git"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let writes: Vec<Write> = writes
        .into_iter()
        .filter(|w| !w.path.starts_with(env.root().join("strace.log")))
        .collect();
    only_beside(&writes, &gc, 0o600);
    assert_eq!(mode(&gc), 0o600);
}

/// setup then `--remove` gives the file back byte for byte; a second `--remove` changes
/// nothing and says so; `--remove --dry-run` shows the diff and writes nothing.
#[track_caller]
fn round_trip(env: &TestEnv, setup: &[&str], remove: &[&str], file: &Path) {
    let original = std::fs::read(file).unwrap();
    entra_cred(env, setup).ok();
    let set_up = std::fs::read(file).unwrap();
    assert_ne!(set_up, original, "{setup:?} changed nothing");
    let mut dry = remove.to_vec();
    dry.push("--dry-run");
    let out = entra_cred(env, &dry).ok();
    assert!(out.stdout.starts_with("--- "), "{}", out.stdout);
    assert_eq!(
        std::fs::read(file).unwrap(),
        set_up,
        "--remove --dry-run wrote"
    );
    let out = entra_cred(env, remove).ok();
    assert!(out.stderr.contains("Updated "), "{}", out.stderr);
    assert_eq!(
        String::from_utf8_lossy(&std::fs::read(file).unwrap()),
        String::from_utf8_lossy(&original),
        "{remove:?} did not give the bytes back"
    );
    let again = entra_cred(env, remove).ok();
    assert!(again.stderr.contains("nothing changed"), "{}", again.stderr);
    assert_eq!(std::fs::read(file).unwrap(), original);
}

#[test]
fn remove_round_trips_for_git_docker_and_aws() {
    let mut env = env_with_work_profile();
    let gc = env.home().join(".gitconfig");
    std::fs::write(&gc, GITCONFIG).unwrap();
    round_trip(
        &env,
        &["-p", "work", "setup", "git", "--host", "127.0.0.1:9"],
        &["setup", "git", "--remove"],
        &gc,
    );
    // git reads the same helpers as before.
    assert_eq!(urlmatch(&env, "https://dev.azure.com/org/r"), "store");

    let dir = env.home().join(".docker");
    std::fs::create_dir_all(&dir).unwrap();
    let dc = dir.join("config.json");
    // docker's own layout (tabs, no final newline) and another helper stay as they are.
    std::fs::write(&dc, DOCKER_CONFIG.trim_end()).unwrap();
    round_trip(
        &env,
        &["setup", "docker", "myreg", "other.azurecr.io"],
        &["setup", "docker", "--remove"],
        &dc,
    );
    std::fs::write(&dc, "{\"auths\":{}}").unwrap();
    round_trip(
        &env,
        &["setup", "docker", "a.azurecr.io"],
        &["setup", "docker", "--remove", "a.azurecr.io"],
        &dc,
    );

    let ac = env.root().join("aws-config");
    env.set_env("AWS_CONFIG_FILE", ac.to_str().unwrap());
    std::fs::write(&ac, AWS_CONFIG).unwrap();
    // A new section, a line added to [default], a line added to [profile prod].
    for p in ["ci", "default", "prod"] {
        round_trip(
            &env,
            &[
                "setup",
                "aws",
                "--aws-profile",
                p,
                "--scope",
                "api://x/.default",
            ],
            &["setup", "aws", "--remove", "--aws-profile", p],
            &ac,
        );
    }
    // dev's credential_process is another tool's: not ours to remove.
    let out = entra_cred(&env, &["setup", "aws", "--remove"]).ok();
    assert!(out.stderr.contains("nothing changed"), "{}", out.stderr);
    assert_eq!(read(&ac), AWS_CONFIG);
    // Once setup replaced it, --remove takes ours out (the old line cannot come back).
    entra_cred(
        &env,
        &["setup", "aws", "--aws-profile", "dev", "--scope", "s"],
    )
    .ok();
    entra_cred(&env, &["setup", "aws", "--remove"]).ok();
    assert_eq!(
        read(&ac),
        AWS_CONFIG.replace("credential_process = /usr/local/bin/old-helper --x\n", "")
    );
}

#[test]
fn setup_docker_with_a_bare_name_writes_the_acr_host_and_says_so() {
    let mut env = TestEnv::new();
    let dir = env.root().join("dockercfg");
    env.set_env("DOCKER_CONFIG", dir.to_str().unwrap());
    let cfg = dir.join("config.json");
    let out = entra_cred(&env, &["setup", "docker", "myreg"]).ok();
    assert_eq!(
        read(&cfg),
        "{\n\t\"credHelpers\": {\n\t\t\"myreg.azurecr.io\": \"entra\"\n\t}\n}\n"
    );
    assert!(
        out.stderr.contains("using myreg.azurecr.io"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("acr_hosts"), "{}", out.stderr);
    // The profile's cloud decides the suffix.
    env.write_config("[profiles.cn]\ncloud = \"china\"\n");
    entra_cred(&env, &["-p", "cn", "setup", "docker", "Other"]).ok();
    assert!(
        read(&cfg).contains("\"other.azurecr.cn\": \"entra\""),
        "{}",
        read(&cfg)
    );
}

/// Sources the generated bash completion and drives its function as bash does on <TAB>.
fn complete_bash(env: &TestEnv, words: &[&str]) -> Vec<String> {
    let script = env.root().join("entra-cred.bash");
    let out = entra_cred(env, &["completions", "bash"]).ok();
    std::fs::write(&script, out.stdout).unwrap();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cword = words.len() - 1;
    let prev = if cword > 0 { words[cword - 1] } else { "" };
    let drive = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={cword}\nCOMP_LINE='{}'\nCOMP_POINT=${{#COMP_LINE}}\n_entra__cred entra-cred '{}' '{prev}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" "),
        words.join(" "),
        words[cword],
    );
    let out = run(env.tool("bash").args(["--norc", "-c", &drive]), None, T).ok();
    out.stdout.lines().map(str::to_string).collect()
}

#[test]
fn bash_completion_works_past_the_first_word() {
    let env = TestEnv::new();
    let setup = complete_bash(&env, &["entra-cred", "setup", ""]);
    for w in ["git", "docker", "kubectl", "aws"] {
        assert!(setup.iter().any(|s| s == w), "setup <TAB>: {setup:?}");
    }
    assert!(!setup.iter().any(|s| s == "--tenant"), "{setup:?}");
    let flows = complete_bash(&env, &["entra-cred", "login", "--flow", ""]);
    assert_eq!(flows, ["device-code", "browser"]);
    let remove = complete_bash(&env, &["entra-cred", "setup", "docker", "--re"]);
    assert_eq!(remove, ["--remove"]);
    let inspect = complete_bash(&env, &["entra-cred", "inspect", "--"]);
    for irrelevant in ["--tenant", "--client-id", "--profile"] {
        assert!(!inspect.iter().any(|s| s == irrelevant), "{inspect:?}");
    }
    assert!(inspect.iter().any(|s| s == "--output"), "{inspect:?}");
}
