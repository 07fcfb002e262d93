//! kubectl → AKS through `kubectl-entra`, with the real kubectl against the emulator's
//! Kubernetes API (TLS, Entra bearer tokens for the AKS server application).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use e2e::emulator::services::kube;
use e2e::{run, Endpoint, RunOutput, TestEnv};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);
const AKS: &str = "6dae42f8-4368-4678-94ff-3960e28e3630";
const V1: &str = "client.authentication.k8s.io/v1";
const V1BETA1: &str = "client.authentication.k8s.io/v1beta1";
/// The tenant and AKS client id of the fixtures (the tenant is the emulator user's home tenant).
const TENANT: &str = "3c0b1f5e-8d2a-4a57-9f3e-0b7c1d2e4a6f";
const AKS_CLIENT: &str = "80faf920-1908-4b52-b5ef-a8e7bedfc67a";

const LEGACY: &str = include_str!("../../../core/tests/fixtures/kubeconfig-aks-legacy-azure.yaml");
const KUBELOGIN: &str = include_str!("../../../core/tests/fixtures/kubeconfig-aks-kubelogin.yaml");

fn kube_url(env: &TestEnv) -> String {
    env.emu().url("kube").expect("kube service")
}

fn ca_data() -> String {
    STANDARD.encode(kube::ca_pem())
}

/// A kubeconfig with one cluster (the emulator) and one user running kubectl-entra.
fn kubeconfig(env: &TestEnv, api_version: &str, args: &[&str]) -> PathBuf {
    let text = e2e::kubeconfig_yaml(env, api_version, "kubectl-entra", args, "IfAvailable");
    let p = env.home().join(".kube").join(format!(
        "config-{}",
        api_version.rsplit('/').next().unwrap_or("x")
    ));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    p
}

fn kubectl(env: &TestEnv, config: &Path, args: &[&str]) -> RunOutput {
    let mut c: Command = env.cmd("kubectl");
    c.env("KUBECONFIG", config)
        .arg("--request-timeout=20s")
        .args(args);
    run(&mut c, None, T)
}

/// `entra-cred login` (device code; the emulator approves after one poll).
fn login(env: &TestEnv, extra: &[&str]) {
    let out = run(env.cmd("entra-cred").arg("login").args(extra), None, T).ok();
    assert!(
        out.stdout.is_empty(),
        "login printed on stdout: {}",
        out.stdout
    );
    env.assert_clean_stderr(&out);
}

fn token_requests(env: &TestEnv) -> u64 {
    env.state().count(Endpoint::Token)
}

/// The bearer tokens kubectl sent to the API server, in order.
fn kube_bearers(env: &TestEnv) -> Vec<String> {
    env.state()
        .requests_for(Endpoint::Kube)
        .iter()
        .filter_map(|r| {
            r.header("authorization")
                .and_then(|h| h.strip_prefix("Bearer "))
                .map(str::to_string)
        })
        .collect()
}

fn assert_namespace_list(out: &RunOutput) {
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.stdout));
    assert_eq!(v["kind"], "NamespaceList");
    let names: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, kube::NAMESPACES);
}

#[test]
fn kubectl_lists_namespaces_with_exec_v1_and_v1beta1() {
    let env = TestEnv::new();
    login(&env, &[]);
    for ver in [V1, V1BETA1] {
        let cfg = kubeconfig(&env, ver, &["--server-id", AKS]);
        let out = kubectl(&env, &cfg, &["get", "--raw", "/api/v1/namespaces"]).ok();
        assert_namespace_list(&out);
        env.assert_clean_stderr(&out);

        let out = kubectl(&env, &cfg, &["get", "namespaces", "-o", "name"]).ok();
        let names: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(
            names,
            kube::NAMESPACES
                .iter()
                .map(|n| format!("namespace/{n}"))
                .collect::<Vec<_>>()
        );
        env.assert_clean_stderr(&out);
    }
    // Every API request carried a token the emulator verified for the AKS audience (else 401).
    let bearers = kube_bearers(&env);
    assert!(bearers.len() >= 4, "{bearers:?}");
    // One AKS token (a refresh-token redemption after the login), served from the cache after.
    assert_eq!(env.state().count_grant("refresh_token"), 1);
    env.assert_no_secret_in_files();
}

