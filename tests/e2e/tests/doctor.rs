//! `entra-cred doctor`: each broken set-up a user really has, built for real (git's own config,
//! docker's config.json, a kubeconfig, ~/.aws/config, a dead keyring daemon, a proxy that refuses
//! Entra, a server clock 5 minutes off), and doctor naming the problem with a fix; where the fix
//! is a command, the command is run and doctor then finds that check ok. On the demo's set-up
//! (install/demo.sh: login + the four setups) doctor says all is well and exits 0.

use e2e::{bin_dir, run, RunOutput, TestEnv};
use serde_json::Value;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);
const AWS_SCOPE: &str = "api://aws-federation/.default";
const AWS_ROLE: &str = "arn:aws:iam::123456789012:role/entra-dev";

fn host_of(url: &str) -> String {
    url.split_once("://")
        .map(|x| x.1)
        .unwrap_or(url)
        .trim_end_matches('/')
        .to_string()
}

fn bin(name: &str) -> String {
    bin_dir().join(name).to_string_lossy().into_owned()
}

fn entra_cred(env: &TestEnv, args: &[&str]) -> RunOutput {
    let out = run(env.cmd("entra-cred").args(args), None, T);
    env.assert_clean_stderr(&out);
    out
}

/// Runs `doctor --output json` with `extra` arguments: exit code and the document.
fn doctor(env: &TestEnv, extra: &[&str]) -> (i32, Value, RunOutput) {
    let mut args = vec!["doctor", "--output", "json"];
    args.extend_from_slice(extra);
    let out = entra_cred(env, &args);
    env.assert_no_secret_in(&out.stdout);
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor JSON: {e}\n{}\n{}", out.stdout, out.stderr));
    assert_eq!(
        v["ok"].as_bool(),
        Some(out.code == 0),
        "ok and the exit code disagree: {}",
        out.stdout
    );
    assert!(out.code == 0 || out.code == 1, "{}", out.stderr);
    for c in v["checks"].as_array().expect("checks") {
        let tool = c["tool"].as_str().unwrap_or("");
        assert!(
            [
                "git",
                "docker",
                "kubectl",
                "aws",
                "cargo",
                "identity",
                "environment"
            ]
            .contains(&tool),
            "{c}"
        );
        let st = c["status"].as_str().unwrap_or("");
        assert!(["ok", "warn", "fail"].contains(&st), "{c}");
        assert!(c["name"].is_string() && c["detail"].is_string(), "{c}");
        if st == "ok" {
            assert!(c.get("fix").is_none(), "an ok check with a fix: {c}");
        }
        if st == "fail" {
            assert!(c["fix"].is_string(), "a failure without a fix: {c}");
        }
    }
    (out.code, v, out)
}

/// The checks of `tool` whose name contains `name`.
fn checks<'a>(v: &'a Value, tool: &str, name: &str) -> Vec<&'a Value> {
    v["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["tool"] == tool && c["name"].as_str().unwrap_or("").contains(name))
        .collect()
}

#[track_caller]
fn one<'a>(v: &'a Value, tool: &str, name: &str) -> &'a Value {
    let c = checks(v, tool, name);
    assert_eq!(
        c.len(),
        1,
        "expected one {tool} check named *{name}*: {v:#}"
    );
    c[0]
}

#[track_caller]
fn status(c: &Value, want: &str, detail_has: &[&str]) {
    assert_eq!(c["status"], want, "{c:#}");
    for d in detail_has {
        assert!(
            c["detail"].as_str().unwrap_or("").contains(d),
            "detail lacks {d:?}: {c:#}"
        );
    }
}

#[track_caller]
fn fix_of(c: &Value) -> String {
    c["fix"].as_str().expect("a fix").to_string()
}

/// Runs a fix line with `sh -c` in the test's environment (the target dir first on PATH).
#[track_caller]
fn apply_fix(env: &TestEnv, fix: &str) {
    let out = run(env.tool("sh").args(["-c", fix]), None, T);
    assert_eq!(out.code, 0, "fix `{fix}` failed: {}", out.stderr);
}

/// The demo's entra-cred profile: the emulator's repos and registry are named.
fn demo_config(env: &TestEnv) {
    let repos = host_of(&env.emu().url("repos").expect("repos"));
    let acr = host_of(&env.emu().url("acr").expect("acr"));
    env.write_config(&format!(
        "[profiles.default]\ngit_hosts = [\"{repos}\"]\nacr_hosts = [\"{acr}\"]\n"
    ));
}

