//! Every non-interactive token source through `entra-cred token` against the emulator: client
//! secret, client certificate (PEM and PKCS#12), workload identity, managed identity (IMDS, App
//! Service, Cloud Shell), the Azure CLI (a fake `az`), the `auto` order, `flow = ...`, clouds.
//!
//! Test certificates are made by the `openssl` CLI in a temp dir for each run: no private key is
//! committed.

use e2e::emulator::services::{certs, imds};
use e2e::{run, Endpoint, Fault, RunOutput, TestEnv};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);
const ARM: &str = "https://management.azure.com/.default";
const APP: &str = "7d3c1b2a-5e4f-4a6b-8c9d-0e1f2a3b4c5d";
const TENANT: &str = entra_emulator::DEFAULT_TENANT;

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

fn token(env: &TestEnv, scope: &str) -> RunOutput {
    let out = run(
        env.cmd("entra-cred")
            .args(["token", "--scope", scope, "--output", "json"]),
        None,
        T,
    );
    env.assert_clean_stderr(&out);
    // At most one line besides the diagnostics asked for with ENTRA_CRED_LOG.
    let lines = out
        .stderr
        .lines()
        .filter(|l| !l.starts_with("entra-cred [debug]") && !l.starts_with("entra-cred [info]"))
        .count();
    assert!(lines <= 1, "one line: {}", out.stderr);
    out
}

fn refresh(env: &TestEnv, scope: &str) -> RunOutput {
    let out = run(
        env.cmd("entra-cred").args(["refresh", "--scope", scope]),
        None,
        T,
    );
    env.assert_clean_stderr(&out);
    out
}

/// `(source, reason)` of the chosen profile from `entra-cred status -o json`.
fn status(env: &TestEnv) -> (String, String, Value) {
    let out = run(
        env.cmd("entra-cred").args(["status", "--output", "json"]),
        None,
        T,
    )
    .ok();
    let v = json(&out.stdout);
    let p = v["profiles"][0].clone();
    (
        p["source"].as_str().unwrap_or("").to_string(),
        p["reason"].as_str().unwrap_or("").to_string(),
        p,
    )
}

/// The access token of a `token --output json` answer, checked by the emulator.
fn verified(env: &TestEnv, out: &RunOutput, aud: &str) -> entra_emulator::Claims {
    let v = json(&out.stdout);
    let at = v["access_token"].as_str().expect("access_token");
    let c = env
        .state()
        .verify_access_token(at, aud, None)
        .unwrap_or_else(|e| panic!("emulator rejects the token: {e}"));
    let exp = v["expires_on"].as_i64().expect("expires_on");
    assert!(
        (exp - c.exp as i64).abs() <= 2,
        "expires_on {exp} vs exp {}",
        c.exp
    );
    c
}

fn rsa(dir: &Path, name: &str) -> (PathBuf, Vec<u8>) {
    e2e::test_certificate(dir, name, &["-newkey", "rsa:2048"])
}

// ----- client secret ---------------------------------------------------------------------------

#[test]
fn client_secret_token_and_bad_secret() {
    let mut env = TestEnv::new();
    env.state().add_client(APP, "right-secret-value");
    env.set_env("AZURE_CLIENT_ID", APP);
    env.set_env("AZURE_TENANT_ID", TENANT);
    env.set_env("AZURE_CLIENT_SECRET", "right-secret-value");
    let (src, why, _) = status(&env);
    assert_eq!(src, "client-secret");
    assert!(why.starts_with("auto: a client secret"), "{why}");
    let out = token(&env, ARM).ok();
    let c = verified(&env, &out, "https://management.azure.com");
    assert_eq!((c.appid.as_str(), c.idtyp.as_str()), (APP, "app"));
    token(&env, ARM).ok();
    assert_eq!(
        env.state().count(Endpoint::Token),
        1,
        "second token from the cache"
    );

    env.set_env("AZURE_CLIENT_SECRET", "wrong-secret-value");
    let out = token(&env, "https://vault.azure.net/.default").code_is(1);
    assert!(out.stderr.contains("AADSTS7000215"), "{}", out.stderr);
    assert!(!out.stderr.contains("wrong-secret-value"), "{}", out.stderr);
}

