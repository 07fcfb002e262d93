//! The emulator over real sockets: raw HTTP, curl, and the binary.

use entra_emulator::util::{b64url, now_secs};
use entra_emulator::{DeviceApproval, Emulator, Endpoint, Fault, Options, JWT_BEARER};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Minimal HTTP/1.1 client: returns (status, body).
fn raw(base: &str, request_head_and_body: &[u8]) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request_head_and_body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn post_form(base: &str, path: &str, body: &str) -> (u16, Value) {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        base.trim_start_matches("http://"),
        body.len()
    );
    let (st, b) = raw(base, req.as_bytes());
    (st, serde_json::from_str(&b).unwrap_or(Value::String(b)))
}

fn form(pairs: &[(&str, &str)]) -> String {
    entra_emulator::http::encode_form(pairs.iter().copied())
}

fn assertion(claims: Value) -> String {
    let h = b64url(
        json!({"alg": "RS256", "typ": "JWT", "x5t": "abc"})
            .to_string()
            .as_bytes(),
    );
    let c = b64url(claims.to_string().as_bytes());
    format!("{h}.{c}.{}", b64url(b"not-really-a-signature"))
}

#[test]
fn client_assertion_claims_are_checked() {
    let emu = Emulator::start(Options::default()).unwrap();
    let base = emu.entra_url();
    let tenant = entra_emulator::DEFAULT_TENANT;
    let path = format!("/{tenant}/oauth2/v2.0/token");
    let good_aud = emu.token_url(tenant);
    let try_with = |claims: Value| {
        post_form(
            &base,
            &path,
            &form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "cert-app"),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &assertion(claims)),
                ("scope", "https://graph.microsoft.com/.default"),
            ]),
        )
    };
    let now = now_secs();
    let (st, v) = try_with(
        json!({"aud": good_aud, "iss": "cert-app", "sub": "cert-app",
        "exp": now + 600, "nbf": now, "jti": "1"}),
    );
    assert_eq!(st, 200, "{v}");
    let (st, v) = try_with(
        json!({"aud": "https://login.microsoftonline.com/x/oauth2/v2.0/token",
        "iss": "cert-app", "sub": "cert-app", "exp": now + 600}),
    );
    assert_eq!((st, v["error_codes"][0].as_u64()), (401, Some(700027)));
    assert_eq!(v["error"], "invalid_client");
    let (st, _) =
        try_with(json!({"aud": good_aud, "iss": "cert-app", "sub": "other", "exp": now + 600}));
    assert_eq!(st, 401);
    let (st, _) =
        try_with(json!({"aud": good_aud, "iss": "cert-app", "sub": "cert-app", "exp": now - 3600}));
    assert_eq!(st, 401);
    // workload identity: federated credential
    emu.state().add_federated_credential(
        "cert-app",
        "https://oidc.example/issuer",
        "system:serviceaccount:ns:sa",
    );
    let fed = json!({"aud": "api://AzureADTokenExchange", "iss": "https://oidc.example/issuer",
        "sub": "system:serviceaccount:ns:sa", "exp": now + 600});
    assert_eq!(try_with(fed).0, 200);
    // the assertion is in the log for header/claim checks
    let logged = emu.state().requests_for(Endpoint::Token);
    let a = logged[0].param("client_assertion").unwrap();
    let (h, c) = entra_emulator::jwt::decode_unverified(a).unwrap();
    assert_eq!(h["x5t"], "abc");
    assert_eq!(c["aud"], good_aud);
}

