//! Secret hygiene: with `ENTRA_CRED_LOG=debug`, no flow prints an issued secret on stderr or
//! leaves one in a file outside the cache; a token is never sent over plain http to a
//! non-loopback authority, and a redirect is never followed. (Cache permissions under umask 000
//! are tested in entra_cred.rs.)
//!
//! Non-loopback traffic is caught without a packet leaving the machine: every process gets
//! `HTTP(S)_PROXY`/`ALL_PROXY` pointing at a loopback "trap" listener, so any attempt to reach a
//! non-loopback host lands there and is counted (the client talks to loopback hosts directly).

use e2e::{run, Endpoint, Fault, Options, RunOutput, TestEnv};
use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const T: Duration = Duration::from_secs(60);
const ARM: &str = "https://management.azure.com/.default";
const DEVOPS: &str = "499b84ac-1321-427f-aa17-267ca6975798/.default";
const APP: &str = "11111111-2222-3333-4444-555555555555";
const APP_SECRET: &str = "app-secret-value-0123456789";

/// A loopback listener that counts connections and keeps what they sent.
struct Trap {
    port: u16,
    hits: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
}

impl Trap {
    fn start() -> Trap {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind trap");
        l.set_nonblocking(true).expect("nonblocking");
        let port = l.local_addr().expect("addr").port();
        let (hits, seen, stop) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(Mutex::new(Vec::new())),
            Arc::new(AtomicBool::new(false)),
        );
        let (h, s, st) = (Arc::clone(&hits), Arc::clone(&seen), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((mut c, _)) => {
                        h.fetch_add(1, Ordering::SeqCst);
                        let _ = c.set_nonblocking(false);
                        let _ = c.set_read_timeout(Some(Duration::from_millis(300)));
                        let mut buf = [0u8; 4096];
                        if let Ok(n) = c.read(&mut buf) {
                            s.lock().unwrap().extend_from_slice(&buf[..n]);
                        }
                        // Close without answering.
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Trap {
            port,
            hits,
            seen,
            stop,
        }
    }
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
    fn seen(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned()
    }
}

impl Drop for Trap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Points every proxy variable at the trap.
fn route_outside_traffic_to(env: &mut TestEnv, trap: &Trap) {
    for k in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        env.set_env(k, &trap.url());
    }
}

fn debug_run(env: &TestEnv, args: &[&str]) -> RunOutput {
    let out = run(env.cmd("entra-cred").args(args), None, T);
    env.assert_clean_stderr(&out);
    out
}

fn has_debug(out: &RunOutput) -> bool {
    out.stderr.contains("[debug]")
}

#[cfg(unix)]
fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn debug_logs_of_every_user_flow_hold_no_secret() {
    let mut env = TestEnv::new();
    env.set_env("ENTRA_CRED_LOG", "debug");
    let script = env.root().join("browser.sh");
    std::fs::write(&script, "#!/bin/sh\nexec curl -sfL -o /dev/null \"$1\"\n").unwrap();
    make_executable(&script);
    env.set_env("BROWSER", script.to_str().unwrap());

    let mut debug_lines = 0;
    let mut step = |args: &[&str], code: i32| {
        let out = debug_run(&env, args);
        assert_eq!(out.code, code, "{args:?}: {}", out.stderr);
        debug_lines += out.stderr.lines().filter(|l| l.contains("[debug]")).count();
        out
    };
    step(&["login"], 0);
    step(&["login", "--flow", "browser"], 0);
    let json = step(&["token", "--scope", DEVOPS, "--output", "json"], 0);
    assert!(json.stdout.contains("access_token"));
    step(&["token", "--scope", ARM], 0);
    step(&["refresh"], 0);
    step(&["refresh", "--scope", ARM], 0);
    step(&["status"], 0);
    step(&["status", "--output", "json"], 0);
    step(&["logout"], 0);
    // Error paths print Entra's answers: still nothing secret.
    step(&["token", "--scope", ARM], 3);
    step(&["login"], 0);
    env.state().revoke_refresh_tokens();
    step(&["refresh", "--scope", ARM], 4);
    step(&["logout", "--all"], 0);
    assert!(
        debug_lines >= 10,
        "debug logging was on ({debug_lines} lines)"
    );
    assert!(env.secrets().len() >= 10, "the emulator issued secrets");
    env.assert_no_secret_in_files();
}

