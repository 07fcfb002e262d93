//! `entra-credential-process` driven by the real AWS clients: boto3 (as a python3 process) and
//! the AWS CLI v1 (`python3 -m awscli`), with a test `AWS_CONFIG_FILE` whose profiles run the
//! helper as `credential_process`, against the emulator's Entra ID and STS.

use e2e::emulator::services::sts;
use e2e::{bin, run, spawn_many, Endpoint, Fault, Options, RunOutput, TestEnv};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);
const APP: &str = "6a2f7a3e-1b2c-4d5e-8f90-123456789abc";
const APP_SECRET: &str = "aws-app-secret-value";
const PUBLIC_CLIENT: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
const SCOPE: &str = "api://aws-federation/.default";

/// The real python3 behind any pyenv shim (a shim would need the real `$HOME`).
fn python() -> PathBuf {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys, boto3, awscli; print(sys.executable)"])
            .output()
            .expect("python3 with boto3 and awscli is needed for these tests");
        assert!(
            out.status.success(),
            "python3 cannot import boto3/awscli: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
    .clone()
}

const BOTO3: &str = r#"
import json, sys
import boto3, botocore.exceptions
try:
    c = boto3.Session(profile_name=sys.argv[1]).get_credentials()
    f = c.get_frozen_credentials()
    print(json.dumps({"access_key": f.access_key, "secret_key": f.secret_key,
                      "token": f.token, "method": c.method,
                      "expiry": str(getattr(c, "_expiry_time", ""))}))
except botocore.exceptions.CredentialRetrievalError as e:
    print(json.dumps({"error": type(e).__name__, "message": str(e)}))
    sys.exit(3)
"#;

struct Aws {
    env: TestEnv,
}

impl Aws {
    /// An environment with AWS variables pointing at test files and the emulator's STS;
    /// `app` adds client-secret credentials for the Entra side.
    fn new(opts: Options, app: bool) -> Aws {
        let mut opts = opts;
        if app {
            opts.clients.push((APP.into(), APP_SECRET.into()));
        }
        let mut env = TestEnv::with_options(opts);
        let aws_dir = env.home().join(".aws");
        std::fs::create_dir_all(&aws_dir).expect("aws dir");
        let creds = aws_dir.join("credentials");
        std::fs::write(&creds, "").expect("empty credentials file");
        let config = aws_dir.join("config");
        let sts_url = env.emu().url(sts::NAME).expect("sts url");
        for (k, v) in [
            ("AWS_CONFIG_FILE", config.to_string_lossy().into_owned()),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                creds.to_string_lossy().into_owned(),
            ),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_ENDPOINT_URL_STS", sts_url),
            // Nothing may leave the machine; a closed loopback port catches strays.
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9".into()),
            (
                "AZURE_POD_IDENTITY_AUTHORITY_HOST",
                "http://127.0.0.1:9".into(),
            ),
        ] {
            env.set_env(k, &v);
        }
        if app {
            env.set_env("AZURE_TENANT_ID", entra_emulator_tenant());
            env.set_env("AZURE_CLIENT_ID", APP);
            env.set_env("AZURE_CLIENT_SECRET", APP_SECRET);
        }
        Aws { env }
    }

    /// Writes `~/.aws/config` with one profile per `(name, helper arguments)`.
    fn aws_config(&self, profiles: &[(&str, &str)]) {
        let helper = bin("entra-credential-process");
        let mut text = String::new();
        for (name, args) in profiles {
            text.push_str(&format!(
                "[profile {name}]\nregion = us-east-1\ncredential_process = \"{}\" {args}\n\n",
                helper.display()
            ));
        }
        std::fs::write(self.env.home().join(".aws/config"), text).expect("aws config");
    }

    fn boto3(&self, profile: &str) -> RunOutput {
        let mut c = self.env.tool(&python().to_string_lossy());
        c.args(["-c", BOTO3, profile]);
        run(&mut c, None, T)
    }

    fn aws_cli(&self, args: &[&str]) -> RunOutput {
        let mut c = self.env.tool(&python().to_string_lossy());
        c.args(["-m", "awscli"]).args(args);
        run(&mut c, None, T)
    }

    fn helper(&self, args: &[&str]) -> RunOutput {
        let mut c = self.env.cmd("entra-credential-process");
        c.args(args);
        run(&mut c, None, T)
    }

    fn assume_calls(&self) -> usize {
        sts::count_action(self.env.state(), "AssumeRoleWithWebIdentity")
    }

    fn entra_calls(&self) -> u64 {
        self.env.state().count(Endpoint::Token)
    }
}

fn entra_emulator_tenant() -> &'static str {
    e2e::emulator::DEFAULT_TENANT
}

