//! `docker-credential-entra` driven by real skopeo (and directly, for the protocol's other
//! actions) against the emulator's ACR: Entra token -> `/oauth2/exchange` -> ACR refresh token
//! -> the registry's `/oauth2/token` -> `/v2/`.
//!
//! skopeo finds the helper through `credHelpers` in `$DOCKER_CONFIG/config.json`
//! (`$HOME/.docker/config.json`); `REGISTRY_AUTH_FILE` points at a non-existent file in the temp
//! dir so that no auth file of the machine is read, and `CONTAINERS_REGISTRIES_CONF` at an empty
//! one.

use e2e::emulator::services::acr as emu_acr;
use e2e::{run, spawn_many, Endpoint, Fault, Options, RunOutput, TestEnv};
use entra_emulator::DEFAULT_TENANT;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);
const HELPER: &str = "docker-credential-entra";
const APP: &str = "acr-app";
const APP_SECRET: &str = "acr-app-secret-0123456789";
const NOT_FOUND: &str = "credentials not found in native keychain";
const ZERO_USER: &str = "00000000-0000-0000-0000-000000000000";

/// An emulator with a confidential client, the registry `127.0.0.1:<port>` allowed through
/// `ENTRA_CRED_ACR_HOSTS`, and a docker config whose `credHelpers` send both that registry and
/// `localhost:<port>` (not allowed) to `entra`.
struct Acr {
    env: TestEnv,
    /// `127.0.0.1:<port>`
    reg: String,
    port: u16,
}

fn setup() -> Acr {
    let mut opts = Options::default();
    opts.clients.push((APP.into(), APP_SECRET.into()));
    let mut env = TestEnv::with_options(opts);
    let url = env.emu().url(emu_acr::NAME).expect("acr service");
    let reg = url.trim_start_matches("http://").to_string();
    let port: u16 = reg
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    env.set_env("AZURE_CLIENT_ID", APP);
    env.set_env("AZURE_CLIENT_SECRET", APP_SECRET);
    env.set_env("AZURE_TENANT_ID", DEFAULT_TENANT);
    env.set_env("ENTRA_CRED_ACR_HOSTS", &reg);

    let docker_dir = env.home().join(".docker");
    std::fs::create_dir_all(&docker_dir).expect("mkdir .docker");
    let cfg = serde_json::json!({"credHelpers": {
        reg.clone(): "entra",
        format!("localhost:{port}"): "entra",
    }});
    std::fs::write(docker_dir.join("config.json"), cfg.to_string()).expect("docker config");
    let registries_conf = env.root().join("registries.conf");
    std::fs::write(&registries_conf, "").expect("registries.conf");
    env.set_env("DOCKER_CONFIG", &docker_dir.to_string_lossy());
    env.set_env(
        "REGISTRY_AUTH_FILE",
        &env.root().join("no-auth.json").to_string_lossy(),
    );
    env.set_env(
        "CONTAINERS_REGISTRIES_CONF",
        &registries_conf.to_string_lossy(),
    );
    Acr { env, reg, port }
}

impl Acr {
    fn helper(&self, args: &[&str], stdin: &str) -> RunOutput {
        let out = run(self.env.cmd(HELPER).args(args), Some(stdin.as_bytes()), T);
        self.env.assert_clean_stderr(&out);
        out
    }

    fn get(&self, server: &str) -> RunOutput {
        self.helper(&["get"], server)
    }

    fn skopeo_inspect(&self, host: &str) -> RunOutput {
        let out = run(
            self.env.tool("skopeo").args([
                "inspect",
                "--tls-verify=false",
                &format!("docker://{host}/app:v1"),
            ]),
            None,
            T,
        );
        self.env.assert_clean_stderr(&out);
        out
    }

    fn count(&self, e: Endpoint) -> u64 {
        self.env.state().count(e)
    }

