//! Concurrency: 200 processes at once on one cache, several scopes. Every process succeeds,
//! every process asking for one scope gets the same token, and Entra sees exactly one request
//! per scope: on a cold cache (application credentials) and with every cached token inside the
//! refresh window (a signed-in user's refresh token).

use e2e::{run, spawn_many_with_input, Endpoint, Options, RunOutput, TestEnv};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(120);
const ARM: &str = "https://management.azure.com/.default";
const DEVOPS: &str = "499b84ac-1321-427f-aa17-267ca6975798/.default";
const VAULT: &str = "https://vault.azure.net/.default";
const STORAGE: &str = "https://storage.azure.com/.default";
const APP: &str = "11111111-2222-3333-4444-555555555555";
const APP_SECRET: &str = "app-secret-value-0123456789";

/// A command and what to write to its stdin.
type Invocation = (Command, Option<Vec<u8>>);

/// One kind of process that asks for a token: how to start it (command and stdin), the scope it
/// needs, and how to read the access token from its stdout.
struct Kind {
    label: &'static str,
    scope: &'static str,
    make: fn(&TestEnv, &str) -> Invocation,
    token: fn(&str) -> String,
}

fn entra_cred_token(env: &TestEnv, scope: &str) -> Invocation {
    let mut c = env.cmd("entra-cred");
    c.args(["token", "--scope", scope]);
    (c, None)
}

fn stdout_token(out: &str) -> String {
    out.trim().to_string()
}

/// The kinds in the storm, round-robin over the processes.
///
/// TODO(merge): add the protocol helpers here, one entry each, so the storm mixes helper kinds
/// on one cache (scopes shared with `entra-cred` must still cost one request in all):
/// - `git-credential-entra get`, stdin `protocol=https\nhost=dev.azure.com\npath=org/repo.git\n`,
///   scope DEVOPS, token = the `password=` line;
/// - `kubectl-entra` (env `KUBERNETES_EXEC_INFO`), scope `6dae42f8-4368-4678-94ff-3960e28e3630/.default`,
///   token = `.status.token`;
/// - `entra-credential-process --scope S`, token = `.SessionToken`;
/// - `docker-credential-entra get` (stdin: the registry) also makes one ACR exchange per
///   registry: count `Endpoint::AcrExchange` next to the Entra count.
fn kinds() -> Vec<Kind> {
    [ARM, DEVOPS, VAULT, STORAGE]
        .into_iter()
        .map(|scope| Kind {
            label: "entra-cred token",
            scope,
            make: entra_cred_token,
            token: stdout_token,
        })
        .collect()
}

/// Starts `n` processes (kinds round-robin) at once and checks the outcome: all succeed, one
/// token per scope, and `expected_requests(scope)` Entra requests per scope. Returns the
/// slowest process's wall time.
fn storm(env: &TestEnv, n: usize, grant: &str) -> Duration {
    let kinds = kinds();
    let before: BTreeMap<String, usize> = requests_per_scope(env, grant);
    let outs: Vec<RunOutput> = spawn_many_with_input(
        n,
        |i| {
            let k = &kinds[i % kinds.len()];
            (k.make)(env, k.scope)
        },
        T,
    );
    let mut tokens: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (i, o) in outs.iter().enumerate() {
        let k = &kinds[i % kinds.len()];
        assert_eq!(o.code, 0, "{} ({}): {}", k.label, k.scope, o.stderr);
        env.assert_clean_stderr(o);
        tokens
            .entry(k.scope)
            .or_default()
            .push((k.token)(&o.stdout));
    }
    for (scope, ts) in &tokens {
        assert!(
            ts.iter().all(|t| t == &ts[0] && t.split('.').count() == 3),
            "processes asking for {scope} got different tokens"
        );
    }
    let distinct: std::collections::BTreeSet<&String> = tokens.values().map(|v| &v[0]).collect();
    assert_eq!(distinct.len(), tokens.len(), "one token per scope");
    let after = requests_per_scope(env, grant);
    for scope in tokens.keys() {
        let made =
            after.get(*scope).copied().unwrap_or(0) - before.get(*scope).copied().unwrap_or(0);
        assert_eq!(made, 1, "Entra requests for {scope} ({grant})");
    }
    let slowest = outs.iter().map(|o| o.elapsed).max().unwrap_or_default();
    eprintln!(
        "{n} processes, {} scopes, {grant}: one request per scope; slowest process {slowest:?}",
        tokens.len()
    );
    slowest
}

/// Token requests with this grant, by the scope they asked for (the first scope of the
/// request's `scope` that is one of ours).
fn requests_per_scope(env: &TestEnv, grant: &str) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in env.state().requests_for(Endpoint::Token) {
        if r.param("grant_type") != Some(grant) {
            continue;
        }
        let asked = r.param("scope").unwrap_or("");
        if let Some(s) = [ARM, DEVOPS, VAULT, STORAGE]
            .into_iter()
            .find(|s| asked.split(' ').any(|w| w == *s))
        {
            *m.entry(s.to_string()).or_default() += 1;
        }
    }
    m
}

#[test]
fn two_hundred_processes_on_a_cold_cache_make_one_request_per_scope() {
    let env = TestEnv::with_app(APP, APP_SECRET);
    storm(&env, 200, "client_credentials");
    assert_eq!(
        env.state().count(Endpoint::Token),
        kinds().len() as u64,
        "nothing else was asked"
    );
}

#[test]
fn two_hundred_processes_inside_the_refresh_window_make_one_refresh_per_scope() {
    // Every token the emulator issues now is inside the 5-minute refresh window.
    let env = TestEnv::with_options(Options {
        token_lifetime: 290,
        ..Options::default()
    });
    let out = run(env.cmd("entra-cred").arg("login"), None, T);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for k in kinds() {
        let (mut c, stdin) = (k.make)(&env, k.scope);
        assert_eq!(run(&mut c, stdin.as_deref(), T).code, 0);
    }
    // Warm, but every cached token is due for refresh (fetched a minute ago, with less than
    // the margin left); new tokens will be fresh.
    e2e::age_cache(&env.cache_dir(), 60);
    env.state().set_token_lifetime(3600);
    storm(&env, 200, "refresh_token");
    // The refresh token rotated once per scope and the last one stored still works.
    let out = run(
        env.cmd("entra-cred").args(["refresh", "--scope", ARM]),
        None,
        T,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
}
