//! Mixed concurrency: 200 helper processes of every kind at once on one cache and one emulator,
//! after a single device-code `entra-cred login`:
//!
//! - `git-credential-entra get` for the emulated Azure Repos host (stdin as git writes it, with
//!   the 401's `wwwauth[]`, so the token is asked at the organisation's tenant);
//! - `docker-credential-entra get` for the emulated registry (Entra token -> ACR exchange);
//! - `kubectl-entra --server-id AKS` with `KUBERNETES_EXEC_INFO`;
//! - `entra-credential-process` in token mode and in federation mode (Entra token -> STS);
//! - `entra-cred token` for the scope the AWS helper also uses, and for one of its own.
//!
//! Every process succeeds; every process of one (scope, tenant) prints the same token, and
//! token-mode `SessionToken` is the very token `entra-cred token` prints for that scope; Entra
//! sees exactly one request per (scope, tenant), the registry one exchange and STS one
//! `AssumeRoleWithWebIdentity`.

use e2e::emulator::services::repos::{DEVOPS_AUDIENCE, REPOS_TENANT};
use e2e::emulator::services::{acr as emu_acr, kube, sts};
use e2e::{run, spawn_many_with_input, Endpoint, RunOutput, TestEnv};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

/// Per process (200 at once on 2 cores, debug build).
const T: Duration = Duration::from_secs(120);
const N: usize = 200;
const VAULT: &str = "https://vault.azure.net/.default";
const FED: &str = "api://aws-federation/.default";
const ACR: &str = "https://containerregistry.azure.net/.default";
const DEVOPS: &str = "499b84ac-1321-427f-aa17-267ca6975798/.default";
const EXEC_INFO: &str = r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}"#;

/// The scopes this test asks Entra for (the login's own ARM token is not among them).
fn aks() -> String {
    format!("{}/.default", kube::AKS_SERVER_ID)
}

/// A command and what to write to its stdin.
type Invocation = (Command, Option<Vec<u8>>);

struct Mix {
    env: TestEnv,
    /// `127.0.0.1:<port>` of the registry.
    reg: String,
    /// `127.0.0.1:<port>` of Azure Repos.
    repos: String,
}

/// One kind of helper process: how to start it, which result group it belongs to (processes
/// of a group must print the same credential), and how to read that credential.
struct Kind {
    label: &'static str,
    group: &'static str,
    make: fn(&Mix) -> Invocation,
    value: fn(&str) -> String,
}

fn json(s: &str) -> Value {
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {s:?}"))
}

fn line_value(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key}= in {out:?}"))
        .to_string()
}