fn json(s: &str) -> Value {
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

fn fed_args(extra: &str) -> String {
    format!("--role-arn {} --scope {SCOPE}{extra}", sts::DEFAULT_ROLE)
}

#[test]
fn token_mode_boto3_gets_the_entra_token_and_caches_it() {
    let aws = Aws::new(Options::default(), true);
    aws.aws_config(&[("tok", &format!("--scope {SCOPE}"))]);
    let out = aws.boto3("tok").ok();
    let v = json(&out.stdout);
    assert_eq!(v["access_key"], "entra");
    assert_eq!(v["secret_key"], "entra");
    assert_eq!(v["method"], "custom-process");
    let token = v["token"].as_str().expect("token");
    let claims = aws
        .env
        .state()
        .verify_access_token(token, "api://aws-federation", None)
        .expect("the SessionToken is an Entra access token for the scope");
    assert_eq!(claims.appid, APP);
    assert!(v["expiry"].as_str().unwrap_or("").starts_with("20"));
    assert_eq!(aws.entra_calls(), 1);

    // A second process within the window: served from the cache.
    let again = json(&aws.boto3("tok").ok().stdout);
    assert_eq!(again["token"], v["token"]);
    assert_eq!(aws.entra_calls(), 1);
    assert_eq!(aws.assume_calls(), 0);
    aws.env.assert_clean_stderr(&out);
    aws.env.assert_no_secret_in_files();
}

#[test]
fn token_mode_refreshes_inside_the_15_minute_window() {
    // Tokens that live 15 minutes are always inside botocore's refresh window.
    let aws = Aws::new(
        Options {
            token_lifetime: 900,
            ..Options::default()
        },
        true,
    );
    let a = json(&aws.helper(&["--scope", SCOPE]).ok().stdout);
    let b = json(&aws.helper(&["--scope", SCOPE]).ok().stdout);
    assert_ne!(a["SessionToken"], b["SessionToken"]);
    assert_eq!(aws.entra_calls(), 2);
}

#[test]
fn federation_boto3_and_aws_cli_use_sts_credentials() {
    let aws = Aws::new(Options::default(), true);
    aws.aws_config(&[("fed", &fed_args(""))]);
    let out = aws.boto3("fed").ok();
    let v = json(&out.stdout);
    let issued = sts::issued(aws.env.state());
    assert_eq!(issued.len(), 1);
    let k = &issued[0];
    assert_eq!(v["access_key"], k.access_key_id.as_str());
    assert_eq!(v["secret_key"], k.secret_access_key.as_str());
    assert_eq!(v["token"], k.session_token.as_str());
    assert!(k.access_key_id.starts_with("ASIA"));
    // The web identity token went unsigned, with the derived session name (the client id).
    let log = aws.env.state().requests_for(Endpoint::Sts);
    assert_eq!(log[0].method, "POST");
    assert_eq!(log[0].param("Version"), Some("2011-06-15"));
    assert_eq!(log[0].param("RoleSessionName"), Some(APP));
    assert!(log[0].header("authorization").is_none());
    assert_eq!(aws.assume_calls(), 1);
    assert_eq!(aws.entra_calls(), 1);

    // The real AWS CLI signs GetCallerIdentity with those keys (SigV4 + session token).
    let who = aws
        .aws_cli(&[
            "sts",
            "get-caller-identity",
            "--profile",
            "fed",
            "--output",
            "json",
        ])
        .ok();
    let id = json(&who.stdout);
    assert_eq!(
        id["Arn"],
        format!("arn:aws:sts::{}:assumed-role/entra-dev/{APP}", sts::ACCOUNT)
    );
    assert_eq!(id["Account"], sts::ACCOUNT);
    assert_eq!(sts::count_action(aws.env.state(), "GetCallerIdentity"), 1);
    // ... and neither the CLI's process run nor another boto3 run asked STS or Entra again.
    aws.boto3("fed").ok();
    assert_eq!(aws.assume_calls(), 1);
    assert_eq!(aws.entra_calls(), 1);

    // The emulator really checks the signature: the same key id and session token with a
    // wrong secret key are refused.
    let config = aws.env.home().join(".aws/config");
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str(&format!(
        "[profile forged]\nregion = us-east-1\naws_access_key_id = {}\naws_secret_access_key = {}x\naws_session_token = {}\n",
        k.access_key_id, "not-the-secret", k.session_token
    ));
    std::fs::write(&config, text).expect("config");
    let forged = aws.aws_cli(&["sts", "get-caller-identity", "--profile", "forged"]);
    assert_ne!(forged.code, 0);
    assert!(
        forged.stderr.contains("SignatureDoesNotMatch"),
        "{}",
        forged.stderr
    );
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .expect("config")
            .split("[profile forged]")
            .next()
            .unwrap_or(""),
    )
    .expect("config");
    for o in [&out, &who] {
        aws.env.assert_clean_stderr(o);
    }
    aws.env.assert_no_secret_in_files();
}

