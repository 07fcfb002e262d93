//! Failures: fast when retrying cannot help, bounded when it can (SPEC.md "Failures", issue 13).
//! Each test is one case of the "Done when", against the emulator and its network
//! faults (`entra_emulator::netfaults`). Nothing leaves loopback: the "no such host" is an
//! RFC 6761 `.invalid` name, and the proxy forwards to loopback only.

use e2e::emulator::netfaults::{RecordingProxy, SilentUnixSocket, UntrustedTls, NXDOMAIN_HOST};
use e2e::emulator::services::imds;
use e2e::{run, Endpoint, Options, RunOutput, TestEnv};
use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);
const ARM: &str = "https://management.azure.com/.default";
const APP: &str = "11111111-2222-3333-4444-555555555555";
const APP_SECRET: &str = "app-secret-value-0123456789";

fn app_env() -> TestEnv {
    TestEnv::with_app(APP, APP_SECRET)
}

fn entra_cred(env: &TestEnv, args: &[&str]) -> RunOutput {
    let out = run(env.cmd("entra-cred").args(args), None, T);
    env.assert_clean_stderr(&out);
    out
}

/// Exit `code` with exactly one stderr line containing every one of `needles`.
#[track_caller]
fn one_line(out: &RunOutput, code: i32, needles: &[&str]) {
    assert_eq!(
        out.code, code,
        "stdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    for n in needles {
        assert!(out.stderr.contains(n), "no {n:?} in: {}", out.stderr);
    }
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// `entra-cred login` (device code; the emulator approves after one poll).
fn login(env: &TestEnv) -> RunOutput {
    let out = entra_cred(env, &["login"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    out
}

#[test]
fn no_such_host_fails_at_once() {
    let mut env = app_env();
    env.set_env("AZURE_AUTHORITY_HOST", &format!("https://{NXDOMAIN_HOST}"));
    let out = entra_cred(&env, &["token", "--scope", ARM]);
    one_line(&out, 5, &["no such host", NXDOMAIN_HOST]);
    assert!(out.elapsed < Duration::from_secs(2), "{:?}", out.elapsed);
    // Nothing remembered: a name that does not exist is reported afresh each time.
    assert!(!env.cache_dir().join("network").exists());
}

#[test]
fn untrusted_certificate_fails_at_once() {
    let tls = UntrustedTls::start().expect("tls");
    let mut env = app_env();
    env.set_env("AZURE_AUTHORITY_HOST", &tls.url());
    let out = entra_cred(&env, &["token", "--scope", ARM]);
    one_line(&out, 5, &["untrusted TLS certificate", &tls.url()]);
    assert!(out.elapsed < Duration::from_secs(2), "{:?}", out.elapsed);
    assert_eq!(tls.served(), 0, "no request got through the handshake");
}

#[test]
fn a_dead_proxy_is_named() {
    let mut env = app_env();
    let port = closed_port();
    env.set_env("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com");
    env.set_env("HTTPS_PROXY", &format!("http://127.0.0.1:{port}"));
    env.set_env("ENTRA_CRED_HTTP_TIMEOUT", "2");
    let out = entra_cred(&env, &["token", "--scope", ARM]);
    one_line(
        &out,
        5,
        &[&format!("the proxy http://127.0.0.1:{port} (HTTPS_PROXY)")],
    );
    assert!(out.elapsed < Duration::from_secs(4), "{:?}", out.elapsed);
}

#[test]
fn the_budget_is_used_and_reported_honestly() {
    let mut env = app_env();
    let port = closed_port();
    env.set_env("AZURE_AUTHORITY_HOST", &format!("http://127.0.0.1:{port}"));
    env.set_env("ENTRA_CRED_HTTP_TIMEOUT", "3");
    let out = entra_cred(&env, &["token", "--scope", ARM]);
    one_line(&out, 5, &["kept failing for", "ENTRA_CRED_HTTP_TIMEOUT=3"]);
    // Retried for (nearly) the whole budget, not given up at half of it.
    assert!(
        out.elapsed >= Duration::from_millis(2500),
        "{:?}",
        out.elapsed
    );
    assert!(out.elapsed < Duration::from_secs(5), "{:?}", out.elapsed);
    // The next call within seconds does not wait again, and says why.
    let out = entra_cred(&env, &["token", "--scope", ARM]);
    one_line(&out, 5, &["Connection refused", "s ago"]);
    assert!(out.elapsed < Duration::from_secs(1), "{:?}", out.elapsed);
    // The memory holds no secret and is private.
    let dir = env.cache_dir().join("network");
    for f in e2e::walk(&dir) {
        let text = std::fs::read_to_string(&f).expect("read");
        assert!(!text.contains(APP_SECRET), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&f).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
}

/// A kubeconfig whose user runs `kubectl-entra` through a wrapper that counts its calls.
fn kubeconfig_counting(env: &TestEnv) -> (PathBuf, PathBuf) {
    let calls = env.root().join("plugin-calls");
    let wrapper = env.root().join("kubectl-entra-counted");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho call >> '{}'\nexec kubectl-entra \"$@\"\n",
            calls.display()
        ),
    )
    .expect("wrapper");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let text = e2e::kubeconfig_yaml(
        env,
        "client.authentication.k8s.io/v1",
        &wrapper.display().to_string(),
        &[],
        "Never",
    );
    let p = env.root().join("kubeconfig");
    std::fs::write(&p, text).expect("kubeconfig");
    (p, calls)
}

#[test]
fn kubectl_with_entra_unreachable_returns_within_one_budget() {
    let mut env = app_env();
    let port = closed_port();
    env.set_env("AZURE_AUTHORITY_HOST", &format!("http://127.0.0.1:{port}"));
    let budget = 4u64;
    env.set_env("ENTRA_CRED_HTTP_TIMEOUT", &budget.to_string());
    let (cfg, calls) = kubeconfig_counting(&env);
    let mut c = env.cmd("kubectl");
    c.env("KUBECONFIG", &cfg)
        .args(["--request-timeout=60s", "get", "namespaces"]);
    let out = run(&mut c, None, T);
    assert_ne!(out.code, 0, "{}", out.stdout);
    let n = std::fs::read_to_string(&calls)
        .unwrap_or_default()
        .lines()
        .count();
    eprintln!(
        "kubectl ran the plugin {n} times in {:?} (budget {budget} s)",
        out.elapsed
    );
    assert!(n >= 2, "kubectl ran the plugin {n} time(s): {}", out.stderr);
    assert!(
        out.elapsed < Duration::from_secs(budget + 3),
        "{n} plugin calls took {:?}: more than one budget of {budget} s\n{}",
        out.elapsed,
        out.stderr
    );
    assert!(out.stderr.contains("network error"), "{}", out.stderr);
    assert_eq!(env.state().count(Endpoint::Kube), 0);
}

#[test]
fn git_get_without_sign_in_exits_3_at_once_without_a_request() {
    let mut env = TestEnv::new();
    let base = env.emu().url("repos").expect("repos");
    let host = base.trim_start_matches("http://").to_string();
    env.set_env("ENTRA_CRED_GIT_HOSTS", &host);
    env.set_env("GIT_TERMINAL_PROMPT", "0");
    let input = format!("protocol=http\nhost={host}\npath=org1/proj/_git/repo\n\n");
    let out = run(
        env.cmd("git-credential-entra").arg("get"),
        Some(input.as_bytes()),
        T,
    );
    one_line(&out, 3, &["entra-cred login"]);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(
        out.elapsed < Duration::from_millis(500),
        "{:?}",
        out.elapsed
    );
    assert_eq!(
        env.state().count(Endpoint::Any),
        0,
        "no request: {:?}",
        env.state().requests_for(Endpoint::Any)
    );
}

#[test]
fn git_answers_at_the_blank_line_while_stdin_stays_open() {
    let env = TestEnv::new();
    let mut c = env.cmd("git-credential-entra");
    c.arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    // A host it does not serve: no answer, exit 0, once the blank line is read.
    stdin
        .write_all(b"protocol=https\nhost=example.com\n\n")
        .expect("write");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if start.elapsed() > Duration::from_secs(5) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(stdin);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "still waiting for the end of input after the blank line"
    );
}

#[test]
fn hanging_keyring_costs_at_most_5_s_and_loses_nothing() {
    let mut env = TestEnv::with_options(Options {
        // Real Entra keeps old refresh tokens valid; this emulator does not: a lost rotated
        // refresh token shows at once.
        refresh_token_grace: 0,
        ..Options::default()
    });
    let bus = SilentUnixSocket::start(&env.root().join("bus")).expect("socket");
    env.set_env("ENTRA_CRED_KEYRING", "auto");
    env.set_env("DBUS_SESSION_BUS_ADDRESS", &bus.dbus_address());
    // The Secret Service is the first keyring tried: it hangs, and the sign-in goes to the file.
    let out = login(&env);
    assert!(
        out.elapsed < Duration::from_secs(15),
        "login took {:?}",
        out.elapsed
    );
    eprintln!("login with a hanging keyring: {:?}", out.elapsed);
    assert!(bus.accepted() > 0, "the Secret Service was asked");
    assert!(
        out.stderr.contains("did not answer") && out.stderr.contains("0600 file"),
        "{}",
        out.stderr
    );
    let secrets = env.cache_dir().join("secrets");
    assert!(secrets.exists(), "the refresh token went to the file store");

    // A refresh while the keyring still hangs: at most ~5 s (the keyring's bound), and the
    // lock is not held longer: a second process waiting behind it finishes too.
    let _ = std::fs::remove_dir_all(env.cache_dir().join("keyring"));
    let t0 = Instant::now();
    let outs = e2e::spawn_many(
        2,
        |i| {
            let mut c = env.cmd("entra-cred");
            if i == 0 {
                c.args(["refresh", "--scope", ARM]);
            } else {
                c.args(["token", "--scope", "https://vault.azure.net/.default"]);
            }
            c
        },
        None,
        T,
    );
    for o in &outs {
        eprintln!("refresh/token with a hanging keyring: {:?}", o.elapsed);
        assert_eq!(o.code, 0, "{}", o.stderr);
        env.assert_clean_stderr(o);
        assert!(
            o.elapsed < Duration::from_secs(9),
            "{:?}: {}",
            o.elapsed,
            o.stderr
        );
    }
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());

    // Nothing lost: the rotated refresh token is in the file store and works (the emulator
    // accepts only the latest one), with no keyring at all.
    env.set_env("ENTRA_CRED_KEYRING", "file");
    let out = entra_cred(&env, &["refresh", "--scope", ARM]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn auto_on_a_vm_without_identity_uses_the_cached_sign_in() {
    let mut env = TestEnv::new();
    login(&env);
    // Now on a VM whose IMDS answers, but without a managed identity.
    env.state().set_imds_without_identity(true);
    let imds_url = env.emu().url(imds::NAME).expect("imds");
    env.set_env("AZURE_POD_IDENTITY_AUTHORITY_HOST", &imds_url);
    let before = env.state().count(Endpoint::Token);
    let out = entra_cred(
        &env,
        &["token", "--scope", "https://vault.azure.net/.default"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        env.state().count(Endpoint::Token),
        before + 1,
        "the token came from the sign-in"
    );
    let st = entra_cred(&env, &["status", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&st.stdout).expect("json");
    assert_eq!(v["profiles"][0]["source"], "device-code", "{v}");
    // login says what it can back: the sign-in serves.
    let out = login(&env);
    assert!(
        out.stderr
            .contains("Tokens for any scope now come without a prompt"),
        "{}",
        out.stderr
    );
    // With an identity, auto prefers it, and login says so instead of promising.
    env.state().set_imds_without_identity(false);
    let _ = std::fs::remove_dir_all(env.cache_dir().join("imds"));
    let out = login(&env);
    assert!(
        !out.stderr.contains("without a prompt") && out.stderr.contains("managed-identity"),
        "{}",
        out.stderr
    );
}

#[test]
fn forced_managed_identity_on_a_vm_without_identity_says_so() {
    let mut env = TestEnv::new();
    env.state().set_imds_without_identity(true);
    env.set_env(
        "AZURE_POD_IDENTITY_AUTHORITY_HOST",
        &env.emu().url(imds::NAME).expect("imds"),
    );
    env.write_config("[profiles.default]\nflow = \"managed-identity\"\n");
    let out = entra_cred(&env, &["token", "--scope", ARM]);
    one_line(&out, 1, &["no managed identity", "Identity not found"]);
}

/// `http://[::ffff:127.0.0.1]:PORT`: loopback underneath, but not a loopback name, so only the
/// rule "local identity endpoints never use a proxy" keeps it away from the proxy.
fn mapped(url: &str) -> String {
    url.replace("127.0.0.1", "[::ffff:127.0.0.1]")
}

#[test]
fn the_proxy_sees_no_identity_endpoint_request() {
    let proxy = RecordingProxy::start().expect("proxy");
    let mut env = TestEnv::new();
    for v in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy"] {
        env.set_env(v, &proxy.url());
    }
    let base = mapped(&env.emu().url(imds::NAME).expect("imds"));
    env.set_env("AZURE_POD_IDENTITY_AUTHORITY_HOST", &base);
    env.write_config("[profiles.default]\nflow = \"managed-identity\"\n");
    let out = entra_cred(&env, &["token", "--scope", ARM]);
    assert_eq!(out.code, 0, "IMDS: {}", out.stderr);
    // App Service and Cloud Shell too.
    env.set_env("IDENTITY_ENDPOINT", &imds::app_service_url(&base));
    env.set_env("IDENTITY_HEADER", &env.state().identity_header());
    let out = entra_cred(
        &env,
        &["token", "--scope", "https://vault.azure.net/.default"],
    );
    assert_eq!(out.code, 0, "App Service: {}", out.stderr);
    let mut env2 = TestEnv::new();
    for v in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] {
        env2.set_env(v, &proxy.url());
    }
    let base2 = mapped(&env2.emu().url(imds::NAME).expect("imds"));
    env2.set_env("MSI_ENDPOINT", &imds::cloud_shell_url(&base2));
    let out = entra_cred(&env2, &["token", "--scope", ARM]);
    assert_eq!(out.code, 0, "Cloud Shell: {}", out.stderr);
    assert_eq!(
        env.state().count(Endpoint::Imds) + env.state().count(Endpoint::AppService),
        2
    );
    assert_eq!(env2.state().count(Endpoint::CloudShell), 1);
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());

    // Everything else does go through the proxy (which names itself when it refuses).
    let mut env3 = app_env();
    env3.set_env("HTTPS_PROXY", &proxy.url());
    env3.set_env("AZURE_AUTHORITY_HOST", &format!("https://{NXDOMAIN_HOST}"));
    env3.set_env("ENTRA_CRED_HTTP_TIMEOUT", "2");
    let out = entra_cred(&env3, &["token", "--scope", ARM]);
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(out.stderr.contains("proxy"), "{}", out.stderr);
    assert!(
        proxy
            .requests()
            .iter()
            .any(|r| r.starts_with(&format!("CONNECT {NXDOMAIN_HOST}:443"))),
        "{:?}",
        proxy.requests()
    );
}

#[test]
fn cloud_shell_audience_error_shows_its_code_and_message() {
    let mut env = TestEnv::new();
    let base = env.emu().url(imds::NAME).expect("imds");
    env.set_env("MSI_ENDPOINT", &imds::cloud_shell_url(&base));
    let out = entra_cred(&env, &["token", "--scope", "api://my-app/.default"]);
    one_line(
        &out,
        1,
        &[
            "AudienceNotSupported",
            "api://my-app is not a supported MSI token audience",
            "Cloud Shell",
        ],
    );
}

#[cfg(unix)]
fn os(bytes: &[u8]) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    std::ffi::OsString::from_vec(bytes.to_vec())
}

