//! The emulator, driven by a real HTTP client (curl) through the harness.

use e2e::{run, Endpoint, Fault, Options, TestEnv};
use serde_json::Value;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// POST a form with curl; returns (status, body).
fn curl_post(env: &TestEnv, url: &str, form: &[(&str, &str)]) -> (u16, String) {
    let mut c = env.tool("curl");
    c.args(["-sS", "-w", "\n%{http_code}", "-X", "POST", url]);
    for (k, v) in form {
        c.arg("--data-urlencode").arg(format!("{k}={v}"));
    }
    split_status(run(&mut c, None, T).ok().stdout)
}

fn split_status(out: String) -> (u16, String) {
    let (body, code) = out.rsplit_once('\n').expect("curl status line");
    (code.trim().parse().expect("status"), body.to_string())
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

#[test]
fn client_credentials_with_curl() {
    let mut opts = Options::default();
    opts.clients.push(("app-1".into(), "app-1-secret".into()));
    let env = TestEnv::with_options(opts);
    let url = env.emu().token_url("organizations");
    let (status, body) = curl_post(
        &env,
        &url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "app-1"),
            ("client_secret", "app-1-secret"),
            ("scope", "https://management.azure.com/.default"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3600);
    assert!(v.get("refresh_token").is_none());
    let claims = env
        .state()
        .verify_access_token(
            v["access_token"].as_str().unwrap(),
            "https://management.azure.com",
            Some(entra_emulator::DEFAULT_TENANT),
        )
        .unwrap();
    assert_eq!(claims.idtyp, "app");
    assert_eq!(claims.appid, "app-1");

    // wrong secret
    let (status, body) = curl_post(
        &env,
        &url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "app-1"),
            ("client_secret", "nope"),
            ("scope", "https://management.azure.com/.default"),
        ],
    );
    assert_eq!(status, 401);
    let v = json(&body);
    assert_eq!(v["error"], "invalid_client");
    assert_eq!(v["error_codes"][0], 7000215);

    assert_eq!(env.state().count(Endpoint::Token), 2);
    assert_eq!(env.state().count_grant("client_credentials"), 2);
    let logged = env.state().requests_for(Endpoint::Token);
    assert_eq!(logged[0].param("client_id"), Some("app-1"));
    env.assert_no_secret_in("nothing secret here");
}

#[test]
fn device_code_flow_with_curl() {
    let env = TestEnv::new();
    let base = env.emu().entra_url();
    let (status, body) = curl_post(
        &env,
        &format!("{base}/organizations/oauth2/v2.0/devicecode"),
        &[
            ("client_id", "04b07795-8ddb-461a-bbee-02f9e1bf7b46"),
            (
                "scope",
                "499b84ac-1321-427f-aa17-267ca6975798/.default offline_access openid profile",
            ),
        ],
    );
    assert_eq!(status, 200, "{body}");
    let dc = json(&body);
    assert_eq!(dc["interval"], 1);
    assert_eq!(dc["verification_uri"], "https://microsoft.com/devicelogin");
    let user_code = dc["user_code"].as_str().unwrap();
    assert!(dc["message"].as_str().unwrap().contains(user_code));
    let device_code = dc["device_code"].as_str().unwrap();
    let token_url = env.emu().token_url("organizations");
    let poll = || {
        curl_post(
            &env,
            &token_url,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", "04b07795-8ddb-461a-bbee-02f9e1bf7b46"),
                ("device_code", device_code),
            ],
        )
    };
    let (status, body) = poll();
    assert_eq!(status, 400);
    assert_eq!(json(&body)["error"], "authorization_pending");
    let (status, body) = poll();
    assert_eq!(status, 200, "{body}");
    let tok = json(&body);
    let at = tok["access_token"].as_str().unwrap();
    let c = env
        .state()
        .verify_access_token(at, "499b84ac-1321-427f-aa17-267ca6975798", None)
        .unwrap();
    assert_eq!(c.upn.as_deref(), Some("alice@contoso.example"));
    assert!(tok["id_token"].is_string());
    assert!(tok["client_info"].is_string());
    let rt1 = tok["refresh_token"].as_str().unwrap().to_string();

    // One sign-in serves every audience; the refresh token rotates.
    let refresh = |rt: &str| {
        curl_post(
            &env,
            &token_url,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", "04b07795-8ddb-461a-bbee-02f9e1bf7b46"),
                ("refresh_token", rt),
                ("scope", "6dae42f8-4368-4678-94ff-3960e28e3630/.default"),
            ],
        )
    };
    let (status, body) = refresh(&rt1);
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    env.state()
        .verify_access_token(
            v["access_token"].as_str().unwrap(),
            "6dae42f8-4368-4678-94ff-3960e28e3630",
            None,
        )
        .unwrap();
    let (status, body) = refresh(&rt1);
    assert_eq!(status, 400);
    assert_eq!(json(&body)["error"], "invalid_grant");
    env.state().revoke_refresh_tokens();
    let (status, body) = refresh(v["refresh_token"].as_str().unwrap());
    assert_eq!(status, 400);
    assert_eq!(json(&body)["error_codes"][0], 50173);

    assert_eq!(env.state().count(Endpoint::DeviceCode), 1);
    assert_eq!(env.state().count_grant("device_code"), 2);
    assert_eq!(env.state().count_grant("refresh_token"), 3);
    assert!(env.secrets().contains(&rt1));
}

#[test]
fn fault_then_success_and_admin_api() {
    let mut opts = Options::default();
    opts.clients.push(("app-2".into(), "app-2-secret".into()));
    let env = TestEnv::with_options(opts);
    env.emu()
        .inject(Fault::status(Endpoint::Token, 503).retry_after("1"));
    let url = env.emu().token_url("3c0b1f5e-8d2a-4a57-9f3e-0b7c1d2e4a6f");
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "app-2"),
        ("client_secret", "app-2-secret"),
        ("scope", "api://x/.default"),
    ];
    let mut c = env.tool("curl");
    c.args(["-sS", "-i", "-X", "POST", &url]);
    for (k, v) in form {
        c.arg("-d").arg(format!("{k}={v}"));
    }
    let out = run(&mut c, None, T).ok().stdout;
    assert!(out.starts_with("HTTP/1.1 503"), "{out}");
    assert!(out.to_ascii_lowercase().contains("retry-after: 1"), "{out}");
    let (status, body) = curl_post(&env, &url, &form);
    assert_eq!(status, 200, "{body}");
    assert_eq!(env.state().count(Endpoint::Token), 2);

    // Admin API: a malformed-body fault, then stats.
    let base = env.emu().entra_url();
    let mut c = env.tool("curl");
    c.args([
        "-sS",
        "-X",
        "POST",
        &format!("{base}/_emulator/faults"),
        "-d",
        r#"{"endpoint":"token","status":200,"body":"{\"access_tok","times":1}"#,
    ]);
    assert_eq!(json(&run(&mut c, None, T).ok().stdout)["ok"], true);
    let (status, body) = curl_post(&env, &url, &form);
    assert_eq!((status, body.as_str()), (200, "{\"access_tok"));
    let mut c = env.tool("curl");
    c.args(["-sS", &format!("{base}/_emulator/stats")]);
    let stats = json(&run(&mut c, None, T).ok().stdout);
    assert_eq!(stats["counts"]["Token"], 3);
    assert_eq!(stats["grants"]["client_credentials"], 3);
}
