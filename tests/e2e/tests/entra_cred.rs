//! `entra-cred` against the emulator: sign-in flows, the cache, faults, concurrency, hygiene.

use e2e::{run, spawn_many, Endpoint, Fault, Options, RunOutput, TestEnv};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);
const ARM: &str = "https://management.azure.com/.default";
const DEVOPS: &str = "499b84ac-1321-427f-aa17-267ca6975798/.default";
const APP: &str = "11111111-2222-3333-4444-555555555555";
const APP_SECRET: &str = "app-secret-value-0123456789";

fn entra_cred(env: &TestEnv, args: &[&str]) -> RunOutput {
    let out = run(env.cmd("entra-cred").args(args), None, T);
    env.assert_clean_stderr(&out);
    out
}

fn login(env: &TestEnv) {
    let out = entra_cred(env, &["login"]).ok();
    assert!(out.stdout.is_empty(), "login prints nothing on stdout");
    assert!(out.stderr.contains("enter the code"), "{}", out.stderr);
    assert!(
        out.stderr.contains("Signed in as alice@contoso.example"),
        "{}",
        out.stderr
    );
}

fn token_json(env: &TestEnv, scope: &str) -> Value {
    let out = entra_cred(env, &["token", "--scope", scope, "--output", "json"]).ok();
    serde_json::from_str(&out.stdout).expect("token json")
}

fn aud_of(env: &TestEnv, token: &str) -> String {
    let payload = token.split('.').nth(1).expect("jwt");
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("b64");
    let v: Value = serde_json::from_slice(&bytes).expect("claims");
    let _ = env;
    v["aud"].as_str().expect("aud").to_string()
}

fn app_env() -> TestEnv {
    TestEnv::with_app(APP, APP_SECRET)
}

#[test]
fn device_code_login_with_stdin_closed_then_two_scopes_from_one_sign_in() {
    let env = TestEnv::new();
    login(&env);
    assert_eq!(env.state().count(Endpoint::DeviceCode), 1);

    let arm = token_json(&env, ARM);
    let devops = token_json(&env, DEVOPS);
    assert_eq!(
        aud_of(&env, arm["access_token"].as_str().unwrap()),
        "https://management.azure.com"
    );
    assert_eq!(
        aud_of(&env, devops["access_token"].as_str().unwrap()),
        "499b84ac-1321-427f-aa17-267ca6975798"
    );
    for v in [&arm, &devops] {
        assert_eq!(v["token_type"], "Bearer");
        let on = v["expires_on"].as_i64().unwrap();
        let left = v["expires_in"].as_i64().unwrap();
        assert!((3500..=3600).contains(&left), "{v}");
        assert!(v["expires_at"].as_str().unwrap().ends_with('Z'));
        assert!(on > 1_700_000_000);
        assert!(
            v.get("refresh_token").is_none(),
            "never print a refresh token"
        );
    }
    // One device code in all; the ARM token came with the login, DevOps from the refresh token.
    assert_eq!(env.state().count(Endpoint::DeviceCode), 1);
    assert_eq!(env.state().count_grant("refresh_token"), 1);
    // Cached now: no more requests.
    let again = entra_cred(&env, &["token", "--scope", DEVOPS]).ok();
    assert_eq!(
        again.stdout.trim(),
        devops["access_token"].as_str().unwrap()
    );
    assert_eq!(env.state().count(Endpoint::Token), 3);
    env.assert_no_secret_in_files();
}

#[test]
fn browser_sign_in_with_pkce() {
    let mut env = TestEnv::new();
    // A "browser" that fetches the sign-in page and follows the redirect to the loopback listener.
    let script = env.root().join("browser.sh");
    std::fs::write(&script, "#!/bin/sh\nexec curl -sfL -o /dev/null \"$1\"\n").unwrap();
    make_executable(&script);
    env.set_env("BROWSER", script.to_str().unwrap());
    let out = entra_cred(&env, &["login", "--flow", "browser"]).ok();
    assert!(
        out.stderr.contains("/oauth2/v2.0/authorize?"),
        "URL printed: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("code_challenge_method=S256"),
        "{}",
        out.stderr
    );
    assert_eq!(env.state().count(Endpoint::Authorize), 1);
    assert_eq!(env.state().count_grant("authorization_code"), 1);
    let reqs = env.state().requests_for(Endpoint::Token);
    let redeem = reqs
        .iter()
        .find(|r| r.param("grant_type") == Some("authorization_code"))
        .unwrap();
    assert!(redeem.param("code_verifier").is_some());
    assert!(redeem
        .param("redirect_uri")
        .unwrap()
        .starts_with("http://localhost:"));
    // The sign-in serves other audiences silently.
    token_json(&env, DEVOPS);
    assert_eq!(env.state().count(Endpoint::Authorize), 1);
}