#[test]
fn plugin_answers_the_version_kubectl_asks_for() {
    let env = TestEnv::new();
    login(&env, &[]);
    let plugin = |info: Option<&str>| {
        let mut c = env.cmd("kubectl-entra");
        if let Some(i) = info {
            c.env("KUBERNETES_EXEC_INFO", i);
        }
        run(&mut c, None, T)
    };
    for (info, want) in [
        (
            Some(
                r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}"#,
            ),
            V1,
        ),
        (
            Some(
                r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":false}}"#,
            ),
            V1BETA1,
        ),
        (None, V1BETA1),
    ] {
        let out = plugin(info).ok();
        let v: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(v["apiVersion"], want);
        assert_eq!(v["kind"], "ExecCredential");
        let token = v["status"]["token"].as_str().unwrap();
        env.state()
            .verify_access_token(token, AKS, None)
            .expect("an AKS token");
        let ts = v["status"]["expirationTimestamp"].as_str().unwrap();
        assert!(ts.ends_with('Z') && ts.len() == 20, "{ts}");
        env.assert_clean_stderr(&out);
    }
    for bad in [
        r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1alpha1"}"#,
        "{not json",
    ] {
        let out = plugin(Some(bad)).code_is(1);
        assert!(out.stdout.is_empty());
        assert_eq!(out.stderr.trim_end().lines().count(), 1, "{}", out.stderr);
        assert!(
            out.stderr.contains("KUBERNETES_EXEC_INFO"),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn twenty_kubectl_calls_make_one_token_request() {
    let env = TestEnv::new();
    login(&env, &[]);
    let cfg = kubeconfig(&env, V1, &[]);
    let before = token_requests(&env);
    for _ in 0..20 {
        let out = kubectl(&env, &cfg, &["get", "--raw", "/version"]).ok();
        let v: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(v["gitVersion"], "v1.32.0");
    }
    assert_eq!(
        token_requests(&env) - before,
        1,
        "token requests over 20 calls"
    );
    assert_eq!(
        env.state().count(Endpoint::DeviceCode),
        1,
        "only the login's"
    );
    // Each call ran the plugin at least once (kubectl builds that dispatch on the server
    // version run it twice), and each of those API requests carried a verified token.
    assert!(kube_bearers(&env).len() >= 20);
}

/// Sets every cached AKS token's expiry into the past.
fn expire_cached_aks_tokens(env: &TestEnv) -> usize {
    let mut n = 0;
    let dir = env.cache_dir().join("sessions");
    for f in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = f.path();
        if p.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let mut v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        if let Some(tokens) = v["tokens"].as_object_mut() {
            for (slot, t) in tokens.iter_mut() {
                if slot.contains(AKS) {
                    t["expires_on"] = Value::from(now - 60);
                    n += 1;
                }
            }
        }
        std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    }
    n
}

#[test]
fn expired_cached_token_is_refreshed_without_a_prompt() {
    let env = TestEnv::new();
    login(&env, &[]);
    let cfg = kubeconfig(&env, V1, &["--server-id", AKS]);
    kubectl(&env, &cfg, &["get", "--raw", "/version"]).ok();
    let refreshes = env.state().count_grant("refresh_token");
    let old = kube_bearers(&env);
    assert_eq!(expire_cached_aks_tokens(&env), 1);

    // stdin is not a terminal: kubectl says interactive=false; no prompt may be needed.
    // With debug logging on, the refresh is logged, but no token may show.
    let mut c = env.cmd("kubectl");
    c.env("KUBECONFIG", &cfg)
        .env("ENTRA_CRED_LOG", "debug")
        .args([
            "--request-timeout=20s",
            "get",
            "--raw",
            "/api/v1/namespaces",
        ]);
    let out = run(&mut c, None, T).ok();
    env.assert_clean_stderr(&out);
    assert_namespace_list(&out);
    assert_eq!(env.state().count_grant("refresh_token"), refreshes + 1);
    assert_eq!(
        env.state().count(Endpoint::DeviceCode),
        1,
        "only the login's"
    );
    assert!(
        !out.stderr.contains("devicelogin") && !out.stderr.contains("enter the code"),
        "{}",
        out.stderr
    );
    let new = kube_bearers(&env)[old.len()..].to_vec();
    assert!(!new.is_empty());
    for b in &new {
        assert!(!old.contains(b), "the refreshed token was used");
        assert_eq!(b, &new[0]);
    }
    // And the refreshed token is cached again.
    kubectl(&env, &cfg, &["get", "--raw", "/version"]).ok();
    assert_eq!(env.state().count_grant("refresh_token"), refreshes + 1);
}

#[test]
fn not_interactive_without_login_exits_3_with_the_hint() {
    let env = TestEnv::new();
    let cfg = kubeconfig(&env, V1, &["--server-id", AKS]);
    let out = kubectl(&env, &cfg, &["get", "--raw", "/version"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("entra-cred login"), "{}", out.stderr);
    assert!(
        out.stderr.contains("exit code 3") || out.stderr.contains("exit status 3"),
        "{}",
        out.stderr
    );
    assert_eq!(env.state().count(Endpoint::Token), 0);
    assert_eq!(env.state().count(Endpoint::DeviceCode), 0);

    let mut c = env.cmd("kubectl-entra");
    c.env(
        "KUBERNETES_EXEC_INFO",
        r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}"#,
    )
    .args(["--tenant", TENANT, "--client-id", AKS_CLIENT]);
    let out = run(&mut c, None, T).code_is(3);
    assert!(out.stdout.is_empty());
    assert_eq!(out.stderr.trim_end().lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("run `entra-cred login --client-id {AKS_CLIENT}`")),
        "{}",
        out.stderr
    );
}

