//! `cargo-credential-entra` with real cargo against the emulator's Azure Artifacts feed (TLS,
//! the emulator's CA in `CARGO_HTTP_CAINFO`): resolve, fetch and build a crate from the feed,
//! publish to it, the cache across cargo runs, the tenant from the feed's challenge, other
//! registries answered `url-not-supported`, and `entra-cred setup cargo` / `--remove`.

use e2e::emulator::services::artifacts::{self, Use};
use e2e::emulator::services::{kube, repos};
use e2e::{run, Endpoint, RunOutput, TestEnv};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);
/// Builds run real rustc on a shared 2-core machine.
const BUILD: Duration = Duration::from_secs(240);
const ORG: &str = "contoso";
/// The organisation's tenant: not the signed-in user's home tenant, so only a token asked for
/// the tenant the feed names is accepted.
const ORG_TENANT: &str = "3c9d1e2f-4a5b-4c6d-8e7f-901a2b3c4d5e";

struct Feed {
    env: TestEnv,
    /// `sparse+https://127.0.0.1:PORT/contoso/_packaging/feed1/Cargo/index/`
    index: String,
}

/// The cargo running these tests, and its rustc (no rustup proxy: HOME is a temp dir here).
fn cargo_program() -> PathBuf {
    PathBuf::from(
        std::env::var("CARGO")
            .ok()
            .or(option_env!("CARGO").map(str::to_string))
            .unwrap_or_else(|| "cargo".into()),
    )
}

impl Feed {
    fn new() -> Feed {
        let mut env = TestEnv::new();
        let index = artifacts::index_url(env.state(), ORG, "feed1");
        let host = env.emu().url(artifacts::NAME).unwrap();
        env.set_env(
            "ENTRA_CRED_ARTIFACTS_HOSTS",
            host.trim_start_matches("https://"),
        );
        repos::set_org_tenant(env.state(), ORG, ORG_TENANT);
        let ca = env.root().join("emulator-ca.pem");
        std::fs::write(&ca, kube::ca_pem()).unwrap();
        env.set_env("CARGO_HTTP_CAINFO", ca.to_str().unwrap());
        env.set_env("CARGO_TERM_COLOR", "never");
        env.set_env("CARGO_NET_RETRY", "0");
        let cargo = cargo_program();
        let rustc = cargo.with_file_name("rustc");
        if rustc.is_file() {
            env.set_env("RUSTC", rustc.to_str().unwrap());
        }
        for v in ["RUSTUP_HOME", "RUSTUP_TOOLCHAIN"] {
            if let Ok(x) = std::env::var(v) {
                env.set_env(v, &x);
            }
        }
        Feed { env, index }
    }

    fn login(&self) {
        let out = run(self.env.cmd("entra-cred").arg("login"), None, T).ok();
        self.env.assert_clean_stderr(&out);
    }

    fn cargo_home(&self, name: &str) -> PathBuf {
        let d = self.env.root().join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A CARGO_HOME whose config names the feed as registry `azure` with our provider.
    fn cargo_home_with_provider(&self, name: &str) -> PathBuf {
        let d = self.cargo_home(name);
        std::fs::write(
            d.join("config.toml"),
            format!(
                "[registries.azure]\nindex = \"{}\"\ncredential-provider = [\"cargo-credential-entra\"]\n",
                self.index
            ),
        )
        .unwrap();
        d
    }

    /// A binary project that depends on `entra-demo` from the feed.
    fn project(&self, name: &str) -> PathBuf {
        let p = self.env.root().join(name);
        std::fs::create_dir_all(p.join("src")).unwrap();
        std::fs::write(
            p.join("Cargo.toml"),
            format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = [\"azure\"]\ndescription = \"e2e\"\nlicense = \"MIT\"\n\n[dependencies]\nentra-demo = {{ version = \"0.1\", registry = \"azure\" }}\n"),
        )
        .unwrap();
        std::fs::write(
            p.join("src/main.rs"),
            "fn main() { println!(\"{}\", entra_demo::greeting()); }\n",
        )
        .unwrap();
        p
    }

    fn cargo(&self, home: &Path, dir: &Path, args: &[&str], limit: Duration) -> RunOutput {
        let mut c: Command = self.env.tool(cargo_program().to_str().unwrap());
        c.env("CARGO_HOME", home)
            .env("CARGO_TARGET_DIR", self.env.root().join("target"))
            .current_dir(dir)
            .args(args);
        run(&mut c, None, limit)
    }

    fn tokens(&self) -> u64 {
        self.env.state().count(Endpoint::Token)
    }
}

/// Drives the provider as cargo does: `--cargo-plugin`, then one JSON request a line.
fn provider(env: &TestEnv, requests: &[String]) -> Vec<serde_json::Value> {
    let input = requests.join("\n") + "\n";
    let out = run(
        env.cmd("cargo-credential-entra").arg("--cargo-plugin"),
        Some(input.as_bytes()),
        T,
    )
    .ok();
    env.assert_no_secret_in(&out.stderr);
    let lines: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0], serde_json::json!({"v": [1]}));
    lines[1..].to_vec()
}