#[test]
fn debug_logs_of_the_client_secret_flow_hold_no_secret() {
    let mut env = TestEnv::with_app(APP, APP_SECRET);
    env.set_env("ENTRA_CRED_LOG", "debug");
    env.emu()
        .inject(Fault::status(Endpoint::Token, 503).times(1));
    let out = debug_run(&env, &["token", "--scope", ARM]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(has_debug(&out), "{}", out.stderr);
    for args in [
        &["refresh"][..],
        &["status"],
        &["status", "--output", "json"],
        &["login"],
        &["logout"],
    ] {
        let out = debug_run(&env, args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
    }
    // A wrong secret: Entra's error is shown, the secret is not.
    let out = run(
        env.cmd("entra-cred")
            .env("AZURE_CLIENT_SECRET", "wrong-secret-value-987654")
            .args(["token", "--scope", ARM]),
        None,
        T,
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(!out.stderr.contains("wrong-secret-value-987654"));
    env.assert_clean_stderr(&out);
    env.assert_no_secret_in_files();
}

#[test]
fn the_trap_catches_non_loopback_traffic() {
    // Control for the two tests below: a program that does go out is caught.
    let trap = Trap::start();
    let mut env = TestEnv::new();
    route_outside_traffic_to(&mut env, &trap);
    let mut c = env.tool("curl");
    c.args(["-s", "-m", "5", "http://login.example.com/x"]);
    let _ = run(&mut c, None, T);
    assert_eq!(trap.hits(), 1);
    assert!(trap.seen().contains("login.example.com"), "{}", trap.seen());
}

#[test]
fn plain_http_to_a_non_loopback_authority_is_refused_before_any_request() {
    let trap = Trap::start();
    let mut env = TestEnv::new();
    route_outside_traffic_to(&mut env, &trap);
    // Signed in, with tokens cached: the refusal must not depend on an empty cache.
    let out = debug_run(&env, &["login"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let requests = env.state().count(Endpoint::Any);
    for authority in [
        "http://login.example.com",
        "http://10.0.0.1:8080",
        "http://localhost.example.com",
        "http://127.0.0.1.example.com",
        "http://[::ffff:10.0.0.1]",
    ] {
        // From the environment...
        let out = run(
            env.cmd("entra-cred")
                .env("AZURE_AUTHORITY_HOST", authority)
                .args(["token", "--scope", DEVOPS]),
            None,
            T,
        );
        assert_eq!(out.code, 2, "{authority}: {}", out.stderr);
        assert!(out.stderr.contains("plain http"), "{}", out.stderr);
        assert!(out.stdout.is_empty());
        // ... and from the profile in the file.
        env.write_config(&format!(
            "[profiles.default]\nauthority = \"{authority}\"\n"
        ));
        for args in [&["token", "--scope", ARM][..], &["refresh"], &["login"]] {
            let out = run(env.cmd("entra-cred").args(args), None, T);
            assert_eq!(out.code, 2, "{authority} {args:?}: {}", out.stderr);
            env.assert_clean_stderr(&out);
        }
        env.write_config("");
    }
    assert_eq!(trap.hits(), 0, "a request went out: {}", trap.seen());
    assert_eq!(env.state().count(Endpoint::Any), requests);
}

#[test]
fn redirects_are_never_followed() {
    let trap = Trap::start();
    let mut opts = Options::default();
    opts.clients.push((APP.into(), APP_SECRET.into()));
    let mut env = TestEnv::with_options(opts);
    route_outside_traffic_to(&mut env, &trap);
    let elsewhere = format!("{}/organizations/oauth2/v2.0/token", trap.url());
    // A signed-in user refreshing (307/308 would resend the refresh token in the body)...
    let out = debug_run(&env, &["login"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for status in [301, 302, 303, 307, 308] {
        env.emu()
            .inject(Fault::redirect(Endpoint::Token, status, &elsewhere));
        let out = debug_run(&env, &["refresh", "--scope", ARM]);
        assert_eq!(out.code, 1, "HTTP {status}: {}", out.stderr);
        assert!(out.stderr.contains(&status.to_string()), "{}", out.stderr);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    }
    // ... and an application sending its client secret.
    for status in [302, 307] {
        env.emu()
            .inject(Fault::redirect(Endpoint::Token, status, &elsewhere));
        let out = run(
            env.cmd("entra-cred")
                .env("AZURE_CLIENT_ID", APP)
                .env("AZURE_CLIENT_SECRET", APP_SECRET)
                .env("AZURE_TENANT_ID", entra_emulator::DEFAULT_TENANT)
                .args(["token", "--scope", ARM]),
            None,
            T,
        );
        assert_eq!(out.code, 1, "HTTP {status}: {}", out.stderr);
        env.assert_clean_stderr(&out);
    }
    // A redirect to a non-loopback host would go through the proxy: also never followed.
    env.emu().inject(Fault::redirect(
        Endpoint::Token,
        307,
        "http://login.example.com/organizations/oauth2/v2.0/token",
    ));
    let out = debug_run(&env, &["refresh", "--scope", ARM]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(trap.hits(), 0, "the redirect was followed: {}", trap.seen());
    // The sign-in survived: the refresh token was never spent on a redirect.
    let out = debug_run(&env, &["refresh", "--scope", ARM]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    env.assert_no_secret_in_files();
}