// ----- client certificate ----------------------------------------------------------------------

#[test]
fn client_certificate_pem_ps256_then_rs256_with_chain() {
    let dir = tempfile::tempdir().expect("tmp");
    let (pem, der) = rsa(dir.path(), "app");
    let mut env = TestEnv::new();
    env.state().add_client_certificate(APP, &der);
    env.set_env("AZURE_CLIENT_ID", APP);
    env.set_env("AZURE_TENANT_ID", TENANT);
    env.set_env("AZURE_CLIENT_CERTIFICATE_PATH", pem.to_str().expect("utf8"));
    let (src, why, _) = status(&env);
    assert_eq!(src, "client-certificate");
    assert!(why.contains("client certificate"), "{why}");

    let out = token(&env, ARM).ok();
    assert_eq!(
        verified(&env, &out, "https://management.azure.com").appid,
        APP
    );
    let logged = env.state().requests_for(Endpoint::Token);
    assert_eq!(logged.len(), 1);
    let a = logged[0].param("client_assertion").expect("assertion");
    assert_eq!(
        logged[0].param("client_assertion_type"),
        Some(entra_emulator::JWT_BEARER)
    );
    let (h, c) = entra_emulator::jwt::decode_unverified(a).expect("jwt");
    assert_eq!(h["alg"], "PS256");
    assert_eq!(h["x5t#S256"], certs::x5t_s256(&der));
    assert!(h.get("x5c").is_none() && h.get("x5t").is_none(), "{h}");
    assert_eq!(c["aud"], env.emu().token_url(TENANT));
    assert_eq!(
        (c["iss"].as_str(), c["sub"].as_str()),
        (Some(APP), Some(APP))
    );
    let life = c["exp"].as_i64().unwrap_or(0) - c["nbf"].as_i64().unwrap_or(0);
    assert!((60..=600).contains(&life), "assertion lifetime {life}");

    env.set_env("ENTRA_CRED_ASSERTION_ALG", "RS256");
    env.set_env("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "true");
    refresh(&env, ARM).ok();
    let logged = env.state().requests_for(Endpoint::Token);
    assert_eq!(logged.len(), 2, "a forced refresh signs a new assertion");
    let (h, c2) =
        entra_emulator::jwt::decode_unverified(logged[1].param("client_assertion").expect("a"))
            .expect("jwt");
    assert_eq!(h["alg"], "RS256");
    assert_eq!(h["x5t"], certs::x5t_sha1(&der));
    assert_eq!(h["x5c"].as_array().map(Vec::len), Some(1));
    assert_ne!(c["jti"], c2["jti"]);
}

#[test]
fn client_certificate_pkcs12_and_failures() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let (_, der) = rsa(d, "app");
    let (other_pem, _) = rsa(d, "other");
    e2e::openssl(
        d,
        &[
            "pkcs12",
            "-export",
            "-inkey",
            "app.key",
            "-in",
            "app.crt",
            "-out",
            "app.p12",
            "-passout",
            "pass:p12-pass-phrase",
        ],
    );
    let p12 = d.join("app.p12");
    let mut env = TestEnv::new();
    env.state().add_client_certificate(APP, &der);
    env.set_env("AZURE_CLIENT_ID", APP);
    env.set_env("AZURE_TENANT_ID", TENANT);
    env.set_env("AZURE_CLIENT_CERTIFICATE_PATH", p12.to_str().expect("utf8"));
    env.set_env("AZURE_CLIENT_CERTIFICATE_PASSWORD", "p12-pass-phrase");
    env.set_env("ENTRA_CRED_LOG", "debug");
    let out = token(&env, ARM).ok();
    assert_eq!(
        verified(&env, &out, "https://management.azure.com").appid,
        APP
    );
    assert!(out.stderr.contains("[debug]"), "{}", out.stderr);
    let assertion = env.state().requests_for(Endpoint::Token)[0]
        .param("client_assertion")
        .map(str::to_string)
        .expect("assertion");
    e2e::assert_no_secret(&out.stderr, &["p12-pass-phrase", &assertion]);

    // Each failure below asks for a scope not yet cached, so the source really runs.
    let mut n = 0;
    let mut fails = |env: &mut TestEnv, key: &str, value: &str, code: i32, want: &str| {
        env.set_env(key, value);
        n += 1;
        let out = token(env, &format!("api://scope-{n}/.default")).code_is(code);
        assert!(out.stderr.contains(want), "{key}={value}: {}", out.stderr);
        assert!(!out.stderr.contains("p12-pass-phrase"), "{}", out.stderr);
        out
    };
    fails(
        &mut env,
        "AZURE_CLIENT_CERTIFICATE_PASSWORD",
        "not-the-password",
        2,
        "wrong password",
    );
    env.set_env("AZURE_CLIENT_CERTIFICATE_PASSWORD", "p12-pass-phrase");

    // the key of one certificate with another certificate
    let app_crt = std::fs::read_to_string(d.join("app.crt")).expect("crt");
    let other_key = std::fs::read_to_string(d.join("other.key")).expect("key");
    let mixed = d.join("mixed.pem");
    std::fs::write(&mixed, format!("{app_crt}{other_key}")).expect("write");
    fails(
        &mut env,
        "AZURE_CLIENT_CERTIFICATE_PATH",
        mixed.to_str().expect("u"),
        2,
        "does not match",
    );

    let (ec, _) = e2e::test_certificate(
        d,
        "ec",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    fails(
        &mut env,
        "AZURE_CLIENT_CERTIFICATE_PATH",
        ec.to_str().expect("u"),
        2,
        "RSA",
    );

    let missing = d.join("missing.pem");
    fails(
        &mut env,
        "AZURE_CLIENT_CERTIFICATE_PATH",
        missing.to_str().expect("u"),
        2,
        "cannot read",
    );

    // a valid certificate that is not registered for the application: Entra refuses it
    let out = fails(
        &mut env,
        "AZURE_CLIENT_CERTIFICATE_PATH",
        other_pem.to_str().expect("u"),
        1,
        "AADSTS700027",
    );
    assert!(out.stderr.contains("key was not found"), "{}", out.stderr);
    assert_eq!(
        env.state().count(Endpoint::Token),
        2,
        "only the last two reached Entra"
    );
    env.assert_no_secret_in_files();
}

// ----- workload identity -----------------------------------------------------------------------

const ISSUER: &str = "https://oidc.prod-aks.azure.example/issuer/1";
const SUBJECT: &str = "system:serviceaccount:default:app";

fn federated_token(env: &TestEnv, n: u32) -> String {
    let now = entra_emulator::util::now_secs();
    env.state().sign(&serde_json::json!({
        "aud": ["api://AzureADTokenExchange"], "iss": ISSUER, "sub": SUBJECT,
        "iat": now, "nbf": now, "exp": now + 3600, "n": n,
    }))
}

#[test]
fn workload_identity_reads_the_file_each_time() {
    let mut env = TestEnv::new();
    env.state().add_federated_credential(APP, ISSUER, SUBJECT);
    let file = env.root().join("azure-identity-token");
    env.set_env("AZURE_CLIENT_ID", APP);
    env.set_env("AZURE_TENANT_ID", TENANT);
    env.set_env("AZURE_FEDERATED_TOKEN_FILE", file.to_str().expect("utf8"));
    let first = federated_token(&env, 1);
    std::fs::write(&file, format!("{first}\n")).expect("write");
    let (src, why, _) = status(&env);
    assert_eq!(src, "workload-identity");
    assert!(why.contains("federated token file"), "{why}");

    let out = token(&env, ARM).ok();
    assert_eq!(
        verified(&env, &out, "https://management.azure.com").appid,
        APP
    );
    // The file rotates (the kubelet rewrites it): the next fetch sends the new content.
    let second = federated_token(&env, 2);
    std::fs::write(&file, &second).expect("write");
    refresh(&env, ARM).ok();
    let sent: Vec<String> = env
        .state()
        .requests_for(Endpoint::Token)
        .iter()
        .map(|r| r.param("client_assertion").unwrap_or("").to_string())
        .collect();
    assert_eq!(sent, vec![first, second]);

    std::fs::write(&file, "  \n").expect("write");
    let out = token(&env, "api://empty/.default").code_is(2);
    assert!(out.stderr.contains("is empty"), "{}", out.stderr);
    std::fs::remove_file(&file).expect("rm");
    let out = token(&env, "api://missing/.default").code_is(2);
    assert!(
        out.stderr.contains("federated token file"),
        "{}",
        out.stderr
    );

    // An assertion Entra does not trust (another subject).
    let now = entra_emulator::util::now_secs();
    let stranger = env.state().sign(&serde_json::json!({
        "aud": "api://AzureADTokenExchange", "iss": ISSUER, "sub": "system:serviceaccount:x:y", "exp": now + 600}));
    std::fs::write(&file, stranger).expect("write");
    let out = token(&env, "api://stranger/.default").code_is(1);
    assert!(out.stderr.contains("AADSTS700213"), "{}", out.stderr);
    assert_eq!(env.state().count(Endpoint::Token), 3);
}

// ----- managed identity ------------------------------------------------------------------------

fn imds_url(env: &TestEnv) -> String {
    env.emu().url(imds::NAME).expect("imds listener")
}

/// IMDS token requests (the probe, which has no `Metadata` header, left out).
fn imds_token_requests(env: &TestEnv) -> Vec<entra_emulator::LoggedRequest> {
    env.state()
        .requests_for(Endpoint::Imds)
        .into_iter()
        .filter(|r| r.header("metadata") == Some("true"))
        .collect()
}

#[test]
fn managed_identity_imds_auto_probe_and_user_assigned() {
    let mut env = TestEnv::new();
    env.set_env("AZURE_POD_IDENTITY_AUTHORITY_HOST", &imds_url(&env));
    let (src, why, _) = status(&env);
    assert_eq!(src, "managed-identity");
    assert!(why.contains("instance metadata service answered"), "{why}");
    assert!(env.cache_dir().join("imds").join("probe").exists());
    let probes = env.state().count(Endpoint::Imds);
    // One probe, and one check that the machine has an identity (IMDS answering `Identity not
    // found` would mean no managed identity for auto).
    assert_eq!(probes, 2, "one probe, one identity check");

    let out = token(&env, ARM).ok();
    let c = verified(&env, &out, "https://management.azure.com");
    assert_eq!(
        (c.appid.as_str(), c.idtyp.as_str()),
        (imds::SYSTEM_CLIENT_ID, "app")
    );
    // The token request (after the identity check).
    let reqs: Vec<_> = imds_token_requests(&env).into_iter().skip(1).collect();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].path, imds::IMDS_PATH);
    assert_eq!(reqs[0].param("api-version"), Some("2018-02-01"));
    assert_eq!(
        reqs[0].param("resource"),
        Some("https://management.azure.com")
    );
    assert_eq!(reqs[0].param("client_id"), None);
    let (_, _, p) = status(&env);
    assert_eq!(p["account"]["username"], "managed-identity:system");
    // The cache hit re-probes nothing: the probe's answer is remembered.
    token(&env, ARM).ok();
    assert_eq!(env.state().count(Endpoint::Imds), probes + 1);

    // User-assigned identities: by client id (AZURE_CLIENT_ID under auto) and by object id.
    let ua = env
        .state()
        .add_managed_identity("b1c2d3e4-0000-4000-8000-00000000ua01", None, None);
    env.set_env("AZURE_CLIENT_ID", &ua.client_id);
    let out = token(&env, ARM).ok();
    assert_eq!(
        verified(&env, &out, "https://management.azure.com").appid,
        ua.client_id
    );
    assert_eq!(
        imds_token_requests(&env)
            .last()
            .and_then(|r| r.param("client_id").map(str::to_string)),
        Some(ua.client_id.clone())
    );
    env.write_config(&format!(
        "[profiles.default]\nflow = \"managed-identity\"\nmanaged_identity_client_id = \"object_id={}\"\n",
        ua.object_id
    ));
    let out = token(&env, "https://vault.azure.net/.default").ok();
    assert_eq!(
        verified(&env, &out, "https://vault.azure.net").appid,
        ua.client_id
    );
    assert_eq!(
        imds_token_requests(&env)
            .last()
            .and_then(|r| r.param("object_id").map(str::to_string)),
        Some(ua.object_id.clone())
    );
    env.write_config("[profiles.default]\nflow = \"managed-identity\"\nmanaged_identity_client_id = \"not-assigned-here\"\n");
    let out = token(&env, ARM).code_is(1);
    assert!(out.stderr.contains("Identity not found"), "{}", out.stderr);
}