/// A fixture with its AKS cluster pointed at the emulator (server and CA).
fn fixture_for_emulator(env: &TestEnv, fixture: &str, name: &str) -> PathBuf {
    let url = kube_url(env);
    let text: String = fixture
        .lines()
        .map(|l| {
            let t = l.trim_start();
            let indent = &l[..l.len() - t.len()];
            if t.starts_with("server: https://aks-") {
                format!("{indent}server: {url}\n")
            } else if t.starts_with("certificate-authority-data:") {
                format!("{indent}certificate-authority-data: {}\n", ca_data())
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let p = env.root().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `kubectl config view --raw -o json`: kubectl's own reading of the file.
fn config_view(env: &TestEnv, cfg: &Path) -> Value {
    let out = kubectl(env, cfg, &["config", "view", "--raw", "-o", "json"]).ok();
    serde_json::from_str(&out.stdout).unwrap()
}

fn named<'a>(v: &'a Value, list: &str, name: &str) -> &'a Value {
    v[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no {list} entry {name}"))
}

fn convert(env: &TestEnv, cfg: &Path, extra: &[&str]) -> RunOutput {
    let mut c = env.cmd("kubectl-entra");
    c.arg("convert-kubeconfig")
        .arg("--kubeconfig")
        .arg(cfg)
        .args(extra);
    run(&mut c, None, T)
}

#[test]
fn convert_legacy_azure_kubeconfig_then_kubectl_works() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    let cfg = fixture_for_emulator(&env, LEGACY, "legacy.yaml");
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    let before_bytes = std::fs::read(&cfg).unwrap();
    let before = config_view(&env, &cfg);

    // kubectl 1.26+ no longer has the azure auth-provider.
    let out = kubectl(&env, &cfg, &["get", "--raw", "/version"]);
    assert_ne!(out.code, 0, "{}", out.stdout);

    // --dry-run says what would change and writes nothing.
    let out = convert(&env, &cfg, &["--dry-run"]).ok();
    assert!(
        out.stdout
            .contains("would convert user 'clusterUser_rg-demo_aks-demo'"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("not written"), "{}", out.stdout);
    assert_eq!(std::fs::read(&cfg).unwrap(), before_bytes);

    let out = convert(&env, &cfg, &[]).ok();
    assert!(
        out.stdout
            .contains("converted user 'clusterUser_rg-demo_aks-demo'"),
        "{}",
        out.stdout
    );
    // One sign-in with the default client serves the converted user (any tenant).
    assert!(
        out.stdout.lines().any(|l| l.trim() == "entra-cred login"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains(AKS_CLIENT), "{}", out.stdout);
    let mode = std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let after = config_view(&env, &cfg);
    let exec = &named(&after, "users", "clusterUser_rg-demo_aks-demo")["user"]["exec"];
    assert_eq!(exec["command"], "kubectl-entra");
    assert_eq!(exec["apiVersion"], V1);
    assert_eq!(exec["interactiveMode"], "IfAvailable");
    assert_eq!(exec["provideClusterInfo"], false);
    assert_eq!(
        exec["args"],
        serde_json::json!(["--server-id", AKS, "--tenant", TENANT])
    );
    // The unrelated cluster, user and context are the same values; so is the rest.
    for (list, name) in [
        ("users", "other-admin"),
        ("clusters", "other"),
        ("contexts", "other"),
        ("clusters", "aks-demo"),
        ("contexts", "aks-demo"),
    ] {
        assert_eq!(
            named(&after, list, name),
            named(&before, list, name),
            "{list} {name}"
        );
    }
    assert_eq!(after["current-context"], before["current-context"]);
    assert_eq!(after["preferences"], before["preferences"]);

    // The one plain sign-in serves the converted user at its tenant.
    login(&env, &[]);
    let out = kubectl(
        &env,
        &cfg,
        &[
            "--context",
            "aks-demo",
            "get",
            "--raw",
            "/api/v1/namespaces",
        ],
    )
    .ok();
    assert_namespace_list(&out);
    let bearer = kube_bearers(&env).pop().unwrap();
    let claims = env
        .state()
        .verify_access_token(&bearer, AKS, Some(TENANT))
        .unwrap();
    assert_eq!(claims.appid, entra_cred_core_default_client());

    // A second run changes nothing, and says so.
    let converted = std::fs::read(&cfg).unwrap();
    let out = convert(&env, &cfg, &[]).ok();
    assert!(out.stdout.contains("nothing to change"), "{}", out.stdout);
    assert_eq!(std::fs::read(&cfg).unwrap(), converted);
    env.assert_no_secret_in_files();
}

#[test]
fn convert_kubelogin_kubeconfig_via_kubeconfig_env_then_kubectl_works() {
    let env = TestEnv::new();
    let cfg = fixture_for_emulator(&env, KUBELOGIN, "kubelogin.yaml");
    // Add an unrelated user/cluster/context so "everything else" is checked here too.
    let extra = "- name: someone-else\n  user:\n    token: not-a-real-token-value\n";
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(extra);
    std::fs::write(&cfg, &text).unwrap();
    let before = config_view(&env, &cfg);

    // KUBECONFIG as a list: the first file is converted.
    let missing = env.root().join("not-there.yaml");
    let list = std::env::join_paths([cfg.clone(), missing]).unwrap();
    let mut c = env.cmd("kubectl-entra");
    c.env("KUBECONFIG", &list)
        .args(["convert-kubeconfig", "--context", "aks-prod"]);
    let out = run(&mut c, None, T).ok();
    assert!(
        out.stdout.contains("kubelogin exec plugin"),
        "{}",
        out.stdout
    );

    let after = config_view(&env, &cfg);
    let exec = &named(&after, "users", "clusterUser_rg-prod_aks-prod")["user"]["exec"];
    assert_eq!(exec["command"], "kubectl-entra");
    assert_eq!(exec["apiVersion"], V1);
    assert_eq!(
        exec["args"],
        serde_json::json!(["--server-id", AKS, "--tenant", TENANT])
    );
    assert_eq!(
        named(&after, "users", "someone-else"),
        named(&before, "users", "someone-else")
    );
    assert_eq!(after["clusters"], before["clusters"]);
    assert_eq!(after["contexts"], before["contexts"]);

    login(&env, &[]);
    let out = kubectl(&env, &cfg, &["get", "--raw", "/api/v1/namespaces"]).ok();
    assert_namespace_list(&out);

    let converted = std::fs::read(&cfg).unwrap();
    let out = convert(&env, &cfg, &[]).ok();
    assert!(out.stdout.contains("nothing to change"), "{}", out.stdout);
    assert_eq!(std::fs::read(&cfg).unwrap(), converted);
}

#[test]
fn convert_refuses_a_file_it_cannot_parse() {
    let env = TestEnv::new();
    let cfg = env.root().join("broken.yaml");
    let text = "apiVersion: v1\nusers: [\n  - name: x\n";
    std::fs::write(&cfg, text).unwrap();
    let out = convert(&env, &cfg, &[]).code_is(2);
    assert_eq!(out.stderr.trim_end().lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("not changed"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), text);
    let out = convert(&env, &env.root().join("absent.yaml"), &[]).code_is(2);
    assert!(out.stderr.contains("does not exist"), "{}", out.stderr);
    let ok = fixture_for_emulator(&env, LEGACY, "legacy.yaml");
    let out = convert(&env, &ok, &["--context", "nope"]).code_is(2);
    assert!(out.stderr.contains("nope"), "{}", out.stderr);
}

/// entra-cred's default public client (the Azure CLI's).
fn entra_cred_core_default_client() -> &'static str {
    "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
}
