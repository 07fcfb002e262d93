//! Zero-secret CI: the real clients (git clone/push, skopeo inspect, kubectl get, boto3) inside a
//! simulated GitHub Actions job and a simulated Azure Pipelines job, with nothing configured
//! but the variables those CIs set (and the application's client and tenant ids); and Azure Arc
//! managed identity through its challenge file.
//!
//! What every scenario proves, against the emulator's OIDC endpoints (tokens live 5 seconds) and
//! its Entra (which accepts a CI assertion only if that endpoint minted it and it has not
//! expired, with no clock skew):
//! - the n-th `client_assertion` Entra receives is exactly the n-th token the OIDC endpoint
//!   minted: one fresh OIDC token per Entra request, a second scope included;
//! - a job that runs past the OIDC token's lifetime keeps working;
//! - no OIDC token or request token appears in any file under the test's HOME, config and cache
//!   directories, on stderr (at `ENTRA_CRED_LOG=debug`) or on stdout.

use e2e::emulator::services::{acr as emu_acr, arc, ci, kube, repos};
use e2e::emulator::DEFAULT_TENANT;
use e2e::{bin, run, Endpoint, Fault, Options, RunOutput, TestEnv};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);
const APP: &str = "5c1e2d3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f";
const TENANT: &str = DEFAULT_TENANT;
const CONNECTION: &str = "3f2b0c1d-7e8f-4a5b-9c6d-1e2f3a4b5c6d";
const ORG: &str = "org1";
const AWS_SCOPE: &str = "api://aws-federation/.default";
/// Access tokens (and ACR refresh tokens) that live less than the 5-minute refresh margin: every
/// helper call asks Entra again, so every call needs a new OIDC token.
const SHORT_LIFETIME: u64 = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ci {
    GitHub,
    Pipelines,
}

impl Ci {
    fn kind(self) -> ci::Kind {
        match self {
            Ci::GitHub => ci::Kind::GitHub,
            Ci::Pipelines => ci::Kind::Pipelines,
        }
    }
}

/// An environment with short-lived tokens, `ENTRA_CRED_LOG=debug`, and the variables of a `ci`
/// job whose application `APP` trusts that CI's tokens (a federated credential).
fn ci_env(ci: Ci) -> TestEnv {
    let mut env = TestEnv::with_options(Options {
        token_lifetime: SHORT_LIFETIME,
        ..Options::default()
    });
    federate(&mut env, ci);
    env.set_env("ENTRA_CRED_LOG", "debug");
    env
}

fn federate(env: &mut TestEnv, ci: Ci) {
    let base = env.emu().url(ci::NAME).expect("ci listener");
    match ci {
        Ci::GitHub => {
            env.state()
                .add_federated_credential(APP, ci::GITHUB_ISSUER, ci::GITHUB_SUBJECT);
            let rt = env.state().github_request_token();
            for (k, v) in [
                ("GITHUB_ACTIONS", "true".to_string()),
                ("CI", "true".into()),
                ("ACTIONS_ID_TOKEN_REQUEST_URL", ci::github_url(&base)),
                ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", rt),
                ("AZURE_CLIENT_ID", APP.into()),
                ("AZURE_TENANT_ID", TENANT.into()),
            ] {
                env.set_env(k, &v);
            }
        }
        Ci::Pipelines => {
            let sub = env
                .state()
                .add_service_connection(CONNECTION, "entra-cred-e2e");
            env.state()
                .add_federated_credential(APP, &ci::pipelines_issuer(), &sub);
            let at = env.state().pipelines_access_token();
            for (k, v) in [
                ("TF_BUILD", "True".to_string()),
                ("SYSTEM_OIDCREQUESTURI", ci::pipelines_uri(&base)),
                ("SYSTEM_ACCESSTOKEN", at),
                ("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID", CONNECTION.into()),
                ("AZURESUBSCRIPTION_CLIENT_ID", APP.into()),
                ("AZURESUBSCRIPTION_TENANT_ID", TENANT.into()),
            ] {
                env.set_env(k, &v);
            }
        }
    }
}