#[test]
fn client_secret_from_environment() {
    let env = app_env();
    let v = token_json(&env, ARM);
    let claims = env
        .state()
        .verify_access_token(
            v["access_token"].as_str().unwrap(),
            "https://management.azure.com",
            None,
        )
        .unwrap();
    assert_eq!(claims.appid, APP);
    assert_eq!(claims.idtyp, "app");
    let st = entra_cred(&env, &["status", "--output", "json"]).ok();
    let st: Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(st["profiles"][0]["source"], "client-secret");
    // A wrong secret: Entra's error, with its AADSTS code, exit 1.
    let out = run(
        env.cmd("entra-cred")
            .env("AZURE_CLIENT_SECRET", "wrong-secret-value")
            .args(["token", "--scope", DEVOPS]),
        None,
        T,
    )
    .code_is(1);
    assert!(out.stderr.contains("AADSTS7000215"), "{}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
}

#[test]
fn refresh_token_rotation_and_revocation() {
    let env = TestEnv::new();
    login(&env);
    // Each forced refresh rotates the refresh token; the emulator invalidates the old one, so
    // three in a row only work if every rotated token was stored.
    for _ in 0..3 {
        entra_cred(&env, &["refresh", "--scope", ARM]).ok();
    }
    assert_eq!(env.state().count_grant("refresh_token"), 3);
    assert_eq!(env.state().active_refresh_tokens(), 1);

    env.state().revoke_refresh_tokens();
    let out = run(
        env.cmd("entra-cred").args(["token", "--scope", DEVOPS]),
        None,
        T,
    )
    .code_is(4);
    assert!(out.stderr.contains("AADSTS50173"), "{}", out.stderr);
    assert!(out.stderr.contains("entra-cred login"), "{}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(out.stdout.is_empty());
}

#[test]
fn no_login_and_no_terminal_is_exit_3() {
    let env = TestEnv::new();
    let out = run(
        env.cmd("entra-cred").args(["token", "--scope", ARM]),
        None,
        T,
    )
    .code_is(3);
    assert!(out.stderr.contains("entra-cred login"), "{}", out.stderr);
    assert_eq!(
        env.state().count(Endpoint::Any),
        0,
        "nothing was asked of Entra"
    );
}

#[test]
fn retries_503_twice_then_succeeds() {
    let env = app_env();
    env.emu()
        .inject(Fault::status(Endpoint::Token, 503).times(2));
    let v = token_json(&env, ARM);
    assert!(v["access_token"].is_string());
    assert_eq!(env.state().count(Endpoint::Token), 3);
}

#[test]
fn honours_retry_after_on_429() {
    let env = app_env();
    env.emu()
        .inject(Fault::status(Endpoint::Token, 429).retry_after("2"));
    let t0 = Instant::now();
    token_json(&env, ARM);
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_secs(2),
        "waited for Retry-After: {took:?}"
    );
    let times: Vec<u64> = env
        .state()
        .requests_for(Endpoint::Token)
        .iter()
        .map(|r| r.at_ms)
        .collect();
    assert_eq!(times.len(), 2);
    assert!(times[1] - times[0] >= 1900, "{times:?}");
}

#[test]
fn retry_after_beyond_the_budget_fails_fast_with_exit_5() {
    let env = app_env();
    env.emu().inject(
        Fault::status(Endpoint::Token, 429)
            .retry_after("3600")
            .times(10),
    );
    let t0 = Instant::now();
    let out = run(
        env.cmd("entra-cred").args(["token", "--scope", ARM]),
        None,
        T,
    )
    .code_is(5);
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(out.stderr.contains("429"), "{}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
}

#[test]
fn unreachable_authority_is_exit_5_in_bounded_time() {
    let mut env = app_env();
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    env.set_env("AZURE_AUTHORITY_HOST", &format!("http://127.0.0.1:{port}"));
    env.set_env("ENTRA_CRED_HTTP_TIMEOUT", "3");
    let t0 = Instant::now();
    let out = run(
        env.cmd("entra-cred").args(["token", "--scope", ARM]),
        None,
        T,
    )
    .code_is(5);
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
    assert!(
        out.stderr.starts_with("entra-cred: network error"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
}

#[test]
fn slow_answer_times_out_with_exit_5() {
    let mut env = app_env();
    env.set_env("ENTRA_CRED_HTTP_TIMEOUT", "2");
    env.emu()
        .inject(Fault::delay(Endpoint::Token, Duration::from_secs(6)).times(5));
    let t0 = Instant::now();
    let out = run(
        env.cmd("entra-cred").args(["token", "--scope", ARM]),
        None,
        T,
    )
    .code_is(5);
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
}

#[test]
fn malformed_json_gives_a_clear_error() {
    let env = app_env();
    env.emu()
        .inject(Fault::status(Endpoint::Token, 200).body("{\"access_tok"));
    let out = run(
        env.cmd("entra-cred").args(["token", "--scope", ARM]),
        None,
        T,
    )
    .code_is(1);
    assert!(out.stderr.contains("not valid JSON"), "{}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1);
    // An HTML error page from a proxy: also one line, no panic.
    env.emu()
        .inject(Fault::status(Endpoint::Token, 404).html("<html><body>Not Found</body></html>"));
    let out = run(
        env.cmd("entra-cred").args(["token", "--scope", ARM]),
        None,
        T,
    )
    .code_is(1);
    assert!(out.stderr.contains("HTTP 404"), "{}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1);
    // And the next call works.
    token_json(&env, ARM);
}

#[test]
fn forty_concurrent_processes_on_a_cold_cache_make_one_request() {
    let env = app_env();
    let outs = spawn_many(
        40,
        |_| {
            let mut c = env.cmd("entra-cred");
            c.args(["token", "--scope", ARM]);
            c
        },
        None,
        T,
    );
    let first = outs[0].stdout.clone();
    for o in &outs {
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert_eq!(o.stdout, first, "every process got the same token");
    }
    assert_eq!(env.state().count(Endpoint::Token), 1);
}

#[test]
fn forty_concurrent_user_refreshes_make_one_request() {
    let env = TestEnv::new();
    login(&env);
    let before = env.state().count(Endpoint::Token);
    let outs = spawn_many(
        40,
        |_| {
            let mut c = env.cmd("entra-cred");
            c.args(["token", "--scope", DEVOPS]);
            c
        },
        None,
        T,
    );
    for o in &outs {
        assert_eq!(o.code, 0, "{}", o.stderr);
    }
    assert_eq!(env.state().count(Endpoint::Token) - before, 1);
}

#[test]
fn garbage_cache_files_are_replaced_and_permissions_are_private() {
    let env = app_env();
    // A permissive umask must not leak into the cache.
    let mut c = env.cmd("sh");
    c.args(["-c", "umask 000; exec entra-cred token --scope \"$0\"", ARM]);
    run(&mut c, None, T).ok();
    let sessions = env.cache_dir().join("sessions");
    let files: Vec<_> = std::fs::read_dir(&sessions)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(!files.is_empty());
    check_private(&env.cache_dir());
    for f in &files {
        std::fs::write(f, b"\x00\xffnot json{{{").unwrap();
    }
    let out = entra_cred(&env, &["token", "--scope", ARM]).ok();
    assert!(!out.stdout.trim().is_empty());
    assert_eq!(
        env.state().count(Endpoint::Token),
        2,
        "the garbage was discarded and rebuilt"
    );
    let out = entra_cred(&env, &["token", "--scope", ARM]).ok();
    assert!(!out.stdout.is_empty());
    assert_eq!(
        env.state().count(Endpoint::Token),
        2,
        "and the rebuilt file serves"
    );
    check_private(&env.cache_dir());
}

#[cfg(unix)]
fn check_private(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{}", dir.display());
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            check_private(&p);
        } else {
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", p.display());
        }
    }
}

#[cfg(unix)]
fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn debug_logging_never_shows_a_secret() {
    let mut env = TestEnv::new();
    env.set_env("ENTRA_CRED_LOG", "debug");
    login(&env);
    let out = entra_cred(&env, &["token", "--scope", DEVOPS]).ok();
    assert!(
        out.stderr.contains("[debug]"),
        "debug output expected: {}",
        out.stderr
    );
    entra_cred(&env, &["refresh"]).ok();
    entra_cred(&env, &["status"]).ok();
    env.assert_no_secret_in_files();
}

#[test]
fn configuration_errors_are_exit_2_before_any_request() {
    let env = TestEnv::new();
    let out = run(
        env.cmd("entra-cred")
            .args(["-p", "nope", "token", "--scope", ARM]),
        None,
        T,
    )
    .code_is(2);
    assert!(
        out.stderr.contains("profile 'nope' not found"),
        "{}",
        out.stderr
    );
    let out = run(
        env.cmd("entra-cred")
            .env("ENTRA_CRED_PROFILE", "nope")
            .args(["token", "--scope", ARM]),
        None,
        T,
    )
    .code_is(2);
    assert!(out.stderr.contains("nope"));
    env.write_config("[profiles.default]\ntennant = \"x\"\n");
    let out = run(
        env.cmd("entra-cred").args(["token", "--scope", ARM]),
        None,
        T,
    )
    .code_is(2);
    assert!(out.stderr.contains("line 2"), "{}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    env.write_config("");
    let out = run(
        env.cmd("entra-cred")
            .env("AZURE_AUTHORITY_HOST", "http://login.example.com")
            .args(["token", "--scope", ARM]),
        None,
        T,
    )
    .code_is(2);
    assert!(out.stderr.contains("plain http"), "{}", out.stderr);
    let out = run(env.cmd("entra-cred").args(["token", "--bogus"]), None, T).code_is(2);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert_eq!(env.state().count(Endpoint::Any), 0);
}

#[test]
fn profiles_in_the_file_win_over_the_environment() {
    let mut opts = Options::default();
    opts.clients.push((APP.into(), APP_SECRET.into()));
    let mut env = TestEnv::with_options(opts);
    // A shell left set up for another program.
    env.set_env("AZURE_CLIENT_ID", "99999999-9999-9999-9999-999999999999");
    env.set_env("AZURE_CLIENT_SECRET", "someone-elses-secret");
    env.write_config(&format!(
        "[profiles.work]\nclient_id = \"{APP}\"\nclient_secret = \"{APP_SECRET}\"\ntenant = \"{}\"\n",
        entra_emulator::DEFAULT_TENANT
    ));
    let out = entra_cred(&env, &["-p", "work", "token", "--scope", ARM]).ok();
    let claims = env
        .state()
        .verify_access_token(out.stdout.trim(), "https://management.azure.com", None)
        .unwrap();
    assert_eq!(claims.appid, APP);
}

#[test]
fn inspect_decodes_and_flags_expiry() {
    let env = TestEnv::new();
    login(&env);
    let tok = entra_cred(&env, &["token", "--scope", ARM]).ok().stdout;
    let out = run(
        env.cmd("entra-cred")
            .args(["inspect", "-", "--output", "json"]),
        Some(tok.as_bytes()),
        T,
    )
    .ok();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["claims"]["upn"], "alice@contoso.example");
    assert_eq!(v["expired"], false);
    let out = entra_cred(&env, &["inspect", tok.trim()]).ok();
    assert!(out.stdout.contains("aud"), "{}", out.stdout);
    // An expired token: exit 1.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let expired = format!(
        "{}.{}.sig",
        b64.encode(r#"{"alg":"none"}"#),
        b64.encode(r#"{"exp":1000}"#)
    );
    let out = run(env.cmd("entra-cred").args(["inspect", &expired]), None, T).code_is(1);
    assert!(out.stderr.contains("expired"), "{}", out.stderr);
    let out = run(
        env.cmd("entra-cred").args(["inspect", "not-a-jwt"]),
        None,
        T,
    )
    .code_is(1);
    assert!(out.stderr.contains("not a JWT"), "{}", out.stderr);
}

#[test]
fn status_and_logout() {
    let env = TestEnv::new();
    login(&env);
    let st = entra_cred(&env, &["status", "--output", "json"]).ok();
    let v: Value = serde_json::from_str(&st.stdout).unwrap();
    let p = &v["profiles"][0];
    assert_eq!(p["account"]["username"], "alice@contoso.example");
    assert!(p["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["scope"] == ARM));
    let table = entra_cred(&env, &["status"]).ok().stdout;
    assert!(table.contains("alice@contoso.example"), "{table}");

    let out = entra_cred(&env, &["logout"]).ok();
    assert!(out.stderr.contains("Signed out"), "{}", out.stderr);
    let secrets: Vec<_> = e2e::walk(&env.cache_dir())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    assert!(secrets.is_empty(), "nothing left: {secrets:?}");
    run(
        env.cmd("entra-cred").args(["token", "--scope", ARM]),
        None,
        T,
    )
    .code_is(3);
    let out = entra_cred(&env, &["logout", "--all"]).ok();
    assert!(out.stderr.contains("Signed out of every profile"));
}

#[test]
fn token_expiring_soon_is_refreshed_ahead_of_time() {
    let opts = Options {
        // Inside the 5-minute window from the start.
        token_lifetime: 290,
        ..Options::default()
    };
    let env = TestEnv::with_options(opts);
    login(&env);
    let a = entra_cred(&env, &["token", "--scope", ARM]).ok().stdout;
    // Fetched moments ago (by this or a parallel process): its whole lifetime is below the
    // margin, so it is served rather than fetched by every caller.
    let a2 = entra_cred(&env, &["token", "--scope", ARM]).ok().stdout;
    assert_eq!(a, a2);
    // A minute later it is renewed.
    e2e::age_cache(&env.cache_dir(), 60);
    let b = entra_cred(&env, &["token", "--scope", ARM]).ok().stdout;
    assert_ne!(a, b, "a token with under 5 minutes left is not served");
    env.state().set_token_lifetime(3600);
    let c = entra_cred(&env, &["token", "--scope", ARM]).ok().stdout;
    let d = entra_cred(&env, &["token", "--scope", ARM]).ok().stdout;
    assert_eq!(c, d);
}

#[test]
fn network_failure_serves_a_still_valid_cached_token() {
    let opts = Options {
        token_lifetime: 290,
        ..Options::default()
    };
    let mut env = TestEnv::with_options(opts);
    env.set_env("ENTRA_CRED_HTTP_TIMEOUT", "2");
    login(&env);
    let a = entra_cred(&env, &["token", "--scope", ARM]).ok().stdout;
    env.emu()
        .inject(Fault::status(Endpoint::Token, 503).times(20));
    let b = entra_cred(&env, &["token", "--scope", ARM]).ok().stdout;
    assert_eq!(a, b, "still valid for minutes: served despite the outage");
}

/// Whether the Linux kernel keyring works here (`keyctl` from keyutils).
fn kernel_keyring_usable(env: &TestEnv) -> bool {
    let mut c = env.tool("keyctl");
    c.args(["show", "@s"]);
    matches!(e2e::try_run(&mut c, None, T), Ok(o) if o.code == 0)
}

#[test]
fn refresh_token_goes_to_the_kernel_keyring_when_usable() {
    let mut env = TestEnv::new();
    if !kernel_keyring_usable(&env) {
        eprintln!("SKIP: no usable kernel keyring (install keyutils to run this test)");
        return;
    }
    env.set_env("ENTRA_CRED_KEYRING", "keyring");
    login(&env);
    let st = entra_cred(&env, &["status", "--output", "json"]).ok();
    let v: Value = serde_json::from_str(&st.stdout).unwrap();
    let store = v["profiles"][0]["refresh_token_store"]
        .as_str()
        .unwrap_or_default();
    assert!(store.starts_with("Linux kernel keyring"), "{v}");
    assert!(
        !env.cache_dir().join("secrets").exists(),
        "no refresh token file"
    );
    // The refresh token is read back from the keyring (and the rotated one written there).
    token_json(&env, DEVOPS);
    entra_cred(&env, &["refresh", "--scope", DEVOPS]).ok();
    assert_eq!(env.state().count_grant("refresh_token"), 2);
    // No refresh token in any file, cache included.
    assert!(env.secrets().iter().any(|s| s.starts_with("1.A")));
    let rts: Vec<String> = env.secrets();
    for f in e2e::walk(env.root()) {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        // The emulator's refresh tokens look like Entra's: `1.A...`, opaque.
        for s in rts.iter().filter(|s| s.starts_with("1.A")) {
            assert!(
                !text.contains(s.as_str()),
                "a refresh token in {}",
                f.display()
            );
        }
    }
    entra_cred(&env, &["logout"]).ok();
    run(
        env.cmd("entra-cred").args(["token", "--scope", ARM]),
        None,
        T,
    )
    .code_is(3);
}

#[test]
fn one_sign_in_serves_other_tenants_and_keeps_rotating() {
    let env = TestEnv::new();
    login(&env);
    let other = "5f2b7e3c-1a4d-4c8e-b6f0-9d3e2a1c7b54";
    // A profile (or a kubeconfig's --tenant) naming a tenant: no prompt, the login serves.
    let out = entra_cred(&env, &["--tenant", other, "token", "--scope", DEVOPS]).ok();
    let claims = env
        .state()
        .verify_access_token(
            out.stdout.trim(),
            "499b84ac-1321-427f-aa17-267ca6975798",
            Some(other),
        )
        .unwrap();
    assert_eq!(claims.upn.as_deref(), Some("alice@contoso.example"));
    assert_eq!(env.state().count(Endpoint::DeviceCode), 1);
    // The rotated refresh token went back to the sign-in it came from: both keep working.
    for _ in 0..2 {
        entra_cred(&env, &["refresh", "--scope", ARM]).ok();
        entra_cred(&env, &["--tenant", other, "refresh", "--scope", DEVOPS]).ok();
    }
    assert_eq!(env.state().active_refresh_tokens(), 1);
    assert_eq!(env.state().count(Endpoint::DeviceCode), 1);
    // status shows them with the profile that signed in.
    let out = entra_cred(&env, &["status", "--output", "json"]).ok();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let tokens = v["profiles"][0]["tokens"].as_array().unwrap();
    assert!(
        tokens
            .iter()
            .any(|t| t["tenant"] == other && t["scope"] == DEVOPS),
        "{}",
        out.stdout
    );
    let table = entra_cred(&env, &["status"]).ok();
    assert!(
        table.stdout.contains(&format!("{DEVOPS} @ {other}")),
        "{}",
        table.stdout
    );
    // Signing out forgets the tokens obtained for the other tenant too.
    entra_cred(&env, &["logout"]).ok();
    run(
        env.cmd("entra-cred")
            .args(["--tenant", other, "token", "--scope", DEVOPS]),
        None,
        T,
    )
    .code_is(3);
}

/// A `$BROWSER` that follows the sign-in page to the loopback redirect.
fn curl_browser(env: &mut TestEnv) {
    let script = env.root().join("browser.sh");
    std::fs::write(&script, "#!/bin/sh\nexec curl -sfL -o /dev/null \"$1\"\n").unwrap();
    make_executable(&script);
    env.set_env("BROWSER", script.to_str().unwrap());
}

#[test]
fn login_without_flow_uses_the_browser_when_one_can_be_opened_else_the_device_code() {
    // No BROWSER, no DISPLAY/WAYLAND_DISPLAY (empty counts as unset): device code.
    let mut env = TestEnv::new();
    env.set_env("DISPLAY", "");
    let out = entra_cred(&env, &["login"]).ok();
    assert!(out.stderr.contains("enter the code"), "{}", out.stderr);
    assert!(!out.stderr.contains("Waiting up to"), "{}", out.stderr);
    assert_eq!(env.state().count(Endpoint::DeviceCode), 1);
    assert_eq!(env.state().count(Endpoint::Authorize), 0);

    // $BROWSER set: the browser, saying how long it waits and what works without one.
    let mut env = TestEnv::new();
    curl_browser(&mut env);
    env.set_env("ENTRA_CRED_BROWSER_TIMEOUT", "42");
    let out = entra_cred(&env, &["login"]).ok();
    assert!(out.stderr.contains("Waiting up to 42 s"), "{}", out.stderr);
    assert!(out.stderr.contains("--flow device-code"), "{}", out.stderr);
    assert!(out.stderr.contains("Signed in as"), "{}", out.stderr);
    assert_eq!(env.state().count(Endpoint::DeviceCode), 0);
    assert_eq!(env.state().count_grant("authorization_code"), 1);
}

#[test]
fn login_redirect_port_fixes_the_loopback_port() {
    let mut env = TestEnv::new();
    curl_browser(&mut env);
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let p = port.to_string();
    entra_cred(&env, &["login", "--flow", "browser", "--redirect-port", &p]).ok();
    let reqs = env.state().requests_for(Endpoint::Token);
    let redeem = reqs
        .iter()
        .find(|r| r.param("grant_type") == Some("authorization_code"))
        .unwrap();
    assert_eq!(
        redeem.param("redirect_uri"),
        Some(format!("http://localhost:{port}").as_str())
    );
    // A port in use: one line naming it and the way out, exit 1.
    let busy = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let out = entra_cred(&env, &["login", "--flow", "browser", "--redirect-port", &p]);
    drop(busy);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("--redirect-port"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}