fn get(index: &str, headers: &[&str], args: &[&str]) -> String {
    serde_json::json!({"v": 1, "registry": {"index-url": index, "name": "azure", "headers": headers},
        "kind": "get", "operation": "read", "args": args})
    .to_string()
}

#[test]
fn cargo_builds_from_the_feed_and_a_fresh_cargo_home_makes_no_entra_request() {
    let f = Feed::new();
    f.login();
    let before = f.tokens();
    let proj = f.project("app");
    let home = f.cargo_home_with_provider("home1");
    let out = f.cargo(&home, &proj, &["run", "-q"], BUILD);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "hello from the Azure Artifacts feed\n");
    f.env.assert_no_secret_in(&out.stderr);
    assert_eq!(f.tokens(), before + 1, "one token for the feed's tenant");
    // The token the feed accepted is for the organisation's tenant, named only by its challenge.
    let seen = artifacts::tokens_seen(f.env.state());
    assert!(seen.iter().any(|(u, _)| *u == Use::Download), "{seen:?}");
    let tid = entra_tid(&seen[0].1);
    assert_eq!(tid, ORG_TENANT);

    // A fresh CARGO_HOME (no cargo cache at all): the provider's cache answers.
    let home2 = f.cargo_home_with_provider("home2");
    std::fs::remove_dir_all(f.env.root().join("target")).unwrap();
    let out = f.cargo(&home2, &proj, &["build", "-q"], BUILD);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        f.tokens(),
        before + 1,
        "the second cargo run asked Entra again"
    );
    let seen2 = artifacts::tokens_seen(f.env.state());
    assert!(
        seen2.iter().all(|(_, t)| *t == seen[0].1),
        "one token throughout"
    );
    f.env.assert_no_secret_in_files();
}

fn entra_tid(jwt: &str) -> String {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    v["tid"].as_str().unwrap().to_string()
}

#[test]
fn cargo_publish_sends_the_same_token() {
    let f = Feed::new();
    f.login();
    let proj = f.project("entra-published");
    std::fs::write(proj.join("src/lib.rs"), "pub fn f() {}\n").unwrap();
    let home = f.cargo_home_with_provider("home");
    let out = f.cargo(
        &home,
        &proj,
        &[
            "publish",
            "--registry",
            "azure",
            "--allow-dirty",
            "--no-verify",
        ],
        BUILD,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let seen = artifacts::tokens_seen(f.env.state());
    let published: Vec<&String> = seen
        .iter()
        .filter(|(u, _)| *u == Use::Publish)
        .map(|(_, t)| t)
        .collect();
    assert_eq!(published.len(), 1, "{seen:?}");
    let read = seen.iter().find(|(u, _)| *u == Use::Index).unwrap();
    assert_eq!(*published[0], read.1, "publish used another token");
    // Published, then listed in the index (cargo waited for it).
    assert!(
        out.stderr.contains("Published entra-published v0.1.0"),
        "{}",
        out.stderr
    );
    f.env.assert_no_secret_in(&out.stderr);
}

#[test]
fn protocol_answers() {
    let f = Feed::new();
    f.login();
    let challenge = format!(
        "WWW-Authenticate: Bearer authorization_uri={}/{ORG_TENANT}",
        f.env.emu().entra_url()
    );
    let answers = provider(
        &f.env,
        &[
            get("sparse+https://index.crates.io/", &[], &[]),
            get(&f.index, &[&challenge], &[]),
            get(&f.index, &[], &["-p", "nope"]),
            serde_json::json!({"v":1,"registry":{"index-url": f.index},"kind":"login","token":"pasted"}).to_string(),
            serde_json::json!({"v":1,"registry":{"index-url": f.index},"kind":"logout"}).to_string(),
        ],
    );
    assert_eq!(
        answers[0],
        serde_json::json!({"Err": {"kind": "url-not-supported"}})
    );
    let ok = &answers[1]["Ok"];
    assert_eq!(ok["kind"], "get");
    assert_eq!(ok["cache"], "expires");
    assert_eq!(ok["operation_independent"], true);
    let token = ok["token"].as_str().unwrap();
    let jwt = token.strip_prefix("Bearer ").expect("Bearer <token>");
    assert_eq!(entra_tid(jwt), ORG_TENANT);
    let exp: i64 = ok["expiration"].as_i64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        exp > now + 3000 && exp <= now + 3600 - 120,
        "expiration {exp}, now {now}"
    );
    for (i, words) in [(2, "profile 'nope'"), (3, "not pasted")] {
        assert_eq!(answers[i]["Err"]["kind"], "other", "{}", answers[i]);
        let m = answers[i]["Err"]["message"].as_str().unwrap();
        assert!(m.contains(words) && !m.contains('\n'), "{m}");
    }
    assert_eq!(answers[4], serde_json::json!({"Ok": {"kind": "logout"}}));
    // After logout the cached token is gone: the next get asks Entra again.
    let before = f.tokens();
    let again = provider(&f.env, &[get(&f.index, &[&challenge], &[])]);
    assert_eq!(again[0]["Ok"]["kind"], "get");
    assert_eq!(f.tokens(), before + 1);
}