#[cfg(unix)]
#[test]
fn variables_that_are_not_text_are_exit_2_naming_them() {
    let env = app_env();
    for (var, bin, args) in [
        (
            "ENTRA_CRED_PROFILE",
            "entra-cred",
            &["token", "--scope", ARM][..],
        ),
        (
            "AZURE_CLIENT_SECRET",
            "entra-cred",
            &["token", "--scope", ARM][..],
        ),
        ("ENTRA_CRED_HTTP_TIMEOUT", "kubectl-entra", &[][..]),
        (
            "HTTPS_PROXY",
            "entra-credential-process",
            &["--scope", ARM][..],
        ),
    ] {
        let mut c = env.cmd(bin);
        c.args(args).env(var, os(b"w\xffrk"));
        let out = run(&mut c, None, T);
        one_line(&out, 2, &[var, "not UTF-8"]);
    }
    // git's helper too, before it reads anything.
    let mut c = env.cmd("git-credential-entra");
    c.arg("get").env("ENTRA_CRED_PROFILE", os(b"\xfe"));
    let out = run(&mut c, Some(b"protocol=https\nhost=dev.azure.com\n\n"), T);
    one_line(&out, 2, &["ENTRA_CRED_PROFILE"]);
    assert_eq!(env.state().count(Endpoint::Any), 0);
}

#[cfg(unix)]
#[test]
fn a_file_size_limit_is_an_error_line_not_a_silent_death() {
    let env = app_env();
    let bin = e2e::bin("entra-cred");
    let mut c = env.cmd("sh");
    c.args([
        "-c",
        &format!(
            "ulimit -f 0; exec '{}' token --scope '{ARM}'",
            bin.display()
        ),
    ]);
    let out = run(&mut c, None, T);
    assert_ne!(out.code, 128 + 25, "killed by SIGXFSZ: {}", out.stderr);
    // A cache that cannot be written still serves the token just fetched, with one warning
    // line that says why (SPEC, "Token cache").
    one_line(&out, 0, &["File too large", "cannot be written"]);
    env.assert_clean_stderr(&out);
    assert_eq!(
        out.stdout.trim().split('.').count(),
        3,
        "the fetched token is printed: {}",
        out.stdout
    );
}