#[test]
fn wrong_audience_is_one_line_in_credential_retrieval_error() {
    let aws = Aws::new(Options::default(), true);
    aws.aws_config(&[(
        "bad",
        &format!(
            "--role-arn {} --scope api://not-trusted/.default",
            sts::DEFAULT_ROLE
        ),
    )]);
    let out = aws.boto3("bad").code_is(3);
    let v = json(&out.stdout);
    assert_eq!(v["error"], "CredentialRetrievalError");
    let msg = v["message"].as_str().expect("message");
    assert!(
        msg.contains("custom-process")
            && msg.contains("entra-credential-process: STS rejected the Entra token (InvalidIdentityToken: Incorrect token audience)"),
        "{msg}"
    );
    // The helper itself: exactly one stderr line, exit 1, nothing on stdout.
    let direct = aws.helper(&[
        "--role-arn",
        sts::DEFAULT_ROLE,
        "--scope",
        "api://not-trusted/.default",
    ]);
    let direct = direct.code_is(1);
    assert_eq!(direct.stdout, "");
    assert_eq!(direct.stderr.lines().count(), 1, "{}", direct.stderr);
    aws.env.assert_clean_stderr(&direct);
    aws.env.assert_no_secret_in(msg);
}

#[test]
fn sts_refusals_map_to_exit_codes() {
    let aws = Aws::new(Options::default(), true);
    // A role whose trust policy does not allow the provider.
    let o = aws
        .helper(&[
            "--role-arn",
            "arn:aws:iam::123456789012:role/not-trusting",
            "--scope",
            SCOPE,
        ])
        .code_is(1);
    assert!(o.stderr.contains("AccessDenied") && o.stderr.contains("role/not-trusting"));
    assert_eq!(o.stderr.lines().count(), 1);

    // IDPCommunicationError is retried.
    aws.env.emu().inject(
        Fault::status(Endpoint::Sts, 400)
            .body(&sts::error_xml(
                "Sender",
                "IDPCommunicationError",
                "Couldn't retrieve verification key from your identity provider",
            ))
            .content_type("text/xml"),
    );
    let o = aws
        .helper(&["--role-arn", sts::DEFAULT_ROLE, "--scope", SCOPE])
        .ok();
    assert_eq!(json(&o.stdout)["Version"], 1);
    assert_eq!(aws.assume_calls(), 3); // denied, faulted, then granted

    // Bad arguments are configuration errors (2), before any request.
    let before = aws.env.state().count(Endpoint::Any);
    for args in [
        &["--role-arn", "entra-dev", "--scope", SCOPE][..],
        &[
            "--role-arn",
            sts::DEFAULT_ROLE,
            "--scope",
            SCOPE,
            "--duration-seconds",
            "60",
        ],
        &[
            "--role-arn",
            sts::DEFAULT_ROLE,
            "--scope",
            SCOPE,
            "--role-session-name",
            "a b",
        ],
        &["--role-arn", sts::DEFAULT_ROLE],
        &["--region", "us-east-1", "--scope", SCOPE],
    ] {
        let o = aws.helper(args).code_is(2);
        assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    }
    assert_eq!(aws.env.state().count(Endpoint::Any), before);
}

#[test]
fn non_loopback_http_endpoint_is_refused() {
    let mut aws = Aws::new(Options::default(), true);
    aws.env
        .set_env("AWS_ENDPOINT_URL_STS", "http://sts.example.com");
    let o = aws
        .helper(&["--role-arn", sts::DEFAULT_ROLE, "--scope", SCOPE])
        .code_is(2);
    assert!(o.stderr.contains("plain http"), "{}", o.stderr);
    assert_eq!(aws.env.state().count(Endpoint::Any), 0);
}