/// Every Entra token request used, as its `client_assertion`, exactly the OIDC token minted for
/// it: the n-th request the n-th token, each accepted (so unexpired) once. Returns the count.
#[track_caller]
fn assertions_match(env: &TestEnv, ci: Ci) -> usize {
    let sent: Vec<String> = env
        .state()
        .requests_for(Endpoint::Token)
        .iter()
        .map(|r| {
            assert_eq!(r.param("grant_type"), Some("client_credentials"));
            assert_eq!(r.param("client_id"), Some(APP));
            assert_eq!(
                r.param("client_assertion_type"),
                Some(e2e::emulator::JWT_BEARER)
            );
            assert!(r.param("client_secret").is_none());
            r.param("client_assertion").unwrap_or("").to_string()
        })
        .collect();
    let minted = env.state().ci_minted();
    assert!(minted.iter().all(|m| m.kind == ci.kind()), "{minted:?}");
    assert!(
        minted.iter().all(|m| m.aud == "api://AzureADTokenExchange"),
        "audience"
    );
    let tokens: Vec<String> = minted.iter().map(|m| m.token.clone()).collect();
    assert_eq!(sent.len(), tokens.len(), "one OIDC token per Entra request");
    assert!(
        sent == tokens,
        "the assertions are the minted tokens, in order"
    );
    assert!(
        env.state().ci_redeemed() == tokens,
        "Entra accepted each once"
    );
    let mut jtis: Vec<&str> = minted.iter().map(|m| m.jti.as_str()).collect();
    jtis.sort();
    jtis.dedup();
    assert_eq!(jtis.len(), minted.len(), "unique jti");
    sent.len()
}

/// The CI secrets: every OIDC token minted and both request tokens.
fn ci_secrets(env: &TestEnv) -> Vec<String> {
    let mut s: Vec<String> = env
        .state()
        .ci_minted()
        .into_iter()
        .map(|m| m.token)
        .collect();
    s.push(env.state().github_request_token());
    s.push(env.state().pipelines_access_token());
    s
}

fn leaked<'a>(text: &str, secrets: &'a [String]) -> Option<&'a String> {
    secrets.iter().find(|s| {
        let sig = s.rsplit('.').next().unwrap_or("");
        text.contains(s.as_str()) || (sig.len() >= 20 && text.contains(sig))
    })
}

/// No CI secret in any file under the test's root (HOME, config, cache, repositories), on the
/// outputs' stderr or stdout; and no issued secret at all on stderr or in a file outside the
/// cache.
#[track_caller]
fn hygiene(env: &TestEnv, outs: &[&RunOutput]) {
    let secrets = ci_secrets(env);
    for o in outs {
        for (name, text) in [("stderr", &o.stderr), ("stdout", &o.stdout)] {
            if let Some(s) = leaked(text, &secrets) {
                panic!("a CI token ({}...) on {name}", &s[..8]);
            }
        }
        env.assert_clean_stderr(o);
    }
    let files = e2e::walk(env.root());
    assert!(
        files.iter().any(|f| f.starts_with(env.cache_dir())),
        "the cache was written"
    );
    for f in files {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap_or_default()).into_owned();
        if let Some(s) = leaked(&text, &secrets) {
            panic!("a CI token ({}...) in {}", &s[..8], f.display());
        }
    }
    env.assert_no_secret_in_files();
}

/// Waits until every OIDC token minted so far has expired.
fn outlive_oidc_tokens(env: &TestEnv) {
    let last = env
        .state()
        .ci_minted()
        .iter()
        .map(|m| m.exp)
        .max()
        .unwrap_or(0);
    while entra_emulator::util::now_secs() <= last {
        std::thread::sleep(Duration::from_millis(200));
    }
    // The short-lived Entra tokens of the first round are served for a few seconds after
    // they were fetched (the engine's single flight): make them a minute old, so that the
    // second round asks Entra again, with new OIDC tokens.
    e2e::age_cache(&env.cache_dir(), 60);
}

fn entra_cred_token(env: &TestEnv, scope: &str) -> RunOutput {
    run(
        env.cmd("entra-cred")
            .args(["token", "--scope", scope, "--output", "json"]),
        None,
        T,
    )
}

// ----- the clients -----------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Client {
    Git,
    Skopeo,
    Kubectl,
    Boto3,
}