#[test]
fn managed_identity_imds_retries_and_failures() {
    let mut env = TestEnv::new();
    env.set_env("AZURE_POD_IDENTITY_AUTHORITY_HOST", &imds_url(&env));
    env.write_config("[profiles.default]\nflow = \"managed-identity\"\n");
    let (_, why, _) = status(&env);
    assert!(
        why.starts_with("flow = managed-identity (IMDS at http://127.0.0.1:"),
        "{why}"
    );
    // IMDS answers 410 while it restarts, then 429 and 503: retried, then served.
    env.emu()
        .inject(Fault::status(Endpoint::Imds, 410).times(1));
    env.emu()
        .inject(Fault::status(Endpoint::Imds, 429).retry_after("0").times(1));
    env.emu()
        .inject(Fault::status(Endpoint::Imds, 404).times(1));
    let out = token(&env, ARM).ok();
    verified(&env, &out, "https://management.azure.com");
    assert_eq!(
        env.state().count(Endpoint::Imds),
        4,
        "three retried answers, then the token"
    );
    assert_eq!(
        env.state().count(Endpoint::Imds),
        imds_token_requests(&env).len() as u64,
        "no probe when the flow is forced"
    );

    // A malformed answer is one clear line, exit 1.
    env.emu()
        .inject(Fault::status(Endpoint::Imds, 200).body("{\"access_tok"));
    let out = token(&env, "api://malformed/.default").code_is(1);
    assert!(out.stderr.contains("not valid JSON"), "{}", out.stderr);

    // Unreachable IMDS: exit 5, bounded by ENTRA_CRED_HTTP_TIMEOUT.
    env.set_env("AZURE_POD_IDENTITY_AUTHORITY_HOST", e2e::CLOSED_IMDS);
    env.set_env("ENTRA_CRED_HTTP_TIMEOUT", "2");
    let out = token(&env, ARM.replace("management", "unreachable").as_str()).code_is(5);
    assert!(out.elapsed < Duration::from_secs(10), "{:?}", out.elapsed);
    assert!(out.stderr.contains("127.0.0.1:9"), "{}", out.stderr);
}

