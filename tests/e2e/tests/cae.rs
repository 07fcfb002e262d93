//! Continuous access evaluation against the emulator: every grant declares `cp1` (none with
//! `ENTRA_CRED_CAE=0`), `entra-cred token --claims` replaces the cached token, a refresh token
//! that cannot satisfy the claims is exit 3 (or a sign-in that carries them when a person can
//! answer), long-lived CAE tokens are cached, the git helper answers a challenge line, and real
//! git recovers from a token the resource revoked the CAE way on its next command.

use base64::Engine;
use e2e::emulator::services::{cae, repos};
use e2e::emulator::LoggedRequest;
use e2e::{run, Endpoint, RunOutput, TestEnv};
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);
const ARM: &str = "https://management.azure.com/.default";
const DEVOPS: &str = "499b84ac-1321-427f-aa17-267ca6975798/.default";
const APP: &str = "2c4f6e8a-1b3d-4f5a-9c7e-0d2b4a6c8e17";
const SECRET: &str = "cae-e2e-client-secret-value";
const TENANT: &str = e2e::emulator::DEFAULT_TENANT;
const CP1: &str = r#"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#;

fn json_of(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[track_caller]
fn entra_cred(env: &TestEnv, args: &[&str]) -> RunOutput {
    let out = run(env.cmd("entra-cred").args(args), None, T);
    env.assert_clean_stderr(&out);
    out
}

/// `token --output json` (with extra arguments); the access token.
#[track_caller]
fn token(env: &TestEnv, scope: &str, extra: &[&str]) -> String {
    let mut args = vec!["token", "--scope", scope, "--output", "json"];
    args.extend_from_slice(extra);
    let out = entra_cred(env, &args).ok();
    json_of(&out.stdout)["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// The claims (JSON) of a logged request, when it has them.
fn claims_of(r: &LoggedRequest) -> Option<Value> {
    r.param("claims").map(json_of)
}

/// Every request to the token and devicecode endpoints.
fn entra_requests(env: &TestEnv) -> Vec<LoggedRequest> {
    env.state()
        .requests()
        .into_iter()
        .filter(|r| matches!(r.endpoint, Endpoint::Token | Endpoint::DeviceCode))
        .collect()
}

/// A token's claims as the emulator issued them.
fn issued(env: &TestEnv, token: &str, aud: &str) -> Value {
    env.state()
        .verify_access_token(token, aud, None)
        .unwrap_or_else(|e| panic!("emulator rejects the token: {e}"))
        .raw
}

fn login(env: &TestEnv) {
    entra_cred(env, &["login"]).ok();
}

const ISSUER: &str = "https://oidc.example/issuer/cae";
const SUBJECT: &str = "system:serviceaccount:default:cae";

/// Drives one token request through each application grant: client secret, certificate and
/// federated assertion (workload identity). Returns the access tokens with their audiences.
fn app_grants(cae_var: Option<&str>) -> (TestEnv, Vec<(String, &'static str)>) {
    let mut env = TestEnv::new();
    if let Some(v) = cae_var {
        env.set_env("ENTRA_CRED_CAE", v);
    }
    let mut tokens = Vec::new();
    env.state().add_client(APP, SECRET);
    env.set_env("AZURE_CLIENT_ID", APP);
    env.set_env("AZURE_TENANT_ID", TENANT);
    env.set_env("AZURE_CLIENT_SECRET", SECRET);
    tokens.push((token(&env, ARM, &[]), "https://management.azure.com"));
    let dir = env.root().join("cert");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let (pem, der) = e2e::test_certificate(&dir, "app", &["-newkey", "rsa:2048"]);
    env.state().add_client_certificate(APP, &der);
    env.set_env("AZURE_CLIENT_SECRET", "");
    env.set_env("AZURE_CLIENT_CERTIFICATE_PATH", pem.to_str().expect("utf8"));
    tokens.push((
        token(&env, "https://vault.azure.net/.default", &[]),
        "https://vault.azure.net",
    ));
    env.state().add_federated_credential(APP, ISSUER, SUBJECT);
    let now = e2e::emulator::util::now_secs();
    let assertion = env.state().sign(&json!({
        "aud": ["api://AzureADTokenExchange"], "iss": ISSUER, "sub": SUBJECT,
        "iat": now, "nbf": now, "exp": now + 3600,
    }));
    let file = env.root().join("federated-token");
    std::fs::write(&file, assertion).expect("write");
    env.set_env("AZURE_CLIENT_CERTIFICATE_PATH", "");
    env.set_env("AZURE_FEDERATED_TOKEN_FILE", file.to_str().expect("utf8"));
    tokens.push((
        token(&env, "https://storage.azure.com/.default", &[]),
        "https://storage.azure.com",
    ));
    // Which credential each request carried: secret, certificate assertion, federated one.
    let kinds: Vec<String> = entra_requests(&env)
        .iter()
        .map(|r| {
            let a = r.param("client_assertion").unwrap_or("");
            let iss = e2e::emulator::jwt::decode_unverified(a)
                .ok()
                .and_then(|(_, c)| c["iss"].as_str().map(str::to_string));
            match (r.param("client_secret"), iss.as_deref()) {
                (Some(_), _) => "secret".to_string(),
                (None, Some(ISSUER)) => "federated".to_string(),
                (None, Some(i)) if i == APP => "certificate".to_string(),
                _ => "?".to_string(),
            }
        })
        .collect();
    assert_eq!(kinds, ["secret", "certificate", "federated"]);
    (env, tokens)
}

#[test]
fn every_grant_declares_cp1() {
    // Device code (login), then refresh token.
    let env = TestEnv::new();
    login(&env);
    let devops = token(&env, DEVOPS, &[]);
    let reqs = entra_requests(&env);
    let grants: Vec<&str> = reqs
        .iter()
        .map(|r| r.param("grant_type").unwrap_or("(devicecode)"))
        .collect();
    assert!(grants.contains(&"(devicecode)"), "{grants:?}");
    assert!(
        grants.contains(&e2e::emulator::DEVICE_CODE_GRANT),
        "{grants:?}"
    );
    assert!(grants.contains(&"refresh_token"), "{grants:?}");
    for r in &reqs {
        assert_eq!(
            r.param("claims"),
            Some(CP1),
            "{} {:?}",
            r.path,
            r.param("grant_type")
        );
    }
    assert_eq!(
        issued(&env, &devops, "499b84ac-1321-427f-aa17-267ca6975798")["xms_cc"],
        json!(["cp1"])
    );

    let (env, tokens) = app_grants(None);
    for r in &entra_requests(&env) {
        assert_eq!(r.param("claims"), Some(CP1), "{}", r.path);
    }
    for (t, aud) in &tokens {
        assert_eq!(issued(&env, t, aud)["xms_cc"], json!(["cp1"]));
    }
}

#[test]
fn cae_0_declares_nothing() {
    let env = {
        let mut env = TestEnv::new();
        env.set_env("ENTRA_CRED_CAE", "0");
        login(&env);
        token(&env, DEVOPS, &[]);
        env
    };
    let reqs = entra_requests(&env);
    assert!(reqs.len() >= 3, "devicecode, polls, refresh");
    assert!(reqs.iter().all(|r| r.param("claims").is_none()));
    let (env, tokens) = app_grants(Some("0"));
    let reqs = entra_requests(&env);
    assert_eq!(reqs.len(), 3);
    assert!(reqs.iter().all(|r| r.param("claims").is_none()));
    for (t, aud) in &tokens {
        assert!(issued(&env, t, aud).get("xms_cc").is_none());
    }

    // A challenge's claims are still sent, without cp1.
    let mut env = TestEnv::new();
    env.state().add_client(APP, SECRET);
    env.set_env("AZURE_CLIENT_ID", APP);
    env.set_env("AZURE_CLIENT_SECRET", SECRET);
    env.set_env("ENTRA_CRED_CAE", "off");
    let nbf = r#"{"access_token":{"nbf":{"essential":true,"value":"1"}}}"#;
    token(&env, ARM, &["--claims", nbf]);
    let last = entra_requests(&env).pop().expect("request");
    assert_eq!(claims_of(&last), Some(json_of(nbf)));

    // A value that is not understood: exit 2, one line naming the variable, no request.
    env.set_env("ENTRA_CRED_CAE", "disabled");
    let before = env.state().count(Endpoint::Token);
    let out = entra_cred(
        &env,
        &["token", "--scope", "https://vault.azure.net/.default"],
    )
    .code_is(2);
    assert!(out.stderr.contains("ENTRA_CRED_CAE"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert_eq!(env.state().count(Endpoint::Token), before);
}

#[test]
fn token_claims_replaces_the_cached_token() {
    let env = TestEnv::new();
    login(&env);
    let first = token(&env, ARM, &[]);
    let n = env.state().count(Endpoint::Token);
    assert_eq!(token(&env, ARM, &[]), first, "from the cache");
    assert_eq!(env.state().count(Endpoint::Token), n);

    // The base64 form, exactly as in the header: one refresh with the merged claims.
    let nbf = r#"{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}"#;
    let second = token(&env, ARM, &["--claims", &b64(nbf)]);
    assert_ne!(second, first);
    assert_eq!(env.state().count(Endpoint::Token), n + 1);
    let last = entra_requests(&env).pop().expect("request");
    assert_eq!(last.param("grant_type"), Some("refresh_token"));
    assert_eq!(
        claims_of(&last),
        Some(json!({"access_token": {"xms_cc": {"values": ["cp1"]},
                                     "nbf": {"essential": true, "value": "1700000000"}}}))
    );
    // The new token took the old one's place.
    assert_eq!(token(&env, ARM, &[]), second);
    assert_eq!(env.state().count(Endpoint::Token), n + 1);

    // The JSON form bypasses the cache too.
    let third = token(&env, ARM, &["--claims", nbf]);
    assert_ne!(third, second);
    assert_eq!(env.state().count(Endpoint::Token), n + 2);

    // Claims that are neither: exit 1, one line, no request.
    let out = entra_cred(&env, &["token", "--scope", ARM, "--claims", "not claims!"]).code_is(1);
    assert!(out.stderr.contains("--claims"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1);
    assert_eq!(env.state().count(Endpoint::Token), n + 2);
}

#[test]
fn claims_the_refresh_token_cannot_satisfy() {
    let env = TestEnv::new();
    login(&env);
    let acrs = r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#;
    // No one to ask (stderr is not a terminal): exit 3, one line with Entra's code and a hint.
    let out = entra_cred(&env, &["token", "--scope", ARM, "--claims", acrs]).code_is(3);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("AADSTS50076"), "{}", out.stderr);
    assert!(out.stderr.contains("--claims"), "{}", out.stderr);
    // The refresh token is unharmed: plain tokens still come from it.
    token(&env, DEVOPS, &[]);

    // A revoked sign-in: invalid_grant, exit 4.
    env.state().revoke_refresh_tokens();
    let nbf = r#"{"access_token":{"nbf":{"essential":true,"value":"1"}}}"#;
    let out = entra_cred(&env, &["token", "--scope", ARM, "--claims", nbf]).code_is(4);
    assert!(out.stderr.contains("AADSTS50173"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

/// Where a person can answer (stderr is a terminal, through `script`), the refresh token's
/// `interaction_required` leads to a device code sign-in that carries the claims.
#[test]
fn a_sign_in_carries_the_claims_where_a_person_can_answer() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: script(1) is not installed");
        return;
    }
    let env = TestEnv::new();
    login(&env);
    let acrs = r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#;
    let entra_cred = e2e::bin("entra-cred");
    let line = format!(
        "{} token --scope {ARM} --claims '{acrs}' --output json",
        entra_cred.display()
    );
    let out = run(
        env.tool("script").args(["-qec", &line, "/dev/null"]),
        None,
        T,
    );
    env.assert_clean_stderr(&out);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let reqs = entra_requests(&env);
    let dc: Vec<&LoggedRequest> = reqs
        .iter()
        .filter(|r| r.endpoint == Endpoint::DeviceCode)
        .collect();
    assert_eq!(dc.len(), 2, "the login's and the claims' sign-in");
    let merged = json!({"access_token": {"xms_cc": {"values": ["cp1"]},
                                         "acrs": {"essential": true, "value": "c1"}}});
    assert_eq!(claims_of(dc[1]), Some(merged.clone()));
    let last = reqs.last().expect("poll");
    assert_eq!(
        last.param("grant_type"),
        Some(e2e::emulator::DEVICE_CODE_GRANT)
    );
    assert_eq!(claims_of(last), Some(merged));
    // The new session satisfies c1: the next challenge is met by the refresh token.
    let t = token(&env, DEVOPS, &["--claims", acrs]);
    assert_eq!(
        issued(&env, &t, "499b84ac-1321-427f-aa17-267ca6975798")["acrs"],
        json!(["c1"])
    );
}

#[test]
fn long_lived_cae_tokens_are_cached_like_any_other() {
    let mut env = TestEnv::new();
    cae::set_cae_token_lifetime(env.state(), 28 * 3600);
    env.state().add_client(APP, SECRET);
    env.set_env("AZURE_CLIENT_ID", APP);
    env.set_env("AZURE_CLIENT_SECRET", SECRET);
    let out = entra_cred(&env, &["token", "--scope", ARM, "--output", "json"]).ok();
    let v = json_of(&out.stdout);
    let left = v["expires_in"].as_i64().expect("expires_in");
    assert!((28 * 3600 - 5..=28 * 3600).contains(&left), "{left}");
    let first = v["access_token"].as_str().expect("t").to_string();
    assert_eq!(token(&env, ARM, &[]), first);
    assert_eq!(env.state().count(Endpoint::Token), 1);
    // Without cp1 the emulator gives the normal lifetime.
    env.set_env("ENTRA_CRED_CAE", "0");
    let out = entra_cred(
        &env,
        &[
            "token",
            "--scope",
            "https://vault.azure.net/.default",
            "--output",
            "json",
        ],
    )
    .ok();
    assert!(json_of(&out.stdout)["expires_in"].as_i64().expect("e") <= 3600);
}

// ----- git ---------------------------------------------------------------------------------------

const ORG: &str = "org1";

/// A test environment with a bare repository `org1/proj/repo`, a global git config that uses the
/// helper with `useHttpPath`, the repos host in `ENTRA_CRED_GIT_HOSTS` and a client secret.
struct Git {
    env: TestEnv,
    base: String,
    host: String,
}

impl Git {
    fn new() -> Git {
        let mut env = TestEnv::new();
        let base = env.emu().url("repos").expect("repos service");
        let host = base.trim_start_matches("http://").to_string();
        env.set_env("ENTRA_CRED_GIT_HOSTS", &host);
        env.set_env("GIT_TERMINAL_PROMPT", "0");
        env.state().add_client(APP, SECRET);
        env.set_env("AZURE_CLIENT_ID", APP);
        env.set_env("AZURE_CLIENT_SECRET", SECRET);
        let g = Git { env, base, host };
        e2e::serve_azure_repo(&g.env, ORG, "entra");
        g
    }

    fn url(&self) -> String {
        format!("{}/{ORG}/proj/_git/repo", self.base)
    }

    #[track_caller]
    fn git(&self, args: &[&str]) -> RunOutput {
        let out = run(self.env.cmd("git").args(args), None, T);
        self.env.assert_clean_stderr(&out);
        out
    }

    #[track_caller]
    fn git_ok(&self, args: &[&str]) -> RunOutput {
        self.git(args).ok()
    }

    fn helper(&self, action: &str, input: &str) -> RunOutput {
        let mut c = self.env.cmd("git-credential-entra");
        c.arg(action);
        let out = run(&mut c, Some(input.as_bytes()), T);
        self.env.assert_clean_stderr(&out);
        out
    }

    fn token_requests(&self) -> Vec<LoggedRequest> {
        self.env.state().requests_for(Endpoint::Token)
    }

    /// The `get` request git sends after a 401 carrying `wwwauth`.
    fn get_input(&self, wwwauth: &[String]) -> String {
        let mut s = format!(
            "capability[]=authtype\nprotocol=http\nhost={}\npath={ORG}/proj/_git/repo\n",
            self.host
        );
        for w in wwwauth {
            s.push_str(&format!("wwwauth[]={w}\n"));
        }
        s.push('\n');
        s
    }
}

fn credential_of(out: &RunOutput) -> String {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix("credential="))
        .expect("credential= in the answer")
        .to_string()
}

#[test]
fn git_helper_answers_a_challenge_line_and_serves_the_cache_without_one() {
    let g = Git::new();
    let entra = g.env.emu().entra_url();
    let plain = vec![
        format!("Bearer authorization_uri={entra}/{}", repos::REPOS_TENANT),
        format!("Basic realm=\"{}/\"", g.base),
        "TFS-Federated".to_string(),
    ];
    let first = credential_of(&g.helper("get", &g.get_input(&plain)).ok());
    assert_eq!(g.token_requests().len(), 1);
    let again = credential_of(&g.helper("get", &g.get_input(&plain)).ok());
    assert_eq!(again, first, "a plain challenge is served from the cache");
    assert_eq!(g.token_requests().len(), 1);

    let demanded = r#"{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}"#;
    let mut cae_lines = plain.clone();
    cae_lines[0] = format!(
        "Bearer authorization_uri={entra}/{}, error=\"insufficient_claims\", claims=\"{}\"",
        repos::REPOS_TENANT,
        b64(demanded)
    );
    let answered = credential_of(&g.helper("get", &g.get_input(&cae_lines)).ok());
    assert_ne!(answered, first, "a challenge never gets the cached token");
    let reqs = g.token_requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[1]
        .path
        .starts_with(&format!("/{}/", repos::REPOS_TENANT)));
    assert_eq!(
        claims_of(&reqs[1]),
        Some(json!({"access_token": {"xms_cc": {"values": ["cp1"]},
                                     "nbf": {"essential": true, "value": "1700000000"}}}))
    );
    // The answer replaced the cached token.
    let after = credential_of(&g.helper("get", &g.get_input(&plain)).ok());
    assert_eq!(after, answered);
    assert_eq!(g.token_requests().len(), 2);
}

#[test]
fn real_git_recovers_from_a_cae_revocation_on_the_next_command() {
    let g = Git::new();
    let url = g.url();
    g.git_ok(&["ls-remote", &url]);
    assert_eq!(g.token_requests().len(), 1);
    assert!(repos::cae_revoke_issued_tokens(g.env.state(), None) > 0);

    // git presents the revoked token, gets the insufficient_claims challenge, hands it to
    // `erase` and fails the command (git 2.47 does not ask again within one command).
    let failed = g.git(&["ls-remote", &url]);
    assert_ne!(failed.code, 0);
    assert!(
        failed.stderr.contains("Authentication failed"),
        "{}",
        failed.stderr
    );
    assert_eq!(g.token_requests().len(), 1, "erase makes no request");

    // The next command: exactly one new token request, carrying the challenge's claims.
    g.git_ok(&["ls-remote", &url]);
    let reqs = g.token_requests();
    assert_eq!(reqs.len(), 2, "exactly one new token request");
    let claims = claims_of(&reqs[1]).expect("claims");
    assert_eq!(claims["access_token"]["xms_cc"], json!({"values": ["cp1"]}));
    assert_eq!(claims["access_token"]["nbf"]["essential"], json!(true));
    // And the one after that is served from the cache.
    g.git_ok(&["ls-remote", &url]);
    assert_eq!(g.token_requests().len(), 2);
    g.env.assert_no_secret_in_files();
}

#[test]
fn real_git_with_an_acrs_challenge_a_refresh_token_cannot_meet() {
    // A person's sign-in; the resource then demands authentication context c1.
    let g = Git::new();
    let mut env = g.env;
    env.set_env("AZURE_CLIENT_SECRET", "");
    env.set_env("AZURE_CLIENT_ID", "");
    let g = Git { env, ..g };
    login(&g.env);
    let url = g.url();
    g.git_ok(&["ls-remote", &url]);
    let n = g.token_requests().len();
    repos::cae_revoke_issued_tokens(g.env.state(), Some("c1"));
    let failed = g.git(&["ls-remote", &url]);
    assert_ne!(failed.code, 0);
    assert_eq!(g.token_requests().len(), n);
    // Next command: the kept challenge is asked of the refresh token, which cannot meet it
    // (no one can answer here): the helper's one line says what to run.
    let failed = g.git(&["ls-remote", &url]);
    assert_ne!(failed.code, 0);
    assert!(failed.stderr.contains("AADSTS50076"), "{}", failed.stderr);
    assert!(
        failed.stderr.contains("entra-cred token"),
        "{}",
        failed.stderr
    );
    let reqs = g.token_requests();
    assert_eq!(reqs.len(), n + 1);
    assert_eq!(
        claims_of(&reqs[n]).expect("claims")["access_token"]["acrs"],
        json!({"essential": true, "value": "c1"})
    );
}