/// Prepares `env` for `client` (a repository, a registry, a kubeconfig, an AWS config).
fn prepare(env: &mut TestEnv, client: Client) {
    match client {
        Client::Git => {
            let base = env.emu().url(repos::NAME).expect("repos");
            env.set_env("ENTRA_CRED_GIT_HOSTS", base.trim_start_matches("http://"));
            env.set_env("GIT_TERMINAL_PROMPT", "0");
            repos::set_org_tenant(env.state(), ORG, TENANT);
            e2e::serve_azure_repo(env, ORG, "entra");
        }
        Client::Skopeo => {
            let reg = registry(env);
            emu_acr::set_lifetimes(env.state(), SHORT_LIFETIME, SHORT_LIFETIME);
            env.set_env("ENTRA_CRED_ACR_HOSTS", &reg);
            let docker_dir = env.home().join(".docker");
            std::fs::create_dir_all(&docker_dir).expect("mkdir");
            let cfg = serde_json::json!({"credHelpers": {reg: "entra"}});
            std::fs::write(docker_dir.join("config.json"), cfg.to_string()).expect("write");
            let conf = env.root().join("registries.conf");
            std::fs::write(&conf, "").expect("write");
            env.set_env("DOCKER_CONFIG", &docker_dir.to_string_lossy());
            let auth = env.root().join("no-auth.json");
            env.set_env("REGISTRY_AUTH_FILE", &auth.to_string_lossy());
            env.set_env("CONTAINERS_REGISTRIES_CONF", &conf.to_string_lossy());
        }
        Client::Kubectl => {
            let text = e2e::kubeconfig_yaml(
                env,
                "client.authentication.k8s.io/v1",
                "kubectl-entra",
                &["--server-id", kube::AKS_SERVER_ID],
                "Never",
            );
            let p = env.home().join(".kube").join("config");
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, text).expect("write");
            env.set_env("KUBECONFIG", &p.to_string_lossy());
        }
        Client::Boto3 => {
            let aws = env.home().join(".aws");
            std::fs::create_dir_all(&aws).expect("mkdir");
            std::fs::write(aws.join("credentials"), "").expect("write");
            std::fs::write(
                aws.join("config"),
                format!(
                    "[profile ci]\nregion = us-east-1\ncredential_process = \"{}\" --scope {AWS_SCOPE}\n",
                    bin("entra-credential-process").display()
                ),
            )
            .expect("write");
            for (k, v) in [
                ("AWS_CONFIG_FILE", aws.join("config")),
                ("AWS_SHARED_CREDENTIALS_FILE", aws.join("credentials")),
            ] {
                env.set_env(k, &v.to_string_lossy());
            }
            env.set_env("AWS_EC2_METADATA_DISABLED", "true");
            env.set_env("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
        }
    }
}

fn registry(env: &TestEnv) -> String {
    env.emu()
        .url(emu_acr::NAME)
        .expect("acr")
        .trim_start_matches("http://")
        .to_string()
}

fn git(env: &TestEnv, dir: &Path, args: &[&str]) -> RunOutput {
    let mut c = env.tool("git");
    c.current_dir(dir).args(args);
    run(&mut c, None, T)
}