#[test]
fn auto_without_managed_identity_falls_through_quickly() {
    // The harness points IMDS at a closed port: the probe fails at once and is remembered.
    let env = TestEnv::new();
    let out = token(&env, ARM).code_is(3);
    assert!(out.stderr.contains("entra-cred login"), "{}", out.stderr);
    assert!(out.elapsed < Duration::from_secs(5), "{:?}", out.elapsed);
    let probe =
        json(&std::fs::read_to_string(env.cache_dir().join("imds").join("probe")).expect("probe"));
    assert_eq!(probe["available"], false);
    assert_eq!(probe["url"], e2e::CLOSED_IMDS);
    let (src, why, _) = status(&env);
    assert_eq!(src, "device-code");
    assert!(why.contains("no managed identity"), "{why}");
    assert_eq!(env.state().count(Endpoint::Any), 0);
}

#[test]
fn managed_identity_app_service() {
    let mut env = TestEnv::new();
    let header = env.state().identity_header();
    env.set_env("IDENTITY_ENDPOINT", &imds::app_service_url(&imds_url(&env)));
    env.set_env("IDENTITY_HEADER", &header);
    let (src, why, _) = status(&env);
    assert_eq!(src, "managed-identity");
    assert!(
        why.contains("IDENTITY_ENDPOINT and IDENTITY_HEADER"),
        "{why}"
    );
    env.set_env("ENTRA_CRED_LOG", "debug");
    let out = token(&env, ARM).ok();
    assert!(out.stderr.contains("[debug]"), "{}", out.stderr);
    e2e::assert_no_secret(&out.stderr, &[&header]);
    assert_eq!(
        verified(&env, &out, "https://management.azure.com").appid,
        imds::SYSTEM_CLIENT_ID
    );
    let r = env.state().requests_for(Endpoint::AppService);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].method, "GET");
    assert_eq!(r[0].param("api-version"), Some("2019-08-01"));
    assert_eq!(r[0].param("resource"), Some("https://management.azure.com"));
    assert_eq!(r[0].header("x-identity-header"), Some(header.as_str()));
    assert_eq!(
        env.state().count(Endpoint::Imds),
        0,
        "no IMDS probe on App Service"
    );

    let ua = env
        .state()
        .add_managed_identity("c1c2d3e4-0000-4000-8000-00000000ua02", None, None);
    env.write_config(&format!(
        "[profiles.default]\nmanaged_identity_client_id = \"{}\"\n",
        ua.client_id
    ));
    let out = token(&env, ARM).ok();
    assert_eq!(
        verified(&env, &out, "https://management.azure.com").appid,
        ua.client_id
    );

    env.set_env("IDENTITY_HEADER", "stale-header-value");
    let out = token(&env, "api://x/.default").code_is(1);
    assert!(
        out.stderr.contains("HTTP 401") && out.stderr.contains("IDENTITY_HEADER"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("stale-header-value"), "{}", out.stderr);
}