fn kinds() -> Vec<Kind> {
    vec![
        Kind {
            label: "git-credential-entra get",
            group: "devops@repos-tenant",
            make: |m| {
                let mut c = m.env.cmd("git-credential-entra");
                c.arg("get");
                let input = format!(
                    "capability[]=authtype\ncapability[]=state\nprotocol=http\nhost={}\npath=org1/proj/_git/repo\n\
                     wwwauth[]=Bearer authorization_uri={}/{REPOS_TENANT}\nwwwauth[]=Basic realm=\"http://{}/\"\nwwwauth[]=TFS-Federated\n\n",
                    m.repos,
                    m.env.emu().entra_url(),
                    m.repos
                );
                (c, Some(input.into_bytes()))
            },
            value: |o| line_value(o, "credential"),
        },
        Kind {
            label: "docker-credential-entra get",
            group: "acr",
            make: |m| {
                let mut c = m.env.cmd("docker-credential-entra");
                c.arg("get");
                (c, Some(m.reg.clone().into_bytes()))
            },
            value: |o| {
                let v = json(o);
                assert_eq!(v["Username"], emu_acr::ACR_USERNAME);
                v["Secret"].as_str().expect("Secret").to_string()
            },
        },
        Kind {
            label: "kubectl-entra",
            group: "aks",
            make: |m| {
                let mut c = m.env.cmd("kubectl-entra");
                c.args(["--server-id", kube::AKS_SERVER_ID])
                    .env("KUBERNETES_EXEC_INFO", EXEC_INFO);
                (c, None)
            },
            value: |o| {
                let v = json(o);
                assert_eq!(v["apiVersion"], "client.authentication.k8s.io/v1");
                v["status"]["token"].as_str().expect("token").to_string()
            },
        },
        Kind {
            label: "entra-credential-process (token mode)",
            group: "fed",
            make: |m| {
                let mut c = m.env.cmd("entra-credential-process");
                c.args(["--scope", FED]);
                (c, None)
            },
            value: |o| {
                let v = json(o);
                assert_eq!(v["Version"], 1);
                v["SessionToken"]
                    .as_str()
                    .expect("SessionToken")
                    .to_string()
            },
        },
        Kind {
            label: "entra-credential-process (federation)",
            group: "sts",
            make: |m| {
                let mut c = m.env.cmd("entra-credential-process");
                c.args(["--role-arn", sts::DEFAULT_ROLE, "--scope", FED]);
                (c, None)
            },
            value: |o| {
                let v = json(o);
                let key = v["AccessKeyId"].as_str().expect("AccessKeyId");
                assert!(key.starts_with("ASIA"), "{key}");
                format!("{key} {}", v["SessionToken"].as_str().expect("token"))
            },
        },
        Kind {
            label: "entra-cred token (AWS scope)",
            group: "fed",
            make: |m| {
                let mut c = m.env.cmd("entra-cred");
                c.args(["token", "--scope", FED]);
                (c, None)
            },
            value: |o| o.trim().to_string(),
        },
        Kind {
            label: "entra-cred token (vault)",
            group: "vault",
            make: |m| {
                let mut c = m.env.cmd("entra-cred");
                c.args(["token", "--scope", VAULT]);
                (c, None)
            },
            value: |o| o.trim().to_string(),
        },
    ]
}