#[test]
fn without_a_sign_in_the_answer_says_to_run_entra_cred_login() {
    let f = Feed::new();
    let a = provider(&f.env, &[get(&f.index, &[], &[])]);
    let m = a[0]["Err"]["message"].as_str().unwrap();
    assert!(m.contains("entra-cred login"), "{m}");
    assert_eq!(f.env.state().count(Endpoint::Any), 0, "no request at all");
}

#[test]
fn setup_cargo_makes_plain_cargo_fetch_work_and_remove_restores_the_file() {
    let f = Feed::new();
    f.login();
    let home = f.cargo_home("home");
    let cfg = home.join("config.toml");
    let original = format!(
        "# my cargo settings\n[registries.azure]\nindex = \"{}\"   # the team feed\n\n[net]\nretry = 0\n",
        f.index
    );
    std::fs::write(&cfg, &original).unwrap();
    std::fs::set_permissions(&cfg, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    let proj = f.project("app");
    // Without the provider: cargo has no token for the feed.
    let out = f.cargo(&home, &proj, &["fetch"], BUILD);
    assert_ne!(out.code, 0, "{}", out.stderr);

    let setup = |extra: &[&str]| {
        let mut c = f.env.cmd("entra-cred");
        c.env("CARGO_HOME", &home)
            .args(["setup", "cargo"])
            .args(extra);
        run(&mut c, None, T)
    };
    let out = setup(&[]).ok();
    assert!(out.stderr.contains("Updated"), "{}", out.stderr);
    let written = std::fs::read_to_string(&cfg).unwrap();
    assert!(written.starts_with(&original), "{written}");
    assert_eq!(mode(&cfg), 0o640);
    assert!(setup(&[]).ok().stderr.contains("already set up"));

    // cargo asks the last global provider first: a stale token that cargo:token holds for the
    // registry is not used.
    let mut c: Command = f.env.tool(cargo_program().to_str().unwrap());
    c.env("CARGO_HOME", &home)
        .env("CARGO_TARGET_DIR", f.env.root().join("target"))
        .env("CARGO_REGISTRIES_AZURE_TOKEN", "Bearer stale-token")
        .current_dir(&proj)
        .arg("fetch");
    let out = run(&mut c, None, BUILD);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(artifacts::tokens_seen(f.env.state())
        .iter()
        .any(|(u, _)| *u == Use::Download));

    setup(&["--remove"]).ok();
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), original);
    assert_eq!(mode(&cfg), 0o640);
    setup(&["--remove"]).ok();
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), original);
    let leftovers: Vec<_> = std::fs::read_dir(&home)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains("entra-cred"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn other_registries_fall_through_to_cargos_own_providers() {
    let f = Feed::new();
    f.login();
    let home = f.cargo_home("home");
    // The same feed under a host name entra-cred does not serve (localhost, not 127.0.0.1).
    let other = f.index.replace("127.0.0.1", "localhost");
    std::fs::write(
        home.join("config.toml"),
        format!("[registries.other]\nindex = \"{other}\"\n\n[registry]\nglobal-credential-providers = [\"cargo:token\", \"cargo-credential-entra\"]\n"),
    )
    .unwrap();
    let proj = f.project("app");
    let toml = std::fs::read_to_string(proj.join("Cargo.toml")).unwrap();
    std::fs::write(
        proj.join("Cargo.toml"),
        toml.replace("registry = \"azure\"", "registry = \"other\""),
    )
    .unwrap();
    let before = f.tokens();
    let out = f.cargo(&home, &proj, &["fetch"], BUILD);
    assert_ne!(out.code, 0, "{}", out.stderr);
    // cargo:token was asked after us, and has no token.
    assert!(out.stderr.contains("no token found"), "{}", out.stderr);
    assert_eq!(
        f.tokens(),
        before,
        "a token was fetched for a registry we do not serve"
    );
    assert!(artifacts::tokens_seen(f.env.state()).is_empty());
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}