fn legacy_kubeconfig(env: &TestEnv) -> std::path::PathBuf {
    let kube = env.emu().url("kube").expect("kube");
    let dir = env.home().join(".kube");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("config");
    std::fs::write(
        &p,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: aks\nclusters:\n- name: aks\n  cluster:\n    server: {kube}\ncontexts:\n- name: aks\n  context:\n    cluster: aks\n    user: clusterUser_rg_aks\nusers:\n- name: clusterUser_rg_aks\n  user:\n    auth-provider:\n      name: azure\n      config:\n        apiserver-id: 6dae42f8-4368-4678-94ff-3960e28e3630\n        client-id: 04b07795-8ddb-461a-bbee-02f9e1bf7b46\n        config-mode: \"1\"\n        environment: AzurePublicCloud\n        tenant-id: 3c0b1f5e-8d2a-4a57-9f3e-0b7c1d2e4a6f\n"
        ),
    )
    .unwrap();
    p
}

/// install/demo.sh's set-up: sign in, then the four setups.
fn demo_setup(env: &TestEnv) {
    demo_config(env);
    let repos = host_of(&env.emu().url("repos").expect("repos"));
    let acr = host_of(&env.emu().url("acr").expect("acr"));
    let kc = legacy_kubeconfig(env);
    entra_cred(env, &["login"]).ok();
    entra_cred(env, &["setup", "git", "--host", &repos]).ok();
    entra_cred(env, &["setup", "docker", &acr]).ok();
    entra_cred(
        env,
        &["setup", "kubectl", "--kubeconfig", &kc.to_string_lossy()],
    )
    .ok();
    entra_cred(
        env,
        &[
            "setup",
            "aws",
            "--aws-profile",
            "demo",
            "--scope",
            AWS_SCOPE,
            "--role-arn",
            AWS_ROLE,
            "--region",
            "us-east-1",
        ],
    )
    .ok();
}

fn demo_env() -> TestEnv {
    let mut env = TestEnv::new();
    let home = env.home();
    env.set_env(
        "AWS_CONFIG_FILE",
        &home.join(".aws/config").to_string_lossy(),
    );
    env.set_env(
        "AWS_SHARED_CREDENTIALS_FILE",
        &home.join(".aws/credentials").to_string_lossy(),
    );
    env
}

#[test]
fn all_is_well_on_the_demo_setup() {
    let env = demo_env();
    demo_setup(&env);
    let started = Instant::now();
    let (code, v, _) = doctor(&env, &["--network"]);
    let took = started.elapsed();
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["ok"], true);
    for c in v["checks"].as_array().unwrap() {
        assert_ne!(c["status"], "fail", "{c:#}");
    }
    let repos = host_of(&env.emu().url("repos").unwrap());
    let acr = host_of(&env.emu().url("acr").unwrap());
    status(
        one(&v, "git", "https://dev.azure.com"),
        "ok",
        &["git-credential-entra"],
    );
    status(one(&v, "git", "visualstudio.com"), "ok", &[]);
    status(one(&v, "git", &repos), "ok", &[]);
    status(one(&v, "docker", &acr), "ok", &["docker-credential-entra"]);
    status(
        one(&v, "kubectl", "user clusterUser_rg_aks"),
        "ok",
        &["kubectl-entra"],
    );
    status(one(&v, "aws", "profile demo"), "ok", &[]);
    status(one(&v, "identity", "sign-in"), "ok", &["tenant"]);
    status(one(&v, "identity", "refresh token"), "ok", &["present"]);
    status(one(&v, "environment", "reachability"), "ok", &["HTTP"]);
    status(one(&v, "environment", "clock"), "ok", &[]);
    // The table says so too.
    let t = entra_cred(&env, &["doctor"]).ok();
    assert!(t.stdout.contains("All is well"), "{}", t.stdout);
    assert!(took < Duration::from_secs(15), "doctor took {took:?}");
}