#[test]
fn managed_identity_cloud_shell_with_date_expiry() {
    let mut env = TestEnv::new();
    env.state().set_managed_identity_date_expiry(true);
    env.set_env("MSI_ENDPOINT", &imds::cloud_shell_url(&imds_url(&env)));
    let (src, why, _) = status(&env);
    assert_eq!(src, "managed-identity");
    assert!(why.contains("MSI_ENDPOINT"), "{why}");
    // https://management.core.windows.net/ keeps its slash in the resource
    let out = token(&env, "https://management.core.windows.net//.default").ok();
    verified(&env, &out, "https://management.core.windows.net");
    let r = env.state().requests_for(Endpoint::CloudShell);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].method, "POST");
    assert_eq!(
        r[0].param("resource"),
        Some("https://management.core.windows.net/")
    );
    assert_eq!(r[0].header("metadata"), Some("true"));
    // Cloud Shell has no user-assigned identities.
    env.write_config("[profiles.default]\nmanaged_identity_client_id = \"x\"\n");
    token(&env, "api://y/.default").code_is(2);
}

// ----- Azure CLI -------------------------------------------------------------------------------

/// A fake `az` in a fresh directory: records its arguments, then runs `body`.
fn fake_az(dir: &Path, body: &str) -> PathBuf {
    let bin = dir.join("fake-az-bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let script = bin.join("az");
    let log = dir.join("az-args");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$@\" >> '{}'\n{body}\n", log.display()),
    )
    .expect("write az");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    bin
}