#[test]
fn concurrent_runs_make_one_sts_call() {
    let aws = Aws::new(Options::default(), true);
    let outs = spawn_many(
        6,
        |_| {
            let mut c = aws.env.cmd("entra-credential-process");
            c.args(["--role-arn", sts::DEFAULT_ROLE, "--scope", SCOPE]);
            c
        },
        None,
        T,
    );
    let keys: Vec<String> = outs
        .into_iter()
        .map(|o| {
            json(&o.ok().stdout)["AccessKeyId"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert!(keys.iter().all(|k| k == &keys[0] && k.starts_with("ASIA")));
    assert_eq!(aws.assume_calls(), 1);
    assert_eq!(aws.entra_calls(), 1);
}

#[test]
fn short_sts_credentials_are_renewed_each_run() {
    // 15-minute credentials are already inside the refresh window.
    let aws = Aws::new(Options::default(), true);
    sts::configure(aws.env.state(), |c| c.default_duration = 900);
    let args = ["--role-arn", sts::DEFAULT_ROLE, "--scope", SCOPE];
    let a = json(&aws.helper(&args).ok().stdout);
    let b = json(&aws.helper(&args).ok().stdout);
    assert_ne!(a["AccessKeyId"], b["AccessKeyId"]);
    assert_eq!(aws.assume_calls(), 2);
    // The Entra token (an hour) is reused.
    assert_eq!(aws.entra_calls(), 1);
}

#[test]
fn no_sign_in_is_exit_3_with_the_hint() {
    let aws = Aws::new(Options::default(), false);
    aws.aws_config(&[("tok", &format!("--scope {SCOPE}"))]);
    let o = aws.helper(&["--scope", SCOPE]).code_is(3);
    assert!(o.stderr.contains("entra-cred login"), "{}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 1);
    let b = aws.boto3("tok").code_is(3);
    assert!(json(&b.stdout)["message"]
        .as_str()
        .unwrap_or("")
        .contains("entra-cred login"));
    // No prompt was started.
    assert_eq!(aws.env.state().count(Endpoint::DeviceCode), 0);
}

#[test]
fn id_token_kind_after_device_code_login() {
    // Tokens of 5 minutes: the ID token from the sign-in is already too old to send, so the
    // helper refreshes it through the refresh token.
    let aws = Aws::new(
        Options {
            token_lifetime: 300,
            ..Options::default()
        },
        false,
    );
    sts::configure(aws.env.state(), |c| c.audiences.push(PUBLIC_CLIENT.into()));
    let login = run(aws.env.cmd("entra-cred").args(["login"]), None, T).ok();
    aws.env.assert_clean_stderr(&login);
    assert_eq!(aws.env.state().count_grant("refresh_token"), 0);
    // A token shorter than the margin is served for a few seconds after it was fetched (the
    // engine's single flight): make the sign-in's tokens a minute old.
    e2e::age_cache(&aws.env.cache_dir(), 60);
    aws.aws_config(&[(
        "idk",
        &format!("--role-arn {} --token-kind id", sts::DEFAULT_ROLE),
    )]);
    let out = aws.boto3("idk").ok();
    let v = json(&out.stdout);
    assert!(v["access_key"].as_str().unwrap_or("").starts_with("ASIA"));
    assert_eq!(aws.env.state().count_grant("refresh_token"), 1);
    let req = &aws.env.state().requests_for(Endpoint::Sts)[0];
    let token = req.param("WebIdentityToken").expect("token");
    let claims = aws
        .env
        .state()
        .verify_jwt(token)
        .expect("an emulator token");
    assert_eq!(claims["aud"], PUBLIC_CLIENT);
    assert!(
        claims.get("idtyp").is_none(),
        "an ID token, not an access token"
    );
    assert_eq!(req.param("RoleSessionName"), Some("alice@contoso.example"));

    let who = aws
        .aws_cli(&[
            "sts",
            "get-caller-identity",
            "--profile",
            "idk",
            "--output",
            "json",
        ])
        .ok();
    assert_eq!(
        json(&who.stdout)["Arn"],
        format!(
            "arn:aws:sts::{}:assumed-role/entra-dev/alice@contoso.example",
            sts::ACCOUNT
        )
    );
    assert_eq!(aws.assume_calls(), 1);
    assert_eq!(aws.env.state().count_grant("refresh_token"), 1);
    aws.env.assert_clean_stderr(&out);
    aws.env.assert_no_secret_in_files();
}

#[test]
fn debug_log_leaks_no_secret_and_logout_forgets_sts_state() {
    let mut aws = Aws::new(Options::default(), true);
    aws.env.set_env("ENTRA_CRED_LOG", "debug");
    let args = ["--role-arn", sts::DEFAULT_ROLE, "--scope", SCOPE];
    let o = aws.helper(&args).ok();
    assert!(!o.stderr.is_empty(), "debug output expected");
    aws.env.assert_clean_stderr(&o);
    let sts_dir = aws.env.cache_dir().join(sts::NAME);
    let files = |ext: &str| {
        std::fs::read_dir(&sts_dir)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == ext))
                    .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(files("json"), 1);
    run(aws.env.cmd("entra-cred").args(["logout"]), None, T).ok();
    assert_eq!(files("json"), 0, "logout removes the derived STS state");
    aws.helper(&args).ok();
    assert_eq!(aws.assume_calls(), 2);
}