#[test]
fn git_helper_reset_by_a_later_credential_helper() {
    let env = demo_env();
    demo_setup(&env);
    // What Git Credential Manager's `configure` appends after ours: a reset, then itself.
    let gc = env.home().join(".gitconfig");
    let mut f = std::fs::OpenOptions::new().append(true).open(&gc).unwrap();
    f.write_all(b"[credential]\n\thelper = \n\thelper = manager\n")
        .unwrap();
    drop(f);
    let (code, v, _) = doctor(&env, &[]);
    assert_eq!(code, 1);
    let c = one(&v, "git", "https://dev.azure.com");
    status(c, "fail", &["shadowed", "'manager'", "resets the list"]);
    let fix = fix_of(c);
    assert!(
        fix.contains("git config --global --fixed-value --unset-all credential.helper"),
        "{fix}"
    );
    assert!(
        fix.ends_with(&format!(
            "setup git --host {}",
            host_of(&env.emu().url("repos").unwrap())
        )),
        "{fix}"
    );
    apply_fix(&env, &fix);
    let (code, v, _) = doctor(&env, &[]);
    assert_eq!(code, 0, "{v:#}");
    status(one(&v, "git", "https://dev.azure.com"), "ok", &[]);
}

#[test]
fn git_helper_shadowed_by_an_earlier_helper() {
    let env = demo_env();
    demo_config(&env);
    entra_cred(&env, &["login"]).ok();
    // Ours written by hand without the reset: `store` (a saved PAT) is asked first.
    std::fs::write(
        env.home().join(".gitconfig"),
        format!(
            "[credential]\n\thelper = store\n[credential \"https://dev.azure.com\"]\n\thelper = {}\n\tuseHttpPath = true\n",
            bin("git-credential-entra")
        ),
    )
    .unwrap();
    let (code, v, _) = doctor(&env, &[]);
    assert_eq!(code, 1);
    let c = one(&v, "git", "https://dev.azure.com");
    status(c, "fail", &["'store'", "before git-credential-entra"]);
    let fix = fix_of(c);
    assert!(fix.contains("setup git"), "{fix}");
    apply_fix(&env, &fix);
    let (_, v, _) = doctor(&env, &[]);
    status(one(&v, "git", "https://dev.azure.com"), "ok", &[]);
    // A helper after ours gets our tokens: a warning, not a failure.
    let gc = env.home().join(".gitconfig");
    let mut f = std::fs::OpenOptions::new().append(true).open(&gc).unwrap();
    f.write_all(b"[credential]\n\thelper = cache\n").unwrap();
    drop(f);
    let (_, v, _) = doctor(&env, &[]);
    status(
        one(&v, "git", "https://dev.azure.com"),
        "warn",
        &["'cache'"],
    );
}

#[test]
fn docker_creds_store_without_our_cred_helpers_entry() {
    let env = demo_env();
    demo_config(&env);
    entra_cred(&env, &["login"]).ok();
    let acr = host_of(&env.emu().url("acr").unwrap());
    std::fs::create_dir_all(env.home().join(".docker")).unwrap();
    std::fs::write(
        env.home().join(".docker/config.json"),
        "{\n\t\"auths\": {},\n\t\"credsStore\": \"desktop\"\n}\n",
    )
    .unwrap();
    let (code, v, _) = doctor(&env, &[]);
    assert_eq!(code, 1);
    let c = one(&v, "docker", &acr);
    status(c, "fail", &["credsStore 'desktop'"]);
    let fix = fix_of(c);
    assert_eq!(fix, format!("entra-cred setup docker {acr}"));
    apply_fix(&env, &fix);
    let (_, v, _) = doctor(&env, &[]);
    status(one(&v, "docker", &acr), "ok", &[]);
}

#[test]
fn kubeconfig_still_on_kubelogin() {
    let env = demo_env();
    entra_cred(&env, &["login"]).ok();
    let kube = env.emu().url("kube").unwrap();
    std::fs::create_dir_all(env.home().join(".kube")).unwrap();
    let kc = env.home().join(".kube/config");
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: aks\nclusters:\n- name: aks\n  cluster:\n    server: {kube}\ncontexts:\n- name: aks\n  context:\n    cluster: aks\n    user: aks-user\nusers:\n- name: aks-user\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: kubelogin\n      args:\n      - get-token\n      - --login\n      - devicecode\n      - --server-id\n      - 6dae42f8-4368-4678-94ff-3960e28e3630\n"
        ),
    )
    .unwrap();
    let (_, v, _) = doctor(&env, &[]);
    let c = one(&v, "kubectl", "user aks-user");
    assert_ne!(c["status"], "ok", "{c:#}");
    status(c, c["status"].as_str().unwrap(), &["kubelogin"]);
    let fix = fix_of(c);
    assert!(
        fix.starts_with("entra-cred setup kubectl --kubeconfig"),
        "{fix}"
    );
    apply_fix(&env, &fix);
    let (_, v, _) = doctor(&env, &[]);
    status(
        one(&v, "kubectl", "user aks-user"),
        "ok",
        &["kubectl-entra"],
    );
}

