//! Tokens from the Azure CLI: `az account get-access-token --output json
//! --scope S [--tenant T]`.
//!
//! `az` runs with stdin closed and is killed when it has not answered within
//! `ENTRA_CRED_AZ_TIMEOUT` seconds (default 10). Expiry comes from `expires_on`
//! (POSIX seconds, UTC; Azure CLI ≥ 2.54); only when that is absent is
//! `expiresOn` read, as the machine's local time (which is what older CLIs
//! print). `--tenant` is passed when the tenant is a specific one (not
//! `organizations`, `common` or `consumers`).
//!
//! `az` missing, or not signed in (its stderr says `az login`), is exit 3 with
//! the hint to run `az login`.

use super::refusal::detail;
use super::{AppSource, Auto, Ctx, Identity, Source};
use crate::entra::TokenResponse;
use crate::error::{one_line, Error, Result};
use crate::secret::Secret;
use serde_json::Value;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use time::{PrimitiveDateTime, UtcOffset};

/// `flow = "azure-cli"`: never picked by `auto`. Its tokens are the CLI's
/// signed-in account's, one identity on the machine (session `azure-cli`).
pub const SOURCE: Source =
    Source::application("azure-cli", Auto::Never, &AzureCli).keyed(Identity::Machine);

/// The Azure CLI source.
pub struct AzureCli;

/// Default time `az` may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

fn timeout() -> Duration {
    crate::config::env_var("ENTRA_CRED_AZ_TIMEOUT")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| *v > 0.0 && *v < 3600.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_TIMEOUT)
}

fn program() -> &'static str {
    if cfg!(windows) {
        "az.cmd"
    } else {
        "az"
    }
}

/// Whether `tenant` names one tenant (and so is worth passing as `--tenant`).
fn specific_tenant(tenant: &str) -> bool {
    !matches!(
        tenant.to_ascii_lowercase().as_str(),
        "" | "organizations" | "common" | "consumers"
    )
}