fn python() -> PathBuf {
    let out = Command::new("python3")
        .args(["-c", "import sys, boto3; print(sys.executable)"])
        .output()
        .expect("python3 with boto3 is needed for these tests");
    assert!(out.status.success(), "python3 cannot import boto3");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

const BOTO3: &str = r#"
import json, sys, boto3
f = boto3.Session(profile_name="ci").get_credentials().get_frozen_credentials()
print(json.dumps({"access_key": f.access_key, "token": f.token}))
"#;

/// One use of the client (`round` tells runs apart); returns its outputs, all successful, with
/// the service's check of the token done.
fn use_client(env: &TestEnv, client: Client, round: usize) -> Vec<RunOutput> {
    match client {
        Client::Git => {
            let url = format!(
                "{}/{ORG}/proj/_git/repo",
                env.emu().url(repos::NAME).expect("repos")
            );
            let dir = format!("work{round}");
            let clone = git(env, env.root(), &["clone", "-q", &url, &dir]).ok();
            let work = env.root().join(&dir);
            std::fs::write(work.join(format!("ci-{round}.txt")), "built\n").expect("write");
            git(env, &work, &["add", "."]).ok();
            git(env, &work, &["commit", "-qm", &format!("ci round {round}")]).ok();
            let push = git(env, &work, &["push", "-q", "origin", "HEAD:main"]).ok();
            let log = git(
                env,
                env.root(),
                &[
                    "--git-dir",
                    &env.root()
                        .join("repos/org1/proj/repo.git")
                        .to_string_lossy(),
                    "log",
                    "--format=%s",
                    "-1",
                ],
            )
            .ok();
            assert_eq!(log.stdout.trim(), format!("ci round {round}"));
            vec![clone, push]
        }
        Client::Skopeo => {
            let out = run(
                env.tool("skopeo").args([
                    "inspect",
                    "--tls-verify=false",
                    &format!("docker://{}/app:v1", registry(env)),
                ]),
                None,
                T,
            )
            .ok();
            let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
            assert_eq!(v["Digest"], emu_acr::image().manifest_digest.as_str());
            vec![out]
        }
        Client::Kubectl => {
            let out = run(
                env.cmd("kubectl").args([
                    "--request-timeout=20s",
                    "get",
                    "namespaces",
                    "-o",
                    "name",
                ]),
                None,
                T,
            )
            .ok();
            let names: Vec<&str> = out.stdout.lines().collect();
            assert_eq!(names.len(), kube::NAMESPACES.len(), "{}", out.stdout);
            vec![out]
        }
        Client::Boto3 => {
            let mut c = env.tool(&python().to_string_lossy());
            c.args(["-c", BOTO3]);
            let out = run(&mut c, None, T).ok();
            let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).expect("json");
            let token = v["token"].as_str().expect("token");
            let claims = env
                .state()
                .verify_access_token(token, "api://aws-federation", Some(TENANT))
                .expect("an Entra token for the AWS scope");
            assert_eq!(claims.appid, APP);
            vec![out]
        }
    }
}

/// The whole job: the client, a token for another scope, a pause past the OIDC tokens' life,
/// the client again; then the checks of the module docs.
fn job(ci: Ci, client: Client) {
    let mut env = ci_env(ci);
    prepare(&mut env, client);
    let (src, why) = status(&env);
    assert_eq!(
        src,
        match ci {
            Ci::GitHub => "github-actions",
            Ci::Pipelines => "azure-pipelines",
        },
        "{why}"
    );

    let mut outs = use_client(&env, client, 1);
    let first = assertions_match(&env, ci);
    assert!(first >= 1, "the client went through Entra");

    // Another scope: a new OIDC token for its own Entra request.
    let other = entra_cred_token(&env, "api://ci-other-scope/.default").ok();
    assert!(
        other.stderr.contains("[debug]") && other.stderr.contains("a new OIDC token"),
        "debug diagnostics were on: {}",
        other.stderr
    );
    assert_eq!(assertions_match(&env, ci), first + 1);
    outs.push(other);

    // The job goes on past the OIDC tokens' 5-second life: new ones are fetched.
    outlive_oidc_tokens(&env);
    outs.extend(use_client(&env, client, 2));
    let total = assertions_match(&env, ci);
    assert!(
        total > first + 1,
        "the second round went through Entra again"
    );

    let refs: Vec<&RunOutput> = outs.iter().collect();
    hygiene(&env, &refs);
}