fn setup() -> Mix {
    let mut env = TestEnv::new();
    let reg = env
        .emu()
        .url(emu_acr::NAME)
        .expect("acr")
        .trim_start_matches("http://")
        .to_string();
    let repos = env
        .emu()
        .url("repos")
        .expect("repos")
        .trim_start_matches("http://")
        .to_string();
    let sts_url = env.emu().url(sts::NAME).expect("sts");
    env.set_env("ENTRA_CRED_ACR_HOSTS", &reg);
    env.set_env("ENTRA_CRED_GIT_HOSTS", &repos);
    env.set_env("GIT_TERMINAL_PROMPT", "0");
    env.set_env("AWS_ENDPOINT_URL_STS", &sts_url);
    // Nothing may leave the machine: a closed loopback port catches any other AWS call.
    env.set_env("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
    env.set_env("AWS_EC2_METADATA_DISABLED", "true");
    Mix { env, reg, repos }
}

/// Entra token requests by (scope of ours, tenant of the request path).
fn entra_requests(env: &TestEnv) -> BTreeMap<(String, String), usize> {
    let ours = [VAULT, FED, ACR, DEVOPS, &aks()].map(str::to_string);
    let mut m = BTreeMap::new();
    for r in env.state().requests_for(Endpoint::Token) {
        let asked = r.param("scope").unwrap_or("");
        let scope = ours
            .iter()
            .find(|s| asked.split(' ').any(|w| w == s.as_str()))
            .cloned()
            .unwrap_or_else(|| format!("other: {asked}"));
        let tenant = r
            .path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("")
            .to_string();
        *m.entry((scope, tenant)).or_default() += 1;
    }
    m
}

#[test]
fn two_hundred_mixed_helpers_after_one_login_make_one_request_per_scope_and_tenant() {
    let m = setup();
    let login = run(m.env.cmd("entra-cred").arg("login"), None, T).ok();
    m.env.assert_clean_stderr(&login);
    assert_eq!(m.env.state().count_grant("device_code"), 2, "one sign-in");
    let before = entra_requests(&m.env);
    let tokens_before = m.env.state().count(Endpoint::Token);

    let kinds = kinds();
    let outs: Vec<RunOutput> = spawn_many_with_input(
        N,
        |i| {
            let k = &kinds[i % kinds.len()];
            (k.make)(&m)
        },
        T,
    );

    // All succeed, none leaks, one credential per group.
    let mut groups: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut per_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, o) in outs.iter().enumerate() {
        let k = &kinds[i % kinds.len()];
        assert_eq!(o.code, 0, "{} failed:\n{}", k.label, o.stderr);
        m.env.assert_clean_stderr(o);
        groups
            .entry(k.group)
            .or_default()
            .insert((k.value)(&o.stdout));
        *per_kind.entry(k.label).or_default() += 1;
    }
    for (g, vals) in &groups {
        assert_eq!(
            vals.len(),
            1,
            "processes of group {g} got different credentials"
        );
    }
    let one = |g: &str| groups[g].iter().next().expect("value").clone();
    // Different scopes, different tokens; the AWS helper's token is entra-cred's.
    let entra_tokens: BTreeSet<String> = ["devops@repos-tenant", "aks", "fed", "vault"]
        .iter()
        .map(|g| one(g))
        .collect();
    assert_eq!(entra_tokens.len(), 4, "one token per scope");
    // The tokens are what their servers want.
    let st = m.env.state();
    st.verify_access_token(
        &one("devops@repos-tenant"),
        DEVOPS_AUDIENCE,
        Some(REPOS_TENANT),
    )
    .expect("a DevOps token from the organisation's tenant");
    let aks_claims = st.verify_jwt(&one("aks")).expect("AKS token");
    assert_eq!(aks_claims["aud"], kube::AKS_SERVER_ID);
    let fed_claims = st.verify_jwt(&one("fed")).expect("AWS federation token");
    assert_eq!(fed_claims["aud"], sts::DEFAULT_AUDIENCE);
    let issued = sts::issued(st);
    assert_eq!(issued.len(), 1, "one set of STS credentials");
    assert_eq!(
        one("sts"),
        format!("{} {}", issued[0].access_key_id, issued[0].session_token)
    );

    // Exactly one Entra request per (scope, tenant); one exchange; one STS call.
    let after = entra_requests(&m.env);
    let mut made: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (k, n) in &after {
        let d = n - before.get(k).copied().unwrap_or(0);
        if d > 0 {
            made.insert(k.clone(), d);
        }
    }
    let scopes: BTreeSet<&str> = made.keys().map(|(s, _)| s.as_str()).collect();
    let want = [VAULT, FED, ACR, DEVOPS, &aks()].map(str::to_string);
    assert_eq!(
        scopes,
        want.iter().map(String::as_str).collect::<BTreeSet<&str>>(),
        "Entra requests during the storm: {made:?}"
    );
    assert!(
        made.values().all(|n| *n == 1),
        "more than one request for a (scope, tenant): {made:?}"
    );
    let devops_tenants: Vec<&String> = made
        .keys()
        .filter(|(s, _)| s == DEVOPS)
        .map(|(_, t)| t)
        .collect();
    assert_eq!(
        devops_tenants,
        vec![REPOS_TENANT],
        "git's token at the org's tenant"
    );
    assert_eq!(
        m.env.state().count(Endpoint::Token) - tokens_before,
        made.len() as u64,
        "nothing else was asked of Entra"
    );
    assert_eq!(
        m.env.state().count(Endpoint::AcrExchange),
        1,
        "one ACR exchange"
    );
    assert_eq!(
        sts::count_action(m.env.state(), "AssumeRoleWithWebIdentity"),
        1,
        "one STS call"
    );
    assert_eq!(
        m.env.state().count(Endpoint::DeviceCode),
        1,
        "no second prompt"
    );
    let slowest = outs.iter().map(|o| o.elapsed).max().unwrap_or_default();
    eprintln!(
        "{N} processes of {} kinds ({per_kind:?}): {} Entra requests ({made:?}), 1 exchange, 1 STS call; slowest {slowest:?}",
        kinds.len(),
        made.len()
    );
    m.env.assert_no_secret_in_files();
}