/// The arguments given to `az`.
pub fn args(scope: &str, tenant: &str) -> Vec<String> {
    let mut a: Vec<String> = [
        "account",
        "get-access-token",
        "--output",
        "json",
        "--scope",
        scope,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if specific_tenant(tenant) {
        a.push("--tenant".into());
        a.push(tenant.to_string());
    }
    a
}

/// Parses what `az account get-access-token -o json` prints. `local` gives the
/// machine's UTC offset at a local time (for `expiresOn`).
pub fn parse_output(
    out: &str,
    local: &dyn Fn(PrimitiveDateTime) -> Option<UtcOffset>,
) -> std::result::Result<TokenResponse, String> {
    let v: Value =
        serde_json::from_str(out.trim()).map_err(|_| "its output is not JSON".to_string())?;
    let obj = v.as_object().ok_or("its output is not a JSON object")?;
    let token = obj
        .get("accessToken")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("its output has no accessToken")?
        .to_string();
    let expires_on = match obj.get("expires_on").filter(|v| !v.is_null()) {
        Some(v) => crate::json::number(Some(v)).ok_or("its expires_on is not a number")?,
        None => {
            let raw = obj
                .get("expiresOn")
                .and_then(Value::as_str)
                .ok_or("its output has neither expires_on nor expiresOn")?;
            local_time(raw, local)
                .ok_or_else(|| format!("its expiresOn '{}' is not a local time", one_line(raw)))?
        }
    };
    let expires_on = crate::timefmt::clamp_expiry(expires_on);
    Ok(TokenResponse {
        access_token: Secret::new(token),
        refresh_token: None,
        id_token: None,
        expires_on,
        token_type: obj
            .get("tokenType")
            .and_then(Value::as_str)
            .unwrap_or("Bearer")
            .to_string(),
        scope: String::new(),
    })
}

/// `2026-11-21 21:59:10.000000` read as local time.
fn local_time(raw: &str, local: &dyn Fn(PrimitiveDateTime) -> Option<UtcOffset>) -> Option<i64> {
    use time::macros::format_description;
    let f = format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    let t = PrimitiveDateTime::parse(raw.trim(), f).ok()?;
    let off = local(t)?;
    Some(t.assume_offset(off).unix_timestamp())
}

/// The machine's offset at local time `t` (time zone rules included).
fn system_offset(t: PrimitiveDateTime) -> Option<UtcOffset> {
    // Ask for the offset at the instant `t` would be in UTC, then correct once
    // (enough across a DST change but for the ambiguous hour itself).
    let guess = UtcOffset::local_offset_at(t.assume_utc()).ok()?;
    UtcOffset::local_offset_at(t.assume_offset(guess)).ok()
}

/// What `az` did.
struct Ran {
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
}

fn run_az(args: &[String], limit: Duration) -> Result<Ran> {
    let mut child = Command::new(program())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::InteractionRequired(
                    "the Azure CLI (az) is not on PATH: install it and run `az login`, or choose another flow for this profile".into(),
                )
            } else {
                Error::Other(format!("cannot run az: {e}"))
            }
        })?;
    let pipe = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(r) = r {
                let _ = r.take(1 << 20).read_to_end(&mut buf);
            }
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out_t = pipe(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err_t = pipe(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if start.elapsed() >= limit => {
                let _ = child.kill();
                let _ = child.wait();
                // A grandchild may hold the pipes: do not wait for the readers.
                return Err(Error::Network(format!(
                    "az account get-access-token did not answer within {} s (ENTRA_CRED_AZ_TIMEOUT); it was stopped",
                    limit.as_secs_f64().round()
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(Error::Other(format!("waiting for az: {e}"))),
        }
    };
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    Ok(Ran {
        status,
        stdout,
        stderr,
    })
}

/// The first line of az's stderr worth showing.
fn first_error(stderr: &str) -> String {
    let line = stderr
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("WARNING"))
        .unwrap_or("");
    let line = line.strip_prefix("ERROR:").unwrap_or(line).trim();
    let mut s = one_line(line);
    if s.chars().count() > 300 {
        s = s.chars().take(300).collect::<String>() + "…";
    }
    s
}

impl AppSource for AzureCli {
    fn acquire(&self, _ctx: &Ctx<'_>, tenant: &str, scope: &str) -> Result<TokenResponse> {
        let ran = run_az(&args(scope, tenant), timeout())?;
        if !ran.status.success() {
            let why = first_error(&ran.stderr);
            if ran.stderr.contains("az login") {
                return Err(Error::InteractionRequired(format!(
                    "the Azure CLI is not signed in{}: run `az login`",
                    detail(" (", &why, ")")
                )));
            }
            return Err(Error::Other(format!(
                "az account get-access-token failed ({}){}",
                ran.status,
                detail(": ", &why, "")
            )));
        }
        parse_output(&ran.stdout, &system_offset)
            .map_err(|m| Error::Other(format!("az account get-access-token: {m}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_far_outside_time_is_clamped() {
        let utc = |_t: PrimitiveDateTime| Some(UtcOffset::UTC);
        for (raw, want) in [
            ("-9223372036854775808", 0),
            ("-5", 0),
            ("1e300", crate::timefmt::MAX_EXPIRY),
            ("1795291150", 1_795_291_150),
        ] {
            let out = format!(r#"{{"accessToken":"a","expires_on":{raw}}}"#);
            assert_eq!(
                parse_output(&out, &utc).expect(raw).expires_on,
                want,
                "{raw}"
            );
        }
    }

    /// The shape of `/work/shared/fixtures/az-get-access-token.json` (taken on
    /// a machine at UTC+2: `expiresOn` 21:59:10 local = `expires_on` 19:59:10 UTC).
    const FIXTURE: &str = r#"{
  "accessToken": "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuY29yZS53aW5kb3dzLm5ldC8iLCJ0aWQiOiIzYzBiMWY1ZS04ZDJhLTRhNTctOWYzZS0wYjdjMWQyZTRhNmYiLCJleHAiOjE3OTU1NTAzNTB9.c2ln",
  "expiresOn": "2026-11-21 21:59:10.000000",
  "expires_on": 1795291150,
  "subscription": "0b1f6471-1bf0-4dda-aec3-111122223333",
  "tenant": "3c0b1f5e-8d2a-4a57-9f3e-0b7c1d2e4a6f",
  "tokenType": "Bearer"
}"#;

    fn plus2(_: PrimitiveDateTime) -> Option<UtcOffset> {
        UtcOffset::from_hms(2, 0, 0).ok()
    }

    #[test]
    fn expires_on_wins_over_local_time() {
        // A machine at UTC-5 must still get the UTC instant from expires_on.
        let minus5 = |_: PrimitiveDateTime| UtcOffset::from_hms(-5, 0, 0).ok();
        let t = parse_output(FIXTURE, &minus5).expect("parses");
        assert_eq!(t.expires_on, 1795291150);
        assert!(t.access_token.expose().starts_with("eyJ0eX"));
        assert_eq!(t.token_type, "Bearer");
    }

    #[test]
    fn expires_on_local_when_absent() {
        let mut v: Value = serde_json::from_str(FIXTURE).expect("json");
        v.as_object_mut().expect("obj").remove("expires_on");
        let t = parse_output(&v.to_string(), &plus2).expect("parses");
        assert_eq!(t.expires_on, 1795291150);
        let no_zone = |_: PrimitiveDateTime| None;
        assert!(parse_output(&v.to_string(), &no_zone).is_err());
        v["expiresOn"] = serde_json::json!("2026-11-21 21:59:10");
        assert_eq!(
            parse_output(&v.to_string(), &plus2)
                .expect("no fraction")
                .expires_on,
            1795291150
        );
    }

    #[test]
    fn bad_outputs() {
        for bad in [
            "",
            "ERROR",
            "[]",
            "{}",
            r#"{"accessToken":"a"}"#,
            r#"{"accessToken":"a","expires_on":"x"}"#,
            r#"{"accessToken":"a","expiresOn":"tomorrow"}"#,
        ] {
            assert!(parse_output(bad, &plus2).is_err(), "{bad}");
        }
        assert_eq!(
            parse_output(r#"{"accessToken":"a","expires_on":"1795291150"}"#, &plus2)
                .expect("string")
                .expires_on,
            1795291150
        );
    }

    #[test]
    fn arguments_and_errors() {
        assert_eq!(
            args("s/.default", "organizations").join(" "),
            "account get-access-token --output json --scope s/.default"
        );
        assert_eq!(
            args("s/.default", "t1").join(" "),
            "account get-access-token --output json --scope s/.default --tenant t1"
        );
        assert_eq!(
            first_error("WARNING: x\nERROR: Please run 'az login' to setup account.\n"),
            "Please run 'az login' to setup account."
        );
    }
}