fn az_env(env: &mut TestEnv, bin: &Path) {
    env.set_env("PATH", &format!("{}:/usr/bin:/bin", bin.display()));
    env.write_config(&format!(
        "[profiles.default]\nflow = \"azure-cli\"\ntenant = \"{TENANT}\"\n"
    ));
}

#[test]
fn azure_cli_token_expiry_and_tenant() {
    let mut env = TestEnv::new();
    // The fixture's shape, with times relative to now (as az >= 2.54 prints them).
    let bin = fake_az(
        env.root(),
        r#"now=$(date +%s); exp=$((now + 3000))
local=$(TZ=XST-2 date -d "@$exp" '+%Y-%m-%d %H:%M:%S.000000')
if [ -n "$NO_EXPIRES_ON" ]; then
printf '{"accessToken": "az-token-%s", "expiresOn": "%s", "subscription": "0b1f6471-1bf0-4dda-aec3-111122223333", "tenant": "3c0b1f5e-8d2a-4a57-9f3e-0b7c1d2e4a6f", "tokenType": "Bearer"}\n' "$exp" "$local"
else
printf '{"accessToken": "az-token-%s", "expiresOn": "%s", "expires_on": %s, "subscription": "0b1f6471-1bf0-4dda-aec3-111122223333", "tenant": "3c0b1f5e-8d2a-4a57-9f3e-0b7c1d2e4a6f", "tokenType": "Bearer"}\n' "$exp" "$local" "$exp"
fi"#,
    );
    az_env(&mut env, &bin);
    let (src, why, _) = status(&env);
    assert_eq!(
        (src.as_str(), why.as_str()),
        ("azure-cli", "flow = azure-cli")
    );
    // The machine runs at UTC-5: expires_on (UTC) must win over expiresOn (UTC+2 here).
    env.set_env("TZ", "YST5");
    let out = token(&env, ARM).ok();
    let v = json(&out.stdout);
    let exp = v["expires_on"].as_i64().expect("expires_on");
    assert_eq!(v["access_token"], format!("az-token-{exp}"));
    let args = std::fs::read_to_string(env.root().join("az-args")).expect("args");
    assert_eq!(
        args.trim(),
        format!("account get-access-token --output json --scope {ARM} --tenant {TENANT}")
    );
    // Without expires_on, expiresOn is read in the machine's zone (UTC+2 here, as it was written).
    env.set_env("TZ", "XST-2");
    env.set_env("NO_EXPIRES_ON", "1");
    let out = token(&env, "api://local/.default").ok();
    let v = json(&out.stdout);
    assert_eq!(v["access_token"], format!("az-token-{}", v["expires_on"]));
    // cached: az is not run again
    token(&env, ARM).ok();
    assert_eq!(
        std::fs::read_to_string(env.root().join("az-args"))
            .expect("a")
            .lines()
            .count(),
        2
    );
}