fn status(env: &TestEnv) -> (String, String) {
    let out = run(
        env.cmd("entra-cred").args(["status", "--output", "json"]),
        None,
        T,
    )
    .ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    let p = &v["profiles"][0];
    (
        p["source"].as_str().unwrap_or("").to_string(),
        p["reason"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn github_actions_git_clone_and_push() {
    job(Ci::GitHub, Client::Git);
}

#[test]
fn azure_pipelines_git_clone_and_push() {
    job(Ci::Pipelines, Client::Git);
}

#[test]
fn github_actions_skopeo_inspect() {
    job(Ci::GitHub, Client::Skopeo);
}

#[test]
fn azure_pipelines_skopeo_inspect() {
    job(Ci::Pipelines, Client::Skopeo);
}

#[test]
fn github_actions_kubectl_get() {
    job(Ci::GitHub, Client::Kubectl);
}

#[test]
fn azure_pipelines_kubectl_get() {
    job(Ci::Pipelines, Client::Kubectl);
}

#[test]
fn github_actions_boto3() {
    job(Ci::GitHub, Client::Boto3);
}

#[test]
fn azure_pipelines_boto3() {
    job(Ci::Pipelines, Client::Boto3);
}

// ----- what the request looks like ------------------------------------------------------------

#[test]
fn oidc_requests_are_what_the_cis_expect() {
    let env = ci_env(Ci::GitHub);
    env.state().set_ci_token_lifetime(300);
    entra_cred_token(&env, "https://management.azure.com/.default").ok();
    let r = &env.state().requests_for(Endpoint::GithubOidc)[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.param("api-version"), Some("2.0"));
    assert_eq!(r.param("audience"), Some("api://AzureADTokenExchange"));
    let auth = r.header("authorization").unwrap_or("");
    assert_eq!(
        auth,
        format!("bearer {}", env.state().github_request_token())
    );
    // federated_audience changes the audience asked (e.g. national clouds).
    env.write_config(
        "[profiles.default]\nfederated_audience = \"api://AzureADTokenExchangeUSGov\"\n",
    );
    let out = entra_cred_token(&env, "api://usgov/.default").code_is(1);
    let r = &env.state().requests_for(Endpoint::GithubOidc)[1];
    assert_eq!(r.param("audience"), Some("api://AzureADTokenExchangeUSGov"));
    assert!(out.stderr.contains("AADSTS700212"), "{}", out.stderr);
    assert!(out.stderr.contains("docs/ci.md"), "{}", out.stderr);

    let env = ci_env(Ci::Pipelines);
    entra_cred_token(&env, "https://management.azure.com/.default").ok();
    let r = &env.state().requests_for(Endpoint::PipelinesOidc)[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.param("api-version"), Some("7.1"));
    assert_eq!(r.param("serviceConnectionId"), Some(CONNECTION));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-tfs-fedauthredirect"), Some("Suppress"));
    let auth = r.header("authorization").unwrap_or("");
    assert_eq!(
        auth,
        format!("Bearer {}", env.state().pipelines_access_token())
    );
    // The token request used the ids of AZURESUBSCRIPTION_* and the tenant in the URL.
    let t = &env.state().requests_for(Endpoint::Token)[0];
    assert_eq!(t.param("client_id"), Some(APP));
    assert!(t.path.starts_with(&format!("/{TENANT}/")), "{}", t.path);
}

// ----- failures --------------------------------------------------------------------------------

/// One stderr line naming `what`, this exit code, nothing sent anywhere, no secret shown.
#[track_caller]
fn fails(env: &TestEnv, out: &RunOutput, code: i32, what: &[&str]) {
    assert_eq!(out.code, code, "stderr: {}", out.stderr);
    assert_eq!(out.stderr.trim_end().lines().count(), 1, "{:?}", out.stderr);
    for w in what {
        assert!(out.stderr.contains(w), "should name {w:?}: {}", out.stderr);
    }
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let secrets = ci_secrets(env);
    assert!(leaked(&out.stderr, &secrets).is_none(), "{}", out.stderr);
    env.assert_clean_stderr(out);
}

fn helper_process(env: &TestEnv) -> RunOutput {
    run(
        env.cmd("entra-credential-process")
            .args(["--scope", AWS_SCOPE]),
        None,
        T,
    )
}

#[test]
fn a_missing_variable_is_exit_2_naming_it() {
    // GitHub: the request token is not there (a workflow without `id-token: write` has neither).
    let mut env = TestEnv::new();
    federate(&mut env, Ci::GitHub);
    env.set_env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "");
    let out = entra_cred_token(&env, "api://x/.default");
    fails(&env, &out, 2, &["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]);
    let out = helper_process(&env);
    fails(&env, &out, 2, &["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]);
    env.set_env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "x");
    env.set_env("ACTIONS_ID_TOKEN_REQUEST_URL", "");
    let out = entra_cred_token(&env, "api://x/.default");
    fails(&env, &out, 2, &["ACTIONS_ID_TOKEN_REQUEST_URL"]);
    env.set_env("AZURE_TENANT_ID", "");
    let out = entra_cred_token(&env, "api://x/.default");
    fails(&env, &out, 2, &["AZURE_TENANT_ID"]);
    // A forced flow without the application's client id.
    let mut env = TestEnv::new();
    env.write_config("[profiles.default]\nflow = \"github-actions\"\n");
    let out = entra_cred_token(&env, "api://x/.default");
    fails(&env, &out, 2, &["AZURE_CLIENT_ID"]);
    federate(&mut env, Ci::GitHub);
    env.set_env(
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "http://ci.example.invalid/idtoken?api-version=2.0",
    );
    let out = entra_cred_token(&env, "api://x/.default");
    fails(&env, &out, 2, &["ACTIONS_ID_TOKEN_REQUEST_URL", "loopback"]);
    assert_eq!(env.state().count(Endpoint::Any), 0, "nothing was sent");

    // Azure Pipelines: the access token is not mapped into the step.
    let mut env = TestEnv::new();
    federate(&mut env, Ci::Pipelines);
    env.set_env("SYSTEM_ACCESSTOKEN", "");
    let out = entra_cred_token(&env, "api://x/.default");
    fails(
        &env,
        &out,
        2,
        &["SYSTEM_ACCESSTOKEN", "$(System.AccessToken)"],
    );
    let out = helper_process(&env);
    fails(&env, &out, 2, &["SYSTEM_ACCESSTOKEN"]);
    // Forced flow: no service connection, no request URI, no client id.
    env.set_env("SYSTEM_ACCESSTOKEN", "x");
    env.write_config("[profiles.default]\nflow = \"azure-pipelines\"\n");
    env.set_env("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID", "");
    let out = entra_cred_token(&env, "api://x/.default");
    fails(&env, &out, 2, &["AZURESUBSCRIPTION_SERVICE_CONNECTION_ID"]);
    env.set_env("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID", CONNECTION);
    env.set_env("SYSTEM_OIDCREQUESTURI", "");
    let out = entra_cred_token(&env, "api://x/.default");
    fails(&env, &out, 2, &["SYSTEM_OIDCREQUESTURI"]);
    env.set_env("AZURESUBSCRIPTION_TENANT_ID", "");
    let out = entra_cred_token(&env, "api://x/.default");
    fails(&env, &out, 2, &["AZURESUBSCRIPTION_TENANT_ID"]);
    env.set_env("AZURESUBSCRIPTION_CLIENT_ID", "");
    let out = entra_cred_token(&env, "api://x/.default");
    fails(&env, &out, 2, &["AZURESUBSCRIPTION_CLIENT_ID"]);
    assert_eq!(env.state().count(Endpoint::Any), 0, "nothing was sent");
}

#[test]
fn a_refusing_oidc_endpoint_is_one_line_with_its_status() {
    let mut env = TestEnv::new();
    federate(&mut env, Ci::GitHub);
    env.set_env(
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "stale-request-token-value",
    );
    let out = entra_cred_token(&env, "api://x/.default");
    fails(
        &env,
        &out,
        1,
        &[
            "GitHub Actions OIDC",
            "HTTP 401",
            "TF400813",
            "id-token: write",
        ],
    );
    assert!(!out.stderr.contains("stale-request-token-value"));
    federate(&mut env, Ci::GitHub);
    env.emu().inject(
        Fault::status(Endpoint::GithubOidc, 403)
            .body(r#"{"message":"Resource not accessible by integration"}"#),
    );
    let out = helper_process(&env);
    fails(
        &env,
        &out,
        1,
        &["HTTP 403", "Resource not accessible by integration"],
    );
    // A server error is retried, then reported with its status (exit 5).
    env.emu()
        .inject(Fault::status(Endpoint::GithubOidc, 503).times(20));
    env.set_env("ENTRA_CRED_HTTP_TIMEOUT", "2");
    let out = entra_cred_token(&env, "api://y/.default");
    fails(&env, &out, 5, &["HTTP 503"]);
    assert_eq!(env.state().count(Endpoint::Token), 0, "Entra was not asked");

    let mut env = TestEnv::new();
    federate(&mut env, Ci::Pipelines);
    env.set_env(
        "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID",
        "0000-unknown-connection",
    );
    let out = entra_cred_token(&env, "api://x/.default");
    fails(
        &env,
        &out,
        1,
        &[
            "Azure Pipelines OIDC",
            "HTTP 400",
            "0000-unknown-connection was not found",
        ],
    );
    env.set_env("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID", CONNECTION);
    env.set_env("SYSTEM_ACCESSTOKEN", "expired-job-access-token");
    let out = entra_cred_token(&env, "api://x/.default");
    fails(
        &env,
        &out,
        1,
        &["HTTP 401", "TF400813", "System.AccessToken"],
    );
    assert!(!out.stderr.contains("expired-job-access-token"));
    assert_eq!(env.state().count(Endpoint::Token), 0, "Entra was not asked");
}

#[test]
fn an_expired_or_foreign_assertion_is_refused_by_entra() {
    // What a client that kept an OIDC token would meet: the emulator's Entra refuses it, so the
    // jobs above prove that each Entra request carried a fresh one.
    let mut env = ci_env(Ci::GitHub);
    entra_cred_token(&env, "api://first/.default").ok();
    let old = env.state().ci_minted()[0].token.clone();
    outlive_oidc_tokens(&env);
    let file = env.root().join("kept-oidc-token");
    std::fs::write(&file, &old).expect("write");
    // Sent as it was (a federated token file comes before GitHub in `auto`).
    env.set_env("AZURE_FEDERATED_TOKEN_FILE", &file.to_string_lossy());
    let out = entra_cred_token(&env, "api://second/.default").code_is(1);
    assert!(out.stderr.contains("AADSTS700024"), "{}", out.stderr);
    // One with GitHub's issuer that GitHub did not issue.
    let (_, claims) = entra_emulator::jwt::decode_unverified(&old).expect("jwt");
    let mut claims = claims;
    claims["exp"] = serde_json::json!(entra_emulator::util::now_secs() + 600);
    std::fs::write(&file, env.state().sign(&claims)).expect("write");
    let out = entra_cred_token(&env, "api://third/.default").code_is(1);
    assert!(out.stderr.contains("AADSTS700027"), "{}", out.stderr);
    assert_eq!(env.state().ci_redeemed().len(), 1);
}

#[test]
fn auto_order_around_ci_federation() {
    let mut env = TestEnv::new();
    federate(&mut env, Ci::GitHub);
    federate(&mut env, Ci::Pipelines);
    let file = env.root().join("federated-token");
    std::fs::write(&file, "a.b.c").expect("write");
    env.set_env("AZURE_FEDERATED_TOKEN_FILE", &file.to_string_lossy());
    assert_eq!(status(&env).0, "workload-identity");
    env.set_env("AZURE_FEDERATED_TOKEN_FILE", "");
    let (src, why) = status(&env);
    assert_eq!(src, "github-actions", "{why}");
    env.set_env("ACTIONS_ID_TOKEN_REQUEST_URL", "");
    env.set_env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "");
    let (src, why) = status(&env);
    assert_eq!(src, "azure-pipelines", "{why}");
    // Before managed identity, even when App Service's variables are set.
    env.set_env("IDENTITY_ENDPOINT", "http://127.0.0.1:9/msi/token");
    env.set_env("IDENTITY_HEADER", "h");
    assert_eq!(status(&env).0, "azure-pipelines");
    // A pipeline job without a service connection: not taken for one.
    env.set_env("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID", "");
    assert_eq!(status(&env).0, "managed-identity");

    // A GitHub job that may request OIDC tokens for something else (npm provenance), with no
    // application configured: not federation.
    let mut env = TestEnv::new();
    federate(&mut env, Ci::GitHub);
    env.set_env("AZURE_CLIENT_ID", "");
    assert_eq!(status(&env).0, "device-code");
    assert_eq!(env.state().count(Endpoint::Any), 0);
}

// ----- Azure Arc -------------------------------------------------------------------------------

fn arc_env() -> (TestEnv, PathBuf) {
    let mut env = TestEnv::new();
    let dir = env.root().join("arc-tokens");
    std::fs::create_dir(&dir).expect("mkdir");
    env.state().set_arc_tokens_dir(&dir);
    let base = env.emu().url(arc::NAME).expect("arc");
    env.set_env("IDENTITY_ENDPOINT", &arc::identity_endpoint(&base));
    env.set_env("IMDS_ENDPOINT", &base);
    env.set_env("ENTRA_CRED_ARC_TOKENS_DIR", &dir.to_string_lossy());
    (env, dir)
}

#[test]
fn azure_arc_token_through_the_challenge() {
    let (mut env, dir) = arc_env();
    let (src, why) = status(&env);
    assert_eq!(src, "managed-identity");
    assert!(why.contains("Azure Arc"), "{why}");
    env.set_env("ENTRA_CRED_LOG", "debug");
    let out = entra_cred_token(&env, "https://management.azure.com/.default").ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    let c = env
        .state()
        .verify_access_token(
            v["access_token"].as_str().expect("token"),
            "https://management.azure.com",
            None,
        )
        .expect("valid");
    assert_eq!(c.appid, arc::ARC_CLIENT_ID);
    let r = env.state().requests_for(Endpoint::Arc);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].header("authorization"), None);
    assert_eq!(r[0].param("api-version"), Some("2019-11-01"));
    assert_eq!(r[0].header("metadata"), Some("true"));
    let keys = env.state().arc_keys();
    assert_eq!(keys.len(), 1);
    assert_eq!(
        r[1].header("authorization"),
        Some(format!("Basic {}", keys[0]).as_str())
    );
    env.assert_clean_stderr(&out);
    // The key is in the agent's file only (and the token in the cache only).
    let secrets = env.secrets();
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    for f in e2e::walk(env.root()) {
        if f.starts_with(&dir) || f.starts_with(env.cache_dir()) {
            continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap_or_default()).into_owned();
        e2e::assert_no_secret(&text, &refs);
    }
    let cached: String = e2e::walk(&env.cache_dir())
        .iter()
        .map(|f| String::from_utf8_lossy(&std::fs::read(f).unwrap_or_default()).into_owned())
        .collect();
    assert!(!cached.contains(&keys[0]), "the Arc key is not kept");
    // The cache serves the next call; the IMDS probe never ran.
    entra_cred_token(&env, "https://management.azure.com/.default").ok();
    assert_eq!(env.state().count(Endpoint::Arc), 2);
    assert_eq!(env.state().count(Endpoint::Imds), 0);
}

#[test]
fn azure_arc_refuses_challenge_files_it_must_not_read() {
    let (env, dir) = arc_env();
    let elsewhere = env.root().join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("mkdir");
    let outside = elsewhere.join("outside.key");
    std::fs::write(&outside, "outside-file-secret-content").expect("write");
    let big = dir.join("big.key");
    std::fs::write(&big, "L".repeat(4097)).expect("write");
    let link = dir.join("link.key");
    std::os::unix::fs::symlink(&outside, &link).expect("symlink");
    let txt = dir.join("note.txt");
    std::fs::write(&txt, "txt-file-secret-content").expect("write");
    let dotted = format!("{}/../elsewhere/outside.key", dir.display());
    let cases: Vec<(String, &str)> = vec![
        (outside.to_string_lossy().into_owned(), "not directly in"),
        (big.to_string_lossy().into_owned(), "4097 bytes"),
        (link.to_string_lossy().into_owned(), "symbolic link"),
        (txt.to_string_lossy().into_owned(), ".key"),
        (dotted, "'..'"),
        ("relative/x.key".into(), "absolute"),
    ];
    for (i, (path, why)) in cases.iter().enumerate() {
        env.state().set_arc_challenge_path(Some(path));
        let out = entra_cred_token(&env, &format!("api://arc-{i}/.default"));
        fails(&env, &out, 1, &[path.as_str(), why, "nothing was sent"]);
        for content in [
            "outside-file-secret-content",
            "txt-file-secret-content",
            "LLLLLLLL",
        ] {
            assert!(!out.stderr.contains(content), "{}", out.stderr);
        }
    }
    // The endpoint only ever saw the first, unauthenticated request of each attempt.
    let r = env.state().requests_for(Endpoint::Arc);
    assert_eq!(r.len(), cases.len());
    assert!(r.iter().all(|r| r.header("authorization").is_none()));
    assert_eq!(env.state().count(Endpoint::Token), 0);
}