#[test]
fn device_approval_policies() {
    for (policy, expect) in [
        (DeviceApproval::Decline, "authorization_declined"),
        (DeviceApproval::Expire, "expired_token"),
        (DeviceApproval::SlowDownThenApprove, "slow_down"),
        (DeviceApproval::Never, "authorization_pending"),
    ] {
        let emu = Emulator::start(Options {
            device_approval: policy,
            ..Options::default()
        })
        .unwrap();
        let base = emu.entra_url();
        let (st, dc) = post_form(
            &base,
            "/common/oauth2/v2.0/devicecode",
            &form(&[("client_id", "c"), ("scope", "x/.default")]),
        );
        assert_eq!(st, 200);
        let code = dc["device_code"].as_str().unwrap().to_string();
        let poll = || {
            post_form(
                &base,
                "/common/oauth2/v2.0/token",
                &form(&[
                    ("grant_type", entra_emulator::DEVICE_CODE_GRANT),
                    ("client_id", "c"),
                    ("device_code", &code),
                ]),
            )
        };
        let (st, v) = poll();
        assert_eq!((st, v["error"].as_str()), (400, Some(expect)), "{policy:?}");
        match policy {
            DeviceApproval::SlowDownThenApprove => assert_eq!(poll().0, 200),
            DeviceApproval::Never => {
                assert_eq!(poll().1["error"], "authorization_pending");
                emu.state().approve_all_device_codes();
                assert_eq!(poll().0, 200);
                // a redeemed code cannot be used again
                assert_eq!(poll().1["error"], "invalid_grant");
            }
            _ => {}
        }
    }
}

#[test]
fn bad_requests_get_errors_not_crashes() {
    let emu = Emulator::start(Options::default()).unwrap();
    let base = emu.entra_url();
    let tok = "/organizations/oauth2/v2.0/token";
    // invalid UTF-8 and broken percent-encoding in the form
    let mut req = format!(
        "POST {tok} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 12\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    req.extend_from_slice(b"grant_type=\xff%");
    assert_eq!(raw(&base, &req).0, 400);
    assert_eq!(post_form(&base, tok, "").0, 400);
    assert_eq!(post_form(&base, tok, "grant_type=password").0, 400);
    assert_eq!(
        post_form(&base, "/not-a-tenant!/oauth2/v2.0/token", "").0,
        400
    );
    assert_eq!(post_form(&base, "/x/y", "").0, 404);
    let (st, v) = post_form(&base, "/_emulator/faults", "{\"endpoint\":");
    assert_eq!(st, 400, "{v}");
    let (st, _) = post_form(&base, "/_emulator/faults", "{\"endpoint\":\"nope\"}");
    assert_eq!(st, 400);
    // GET on the token endpoint
    let (st, _) = raw(
        &base,
        format!("GET {tok} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(st, 400);
    // still serving
    assert_eq!(
        post_form(
            &base,
            tok,
            "grant_type=refresh_token&client_id=a&refresh_token=b"
        )
        .0,
        400
    );
}

#[test]
fn a_slow_answer_does_not_block_others() {
    let emu = Emulator::start(Options::default()).unwrap();
    emu.inject(Fault::status(Endpoint::Token, 503).with_delay(Duration::from_secs(2)));
    let base = emu.entra_url();
    let b2 = base.clone();
    let slow = std::thread::spawn(move || {
        post_form(
            &b2,
            "/common/oauth2/v2.0/token",
            "grant_type=client_credentials",
        )
        .0
    });
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    let (st, _) = post_form(
        &base,
        "/common/oauth2/v2.0/devicecode",
        "client_id=a&scope=b",
    );
    assert_eq!(st, 200);
    assert!(t.elapsed() < Duration::from_secs(1));
    assert_eq!(slow.join().unwrap(), 503);
}

#[test]
fn binary_prints_urls_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_entra-emulator"))
        .args(["--client", "app:sec", "--token-lifetime", "120"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let urls: Value = serde_json::from_str(&line).unwrap();
    let base = urls["entra"].as_str().unwrap().to_string();
    let (st, v) = post_form(
        &base,
        "/organizations/oauth2/v2.0/token",
        &form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "app"),
            ("client_secret", "sec"),
            ("scope", "x/.default"),
        ]),
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["expires_in"], 120);

    let out = Command::new(env!("CARGO_BIN_EXE_entra-emulator"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
}