    fn acr_state_files(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.env.cache_dir().join("acr"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s:?}"))
}

/// One line on stdout and one on stderr, both naming `what`.
#[track_caller]
fn one_line_error(out: &RunOutput, code: i32, what: &str) {
    assert_eq!(
        out.code, code,
        "stdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    for (name, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert_eq!(text.trim_end().lines().count(), 1, "{name}: {text:?}");
        assert!(
            text.contains(what),
            "{name} should mention {what:?}: {text:?}"
        );
    }
}

#[test]
fn skopeo_inspects_through_the_helper_and_the_cache_serves_the_second_run() {
    let a = setup();
    let out = a.skopeo_inspect(&a.reg).ok();
    let v = json(&out.stdout);
    let img = emu_acr::image();
    assert_eq!(v["Digest"], img.manifest_digest.as_str());
    assert_eq!(v["Layers"][0], img.layer_digest.as_str());
    assert_eq!(v["Architecture"], "amd64");
    assert_eq!(v["RepoTags"][0], "v1");
    assert_eq!(a.count(Endpoint::AcrExchange), 1);
    assert_eq!(a.count(Endpoint::Token), 1, "one Entra token");
    assert!(a.count(Endpoint::AcrToken) >= 1);

    // The exchange was what ACR expects.
    let ex = &a.env.state().requests_for(Endpoint::AcrExchange)[0];
    assert_eq!(ex.method, "POST");
    assert_eq!(ex.param("grant_type"), Some("access_token"));
    assert_eq!(ex.param("service"), Some(a.reg.as_str()));
    assert_eq!(ex.param("tenant"), Some(DEFAULT_TENANT));
    // The registry saw the ACR refresh token as Basic credentials of the zero user.
    let tok = &a.env.state().requests_for(Endpoint::AcrToken)[0];
    let basic = tok.header("authorization").unwrap_or("");
    assert!(basic.starts_with("Basic "), "{basic}");

    // Second run: no new exchange, no Entra request.
    a.skopeo_inspect(&a.reg).ok();
    assert_eq!(a.count(Endpoint::AcrExchange), 1);
    assert_eq!(a.count(Endpoint::Token), 1);

    // skopeo copy downloads the blobs and checks every digest; the layer is a real tar.gz.
    let dest = a.env.root().join("img");
    let out = run(
        a.env.tool("skopeo").args([
            "copy",
            "--insecure-policy",
            "--src-tls-verify=false",
            &format!("docker://{}/app:v1", a.reg),
            &format!("dir:{}", dest.display()),
        ]),
        None,
        T,
    );
    a.env.assert_clean_stderr(&out);
    out.ok();
    let layer = dest.join(img.layer_digest.trim_start_matches("sha256:"));
    let out = run(a.env.tool("tar").arg("tzf").arg(&layer), None, T).ok();
    assert_eq!(out.stdout.trim(), "hello.txt");
    assert_eq!(a.count(Endpoint::AcrExchange), 1, "still the cached token");

    // The ACR token is kept as a secret: state file 0600 without it, secret in secrets/.
    let files = a.acr_state_files();
    assert_eq!(files.len(), 1, "{files:?}");
    let st = json(&std::fs::read_to_string(&files[0]).expect("state"));
    assert_eq!(st["registry"], a.reg.as_str());
    assert_eq!(st["username"], ZERO_USER);
    assert_eq!(st["store"], "file");
    assert!(st["session"].as_str().is_some_and(|s| !s.is_empty()));
    let exp = st["exp"].as_i64().expect("exp");
    let left = exp - entra_emulator::util::now_secs() as i64;
    assert!((3 * 3600 - 60..=3 * 3600).contains(&left), "{left}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files[0])
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let st_text = std::fs::read_to_string(&files[0]).expect("state");
    a.env.assert_no_secret_in(&st_text);
    a.env.assert_no_secret_in_files();
}

#[test]
fn registry_outside_the_allowlist_gets_not_found_and_no_request() {
    let a = setup();
    for server in [
        format!("localhost:{}", a.port),
        format!("127.0.0.1:{}", a.port.wrapping_add(1)),
        "azurecr.io.evil.com".to_string(),
        "https://azurecr.io.evil.com/v2/".to_string(),
        "evilazurecr.io".to_string(),
        "myreg.azurecr.io.evil.com".to_string(),
        "myreg.azurecr.io@evil.com".to_string(),
        "docker.io".to_string(),
        "https://index.docker.io/v1/".to_string(),
        "not a host".to_string(),
    ] {
        let out = a.get(&server);
        assert_eq!(out.code, 1, "{server}: {}", out.stderr);
        assert_eq!(out.stdout, format!("{NOT_FOUND}\n"), "{server}");
        assert_eq!(out.stderr, "", "{server}");
    }
    assert_eq!(a.count(Endpoint::Any), 0, "no request at all");
    assert!(!a.env.cache_dir().join("acr").exists());

    // skopeo asks the helper for localhost:<port>, is told "not found", and goes on
    // anonymously: the registry refuses it, and neither Entra nor the exchange saw a request.
    let out = a.skopeo_inspect(&format!("localhost:{}", a.port));
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert_eq!(a.count(Endpoint::AcrExchange), 0);
    assert_eq!(a.count(Endpoint::Token), 0);
    for r in a.env.state().requests() {
        assert!(
            r.header("authorization").is_none(),
            "{} {} carried credentials",
            r.method,
            r.path
        );
    }
}

#[test]
fn protocol_actions_and_input_forms() {
    let a = setup();
    let verify_secret = |secret: &str| {
        let c = a
            .env
            .state()
            .verify_jwt(secret)
            .expect("an ACR refresh token");
        assert_eq!(c["aud"], a.reg.as_str());
        assert_eq!(c["grant_type"], "refresh_token");
    };

    // Every input form: the answer echoes the server as given.
    let mut secrets = Vec::new();
    for server in [
        format!("https://{}/v2/", a.reg),
        a.reg.clone(),
        format!("{}\n", a.reg),
        format!("{}/app", a.reg),
        format!("HTTP://{}/", a.reg.to_uppercase()),
    ] {
        let out = a.get(&server).ok();
        assert_eq!(out.stdout.lines().count(), 1);
        let v = json(&out.stdout);
        assert_eq!(v["ServerURL"], server.trim(), "{server:?}");
        assert_eq!(v["Username"], ZERO_USER);
        let s = v["Secret"].as_str().expect("secret").to_string();
        verify_secret(&s);
        secrets.push(s);
    }
    assert!(secrets.windows(2).all(|w| w[0] == w[1]), "one cached token");
    assert_eq!(a.count(Endpoint::AcrExchange), 1);
    // -p is accepted (docker never passes it, people may).
    let out = a.helper(&["-p", "default", "get"], &a.reg).ok();
    assert_eq!(json(&out.stdout)["Secret"], secrets[0].as_str());

    // list: docker sends "unused".
    let out = a.helper(&["list"], "unused").ok();
    let v = json(&out.stdout);
    assert_eq!(v, serde_json::json!({ a.reg.clone(): ZERO_USER }));

    // store: accepted, nothing kept.
    let stored = "stored-password-that-must-not-be-kept";
    let body = serde_json::json!({"ServerURL": a.reg, "Username": "someone", "Secret": stored});
    let out = a.helper(&["store"], &body.to_string()).ok();
    assert_eq!(out.stdout, "");
    for f in e2e::walk(a.env.root()) {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        assert!(
            !text.contains(stored),
            "store kept the secret in {}",
            f.display()
        );
    }
    assert_eq!(json(&a.helper(&["list"], "unused").stdout), v);

    // erase: forgets the registry's token; the next get exchanges again.
    let out = a.helper(&["erase"], &format!("http://{}/", a.reg)).ok();
    assert_eq!(out.stdout, "");
    assert_eq!(
        json(&a.helper(&["list"], "unused").stdout),
        serde_json::json!({})
    );
    assert!(a.acr_state_files().is_empty());
    assert!(!e2e::walk(&a.env.cache_dir().join("secrets"))
        .iter()
        .any(|f| f.to_string_lossy().contains("acr-")));
    let out = a.get(&a.reg).ok();
    verify_secret(json(&out.stdout)["Secret"].as_str().expect("secret"));
    assert_eq!(a.count(Endpoint::AcrExchange), 2);
    // erase of a registry entra-cred does not serve: not found.
    let out = a.helper(&["erase"], "docker.io");
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (1, "credentials not found in native keychain\n")
    );

    // version
    let out = a.helper(&["version"], "").ok();
    assert_eq!(
        out.stdout,
        format!(
            "docker-credential-entra (entra-cred) {}\n",
            env!("CARGO_PKG_VERSION")
        )
    );

    // Bad input: one line on stdout (what docker shows) and stderr, exit 1.
    one_line_error(&a.get(""), 1, "no credentials server URL");
    one_line_error(&a.helper(&["fetch"], ""), 1, "unknown credential action");
    one_line_error(&a.helper(&[], ""), 1, "usage: docker-credential-entra");

    // `entra-cred logout --all` forgets the ACR tokens with everything else.
    run(a.env.cmd("entra-cred").args(["logout", "--all"]), None, T).ok();
    assert_eq!(
        json(&a.helper(&["list"], "unused").stdout),
        serde_json::json!({})
    );
    a.env.assert_no_secret_in_files();
}

#[test]
fn concurrent_gets_make_one_exchange() {
    let a = setup();
    let outs = spawn_many(
        8,
        |_| {
            let mut c = a.env.cmd(HELPER);
            c.arg("get");
            c
        },
        Some(a.reg.as_bytes()),
        T,
    );
    let secrets: Vec<String> = outs
        .iter()
        .map(|o| {
            assert_eq!(o.code, 0, "{}", o.stderr);
            a.env.assert_clean_stderr(o);
            json(&o.stdout)["Secret"]
                .as_str()
                .expect("secret")
                .to_string()
        })
        .collect();
    assert!(secrets.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(a.count(Endpoint::AcrExchange), 1);
    assert_eq!(a.count(Endpoint::Token), 1);
}

/// Moves the `obtained_at` of every cached ACR state `secs` into the past.
fn age_acr_states(a: &Acr, secs: i64) {
    for p in a.acr_state_files() {
        let mut v = json(&std::fs::read_to_string(&p).expect("state"));
        let t = v["obtained_at"].as_i64().expect("obtained_at");
        v["obtained_at"] = serde_json::json!(t - secs);
        std::fs::write(&p, v.to_string()).expect("write state");
    }
}

#[test]
fn a_token_inside_its_refresh_window_is_replaced() {
    let a = setup();
    // ACR refresh tokens that live 200 s have less than the hour ACR tokens must have left.
    emu_acr::set_lifetimes(a.env.state(), 200, 600);
    a.get(&a.reg).ok();
    // One fetched moments ago (by another process) is used: its whole lifetime is below
    // the margin, and renewing it on every call would make every parallel pull exchange.
    a.get(&a.reg).ok();
    assert_eq!(a.count(Endpoint::AcrExchange), 1);
    age_acr_states(&a, 60);
    // Debug diagnostics of a full exchange carry no secret (checked on every helper run).
    let out = run(
        a.env.cmd(HELPER).arg("get").env("ENTRA_CRED_LOG", "debug"),
        Some(a.reg.as_bytes()),
        T,
    )
    .ok();
    assert!(out.stderr.contains("oauth2/exchange"), "{}", out.stderr);
    a.env.assert_clean_stderr(&out);
    assert_eq!(a.count(Endpoint::AcrExchange), 2);
    emu_acr::set_lifetimes(a.env.state(), 3 * 3600, 600);
    age_acr_states(&a, 60);
    a.get(&a.reg).ok();
    a.get(&a.reg).ok();
    assert_eq!(a.count(Endpoint::AcrExchange), 3);
    // Less than an hour left (2 h 10 min into a 3 h token): exchanged anew.
    for p in a.acr_state_files() {
        let mut v = json(&std::fs::read_to_string(&p).expect("state"));
        let t = v["obtained_at"].as_i64().expect("t");
        v["obtained_at"] = serde_json::json!(t - 7800);
        v["exp"] = serde_json::json!(t + 3000);
        std::fs::write(&p, v.to_string()).expect("write state");
    }
    a.get(&a.reg).ok();
    assert_eq!(a.count(Endpoint::AcrExchange), 4);
}

#[test]
fn a_refused_entra_token_is_replaced_and_exchanged_once_more() {
    let a = setup();
    a.get(&a.reg).ok();
    assert_eq!(a.count(Endpoint::Token), 1);
    a.helper(&["erase"], &a.reg).ok();
    // The cached Entra token was revoked: the registry answers 401 once.
    a.env.emu().inject(
        Fault::status(Endpoint::AcrExchange, 401)
            .body(r#"{"errors":[{"code":"UNAUTHORIZED","message":"token revoked"}]}"#),
    );
    let out = a.get(&a.reg).ok();
    assert!(json(&out.stdout)["Secret"].as_str().is_some());
    assert_eq!(a.count(Endpoint::Token), 2, "a new Entra token was fetched");
    assert_eq!(a.count(Endpoint::AcrExchange), 3);
}

#[test]
fn exchange_failures_give_one_line_and_the_right_exit_code() {
    let mut a = setup();

    // 401, also with a newly fetched Entra token: the registry refuses the identity.
    // Exit 1, nothing cached.
    a.env.emu().inject(
        Fault::status(Endpoint::AcrExchange, 401).times(2).body(
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required, visit https://aka.ms/acr/authorization for more information.","detail":null}]}"#,
        ),
    );
    let out = a.get(&a.reg);
    one_line_error(&out, 1, "401");
    assert!(out.stdout.contains(&a.reg), "{}", out.stdout);
    assert!(a.acr_state_files().is_empty());
    assert_eq!(
        json(&a.helper(&["list"], "unused").stdout),
        serde_json::json!({})
    );

    // 503 once, then success: retried inside the budget.
    a.env
        .emu()
        .inject(Fault::status(Endpoint::AcrExchange, 503));
    let before = a.count(Endpoint::AcrExchange);
    a.get(&a.reg).ok();
    assert_eq!(a.count(Endpoint::AcrExchange), before + 2);

    // 503 for good: a network error (exit 5) within the http budget.
    a.env.set_env("ENTRA_CRED_HTTP_TIMEOUT", "1");
    a.helper(&["erase"], &a.reg).ok();
    a.env
        .emu()
        .inject(Fault::status(Endpoint::AcrExchange, 503).times(100));
    let out = a.get(&a.reg);
    one_line_error(&out, 5, "503");
    assert!(out.elapsed < Duration::from_secs(10), "{:?}", out.elapsed);
    a.env.state().clear_faults();

    // Unreachable registry (a closed loopback port): exit 5, quickly.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let dead = format!("127.0.0.1:{closed}");
    a.env
        .set_env("ENTRA_CRED_ACR_HOSTS", &format!("{},{dead}", a.reg));
    let out = a.get(&dead);
    one_line_error(&out, 5, &dead);
    assert!(out.elapsed < Duration::from_secs(10), "{:?}", out.elapsed);

    // And the working registry still works.
    a.get(&a.reg).ok();
}

#[test]
fn registry_answers_head_with_the_token_the_helper_gives() {
    let a = setup();
    let out = a.get(&a.reg).ok();
    let secret = json(&out.stdout)["Secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let curl = |args: &[&str]| {
        let out = run(a.env.tool("curl").args(["-sS"]).args(args), None, T).ok();
        out.stdout
    };
    // No token: the challenge points at this registry's token endpoint.
    let head = curl(&["-I", &format!("http://{}/v2/app/manifests/v1", a.reg)]);
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    let want = format!(
        "bearer realm=\"http://{0}/oauth2/token\",service=\"{0}\",scope=\"repository:app:pull\"",
        a.reg
    );
    assert!(
        head.to_ascii_lowercase()
            .contains(&want.to_ascii_lowercase()),
        "{head}"
    );
    // The helper's answer works as Basic credentials at the token endpoint.
    let body = curl(&[
        "-u",
        &format!("{ZERO_USER}:{secret}"),
        &format!(
            "http://{}/oauth2/token?service={}&scope=repository:app:pull",
            a.reg, a.reg
        ),
    ]);
    let at = json(&body)["access_token"]
        .as_str()
        .expect("access token")
        .to_string();
    let img = emu_acr::image();
    let head = curl(&[
        "-I",
        "-H",
        &format!("Authorization: Bearer {at}"),
        &format!("http://{}/v2/app/manifests/v1", a.reg),
    ]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains(&format!("docker-content-digest: {}", img.manifest_digest)),
        "{head}"
    );
    assert!(
        lower.contains(&format!("content-length: {}", img.manifest.len())),
        "{head}"
    );
    let head = curl(&[
        "-I",
        "-H",
        &format!("Authorization: Bearer {at}"),
        &format!("http://{}/v2/app/blobs/{}", a.reg, img.config_digest),
    ]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // A wrong password is refused.
    let body = curl(&[
        "-u",
        &format!("{ZERO_USER}:not-a-token"),
        &format!(
            "http://{}/oauth2/token?service={}&scope=repository:app:pull",
            a.reg, a.reg
        ),
    ]);
    assert_eq!(json(&body)["errors"][0]["code"], "UNAUTHORIZED");
}

#[test]
fn profile_from_acr_hosts_then_entra_cred_profile() {
    let mut a = setup();
    // The registry is listed by a profile, not by the environment.
    a.env.write_config(&format!(
        "[profiles.acr]\ntenant = \"{DEFAULT_TENANT}\"\nclient_id = \"{APP}\"\nacr_hosts = [\"{}\"]\n",
        a.reg
    ));
    a.env.set_env("ENTRA_CRED_ACR_HOSTS", "");
    // A missing ENTRA_CRED_PROFILE does not matter for a registry its profile lists...
    a.env.set_env("ENTRA_CRED_PROFILE", "missing");
    let out = a.get(&a.reg).ok();
    assert_eq!(json(&out.stdout)["Username"], ZERO_USER);
    let st = json(&std::fs::read_to_string(&a.acr_state_files()[0]).expect("state"));
    assert_eq!(st["profile"], "acr");
    // ...nor for a server that is not served at all...
    let out = a.get("docker.io");
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (1, "credentials not found in native keychain\n")
    );
    // ...but it is an error (exit 2, one line) for an ACR registry no profile lists.
    let before = a.count(Endpoint::Any);
    one_line_error(&a.get("other.azurecr.io"), 2, "missing");
    // -p wins over acr_hosts, and must name a profile.
    one_line_error(&a.helper(&["-p", "nope", "get"], &a.reg), 2, "nope");
    assert_eq!(
        a.count(Endpoint::Any),
        before,
        "no request for a configuration error"
    );
}