#[test]
fn azure_cli_failures() {
    let mut env = TestEnv::new();
    // not signed in
    let bin = fake_az(
        env.root(),
        "echo \"ERROR: Please run 'az login' to setup account.\" >&2; exit 1",
    );
    az_env(&mut env, &bin);
    let out = token(&env, ARM).code_is(3);
    assert!(out.stderr.contains("az login"), "{}", out.stderr);
    // az missing
    let empty = env.root().join("empty-bin");
    std::fs::create_dir_all(&empty).expect("mkdir");
    env.set_env("PATH", empty.to_str().expect("u"));
    let out = token(&env, ARM).code_is(3);
    assert!(
        out.stderr.contains("az login") && out.stderr.contains("not on PATH"),
        "{}",
        out.stderr
    );
    // another failure: az's own message, exit 1
    let bin = fake_az(
        &env.root().join("b"),
        "echo 'ERROR: AADSTS50076: MFA required.' >&2; exit 1",
    );
    env.set_env("PATH", &format!("{}:/usr/bin:/bin", bin.display()));
    let out = token(&env, ARM).code_is(1);
    assert!(out.stderr.contains("AADSTS50076"), "{}", out.stderr);
    // malformed output
    let bin = fake_az(&env.root().join("c"), "echo 'not json'");
    env.set_env("PATH", &format!("{}:/usr/bin:/bin", bin.display()));
    let out = token(&env, ARM).code_is(1);
    assert!(out.stderr.contains("not JSON"), "{}", out.stderr);
    // hangs: killed after ENTRA_CRED_AZ_TIMEOUT
    let bin = fake_az(&env.root().join("d"), "exec sleep 30");
    env.set_env("PATH", &format!("{}:/usr/bin:/bin", bin.display()));
    env.set_env("ENTRA_CRED_AZ_TIMEOUT", "1");
    let out = token(&env, ARM).code_is(5);
    assert!(out.elapsed < Duration::from_secs(8), "{:?}", out.elapsed);
    assert!(out.stderr.contains("did not answer"), "{}", out.stderr);
}