#[test]
fn moved_binaries() {
    let env = demo_env();
    demo_config(&env);
    entra_cred(&env, &["login"]).ok();
    // Install a copy elsewhere, wire the tools from it, then remove it (the binaries "moved").
    let old = env.root().join("old-install");
    std::fs::create_dir_all(&old).unwrap();
    for b in [
        "entra-cred",
        "git-credential-entra",
        "entra-credential-process",
    ] {
        std::fs::copy(bin(b), old.join(b)).unwrap();
    }
    let setup = |args: &[&str]| {
        let out = run(
            env.tool(&old.join("entra-cred").to_string_lossy())
                .args(args),
            None,
            T,
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
    };
    setup(&["setup", "git"]);
    setup(&[
        "setup",
        "aws",
        "--aws-profile",
        "dev",
        "--scope",
        AWS_SCOPE,
        "--role-arn",
        AWS_ROLE,
    ]);
    std::fs::remove_dir_all(&old).unwrap();
    let (code, v, _) = doctor(&env, &[]);
    assert_eq!(code, 1);
    let g = one(&v, "git", "https://dev.azure.com");
    status(
        g,
        "fail",
        &["old-install/git-credential-entra", "does not exist"],
    );
    let a = one(&v, "aws", "profile dev");
    status(
        a,
        "fail",
        &["old-install/entra-credential-process", "does not exist"],
    );
    let afix = fix_of(a);
    assert!(
        afix.contains("--aws-profile dev") && afix.contains(AWS_ROLE),
        "{afix}"
    );
    apply_fix(&env, &fix_of(g));
    apply_fix(&env, &afix);
    let (_, v, _) = doctor(&env, &[]);
    status(one(&v, "git", "https://dev.azure.com"), "ok", &[]);
    status(one(&v, "aws", "profile dev"), "ok", &[]);
}

#[test]
fn stale_aws_profiles() {
    let env = demo_env();
    env.write_config("[profiles.work]\n");
    entra_cred(&env, &["login"]).ok();
    std::fs::create_dir_all(env.home().join(".aws")).unwrap();
    let p = bin("entra-credential-process");
    std::fs::write(
        env.home().join(".aws/config"),
        format!(
            "[profile gone]\ncredential_process = \"{p}\" -p old-profile --scope {AWS_SCOPE}\n\n[profile keys]\ncredential_process = \"{p}\" --scope {AWS_SCOPE}\n\n[profile sso]\nsso_session = corp\ncredential_process = \"{p}\" --scope {AWS_SCOPE}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        env.home().join(".aws/credentials"),
        "[keys]\naws_access_key_id = AKIAEXAMPLEEXAMPLE\naws_secret_access_key = doctor-must-not-print-this\n",
    )
    .unwrap();
    let (code, v, out) = doctor(&env, &[]);
    assert_eq!(code, 1);
    assert!(!out.stdout.contains("doctor-must-not-print-this"));
    assert!(!out.stdout.contains("AKIAEXAMPLE"));
    status(
        one(&v, "aws", "profile gone"),
        "fail",
        &["'old-profile'", "does not exist"],
    );
    status(
        one(&v, "aws", "profile keys"),
        "fail",
        &["aws_access_key_id"],
    );
    status(one(&v, "aws", "profile sso"), "fail", &["sso_session"]);
}

#[test]
fn dead_keyring_daemon() {
    use std::os::unix::net::UnixListener;
    let mut env = demo_env();
    // A session bus that accepts connections and never answers: a hung keyring daemon.
    let sock = env.root().join("bus");
    let listener = UnixListener::bind(&sock).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    env.set_env(
        "DBUS_SESSION_BUS_ADDRESS",
        &format!("unix:path={}", sock.display()),
    );
    env.set_env("ENTRA_CRED_KEYRING", "auto");
    let started = Instant::now();
    let (code, v, _) = doctor(&env, &[]);
    let took = started.elapsed();
    assert_eq!(code, 1);
    let c = one(&v, "identity", "keyring");
    status(c, "fail", &["Secret Service", "does not answer"]);
    assert!(fix_of(c).contains("ENTRA_CRED_KEYRING=file"), "{c:#}");
    assert!(
        took < Duration::from_secs(12),
        "the keyring probe is not bounded: {took:?}"
    );
}

/// A loopback "proxy" that answers every request with `answer`.
fn fake_proxy(answer: &'static str) -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(answer.as_bytes());
        }
    });
    port
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn proxy_that_blocks_entra() {
    let forbidden = fake_proxy("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    let refused = closed_port();
    for (port, says) in [
        (forbidden, "HTTP 403"),
        (refused, "cannot connect to the proxy"),
    ] {
        let mut env = demo_env();
        // The real authority: with a proxy in effect, nothing is resolved or sent but to the
        // (loopback) proxy.
        env.set_env("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com");
        env.set_env(
            "HTTPS_PROXY",
            &format!("http://proxyuser:proxy-pass-word@127.0.0.1:{port}"),
        );
        let (code, v, out) = doctor(&env, &["--network"]);
        assert_eq!(code, 1);
        assert!(!out.stdout.contains("proxy-pass-word"), "{}", out.stdout);
        let proxy = checks(&v, "environment", "proxy");
        status(
            proxy[0],
            "ok",
            &["HTTPS_PROXY", &format!("http://127.0.0.1:{port}")],
        );
        let blocked = proxy;
        let c = blocked
            .iter()
            .find(|c| c["status"] == "fail")
            .expect("a failing proxy check");
        status(c, "fail", &["blocks login.microsoftonline.com", says]);
        assert!(fix_of(c).contains("NO_PROXY"), "{c:#}");
        assert!(
            checks(&v, "environment", "DNS").is_empty(),
            "DNS must not be asked through a proxy"
        );
        assert!(checks(&v, "environment", "reachability").is_empty());
    }
}

#[test]
fn clock_five_minutes_off() {
    let env = demo_env();
    entra_cred(&env, &["login"]).ok();
    env.state().set_clock_offset(-300);
    let (code, v, _) = doctor(&env, &["--network"]);
    assert_eq!(code, 1);
    let c = one(&v, "environment", "clock");
    status(c, "fail", &["5m", "ahead of"]);
    assert!(
        fix_of(c).contains("ntp") || fix_of(c).contains("sntp"),
        "{c:#}"
    );
    env.state().set_clock_offset(300);
    let (_, v, _) = doctor(&env, &["--network"]);
    status(one(&v, "environment", "clock"), "fail", &["5m", "behind"]);
    env.state().set_clock_offset(0);
    let (_, v, _) = doctor(&env, &["--network"]);
    status(one(&v, "environment", "clock"), "ok", &[]);
}

#[test]
fn not_signed_in_and_unknown_profile() {
    let env = demo_env();
    let (code, v, _) = doctor(&env, &[]);
    assert_eq!(code, 1);
    let c = one(&v, "identity", "sign-in");
    status(c, "fail", &["nobody is signed in"]);
    assert_eq!(fix_of(c), "entra-cred login");
    let out = entra_cred(&env, &["-p", "nope", "doctor", "--output", "json"]);
    assert_eq!(out.code, 1);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    status(
        one(&v, "identity", "profile"),
        "fail",
        &["'nope' not found"],
    );
}

#[test]
fn a_shadowing_helper_with_an_inline_password_is_named_not_printed() {
    let env = demo_env();
    entra_cred(&env, &["login"]).ok();
    std::fs::write(
        env.home().join(".gitconfig"),
        format!(
            "[credential]\n\thelper = \"!f() {{ echo username=me; echo password=doctor-secret-pat; }}; f\"\n[credential \"https://dev.azure.com\"]\n\thelper = {}\n",
            bin("git-credential-entra")
        ),
    )
    .unwrap();
    let (code, v, out) = doctor(&env, &[]);
    assert_eq!(code, 1);
    assert!(!out.stdout.contains("doctor-secret-pat"), "{}", out.stdout);
    let table = entra_cred(&env, &["doctor"]);
    assert!(
        !table.stdout.contains("doctor-secret-pat"),
        "{}",
        table.stdout
    );
    let c = one(&v, "git", "https://dev.azure.com");
    status(
        c,
        "fail",
        &["a shell command", "before git-credential-entra"],
    );
    assert!(fix_of(c).contains("git config --global --edit"), "{c:#}");
}