// ----- auto order, flow, clouds ----------------------------------------------------------------

#[test]
fn auto_order_and_forced_flow() {
    let dir = tempfile::tempdir().expect("tmp");
    let (pem, der) = rsa(dir.path(), "app");
    let mut env = TestEnv::new();
    env.state().add_client(APP, "auto-secret-value");
    // Under auto, AZURE_CLIENT_ID also names the user-assigned identity IMDS must have.
    env.state().add_managed_identity(APP, None, None);
    env.state().add_client_certificate("cert-only-app", &der);
    env.state().add_federated_credential(APP, ISSUER, SUBJECT);
    let file = env.root().join("fed");
    std::fs::write(&file, federated_token(&env, 1)).expect("write");
    env.set_env("AZURE_POD_IDENTITY_AUTHORITY_HOST", &imds_url(&env));
    env.set_env("AZURE_CLIENT_ID", APP);
    env.set_env("AZURE_TENANT_ID", TENANT);
    env.set_env("AZURE_FEDERATED_TOKEN_FILE", file.to_str().expect("u"));
    env.set_env("AZURE_CLIENT_CERTIFICATE_PATH", pem.to_str().expect("u"));
    env.set_env("AZURE_CLIENT_SECRET", "auto-secret-value");
    assert_eq!(status(&env).0, "client-secret");
    env.set_env("AZURE_CLIENT_SECRET", "");
    assert_eq!(status(&env).0, "client-certificate");
    env.set_env("AZURE_CLIENT_CERTIFICATE_PATH", "");
    assert_eq!(status(&env).0, "workload-identity");
    env.set_env("AZURE_FEDERATED_TOKEN_FILE", "");
    assert_eq!(status(&env).0, "managed-identity");
    assert_eq!(
        env.state().count(Endpoint::Any),
        2,
        "status only probed IMDS (the probe and the identity check)"
    );

    // flow = ... forces a source even when another would come first.
    env.set_env("AZURE_CLIENT_SECRET", "auto-secret-value");
    env.set_env("AZURE_FEDERATED_TOKEN_FILE", file.to_str().expect("u"));
    env.write_config("[profiles.default]\nflow = \"workload-identity\"\n");
    let (src, why, _) = status(&env);
    assert_eq!(
        (src.as_str(), why.as_str()),
        ("workload-identity", "flow = workload-identity")
    );
    token(&env, ARM).ok();
    let r = env.state().requests_for(Endpoint::Token);
    assert_eq!(r.len(), 1);
    assert!(r[0].param("client_secret").is_none() && r[0].param("client_assertion").is_some());
}

#[test]
fn clouds_set_the_authority() {
    let mut env = TestEnv::new();
    env.write_config("[profiles.default]\ncloud = \"china\"\n[profiles.gov]\ncloud = \"usgov\"\n");
    // cloud (a key in the file) wins over AZURE_AUTHORITY_HOST (the environment)
    let (_, _, p) = status(&env);
    assert_eq!(p["cloud"], "china");
    assert_eq!(p["authority"], "https://login.chinacloudapi.cn");
    env.set_env("ENTRA_CRED_PROFILE", "gov");
    let (_, _, p) = status(&env);
    assert_eq!(p["authority"], "https://login.microsoftonline.us");
    // an explicit authority wins over the cloud's: tokens come from the emulator
    env.state().add_client(APP, "gov-secret-value");
    env.write_config(&format!(
        "[profiles.gov]\ncloud = \"usgov\"\nauthority = \"{}\"\nclient_id = \"{APP}\"\nclient_secret = \"gov-secret-value\"\ntenant = \"{TENANT}\"\n",
        env.emu().entra_url()
    ));
    let (src, _, p) = status(&env);
    assert_eq!(
        (src.as_str(), p["cloud"].as_str()),
        ("client-secret", Some("usgov"))
    );
    let out = token(&env, "https://management.usgovcloudapi.net/.default").ok();
    verified(&env, &out, "https://management.usgovcloudapi.net");
}
