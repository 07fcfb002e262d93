//! The AWS `credential_process` protocol (see SPEC.md) and the STS answers
//! behind federation mode, as pure functions.
//!
//! - [`render`] writes the JSON a `credential_process` prints
//!   (`{"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}`);
//!   [`parse_output`] reads it back (tests, fuzzing).
//! - The STS answers behind federation mode are read in [`super::sts_xml`].
//! - [`valid_session_name`] / [`session_name_from`]: STS's `RoleSessionName`
//!   rule `[\w+=,.@-]{2,64}`.

use crate::secret::Secret;
use serde_json::{json, Value};

/// `AccessKeyId` and `SecretAccessKey` printed in token mode.
pub const TOKEN_MODE_KEY: &str = "entra";

/// The `Version` of the output format.
pub const VERSION: u64 = 1;

/// The credential_process answer: one JSON object and a newline.
/// `expiration` is POSIX seconds, printed as RFC 3339 UTC with `Z`.
pub fn render(
    access_key_id: &str,
    secret_access_key: &str,
    session_token: &str,
    expiration: i64,
) -> String {
    let v = json!({
        "Version": VERSION,
        "AccessKeyId": access_key_id,
        "SecretAccessKey": secret_access_key,
        "SessionToken": session_token,
        "Expiration": crate::timefmt::rfc3339(expiration),
    });
    format!("{v}\n")
}

/// Token mode: the Entra access token as `SessionToken`.
pub fn render_token(access_token: &str, expires_on: i64) -> String {
    render(TOKEN_MODE_KEY, TOKEN_MODE_KEY, access_token, expires_on)
}

/// A parsed credential_process answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessOutput {
    /// `AccessKeyId`.
    pub access_key_id: String,
    /// `SecretAccessKey`.
    pub secret_access_key: Secret<String>,
    /// `SessionToken`, when present.
    pub session_token: Option<Secret<String>>,
    /// `Expiration` as POSIX seconds, when present.
    pub expiration: Option<i64>,
}

/// Reads a credential_process answer as botocore does: `Version` must be 1,
/// `AccessKeyId` and `SecretAccessKey` are required, `Expiration` RFC 3339.
pub fn parse_output(text: &str) -> Result<ProcessOutput, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    match obj.get("Version").and_then(Value::as_u64) {
        Some(VERSION) => {}
        _ => return Err("Version must be 1".into()),
    }
    let s = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
    let access_key_id = s("AccessKeyId").ok_or("AccessKeyId missing")?;
    let secret = s("SecretAccessKey").ok_or("SecretAccessKey missing")?;
    let expiration = match s("Expiration") {
        Some(e) => Some(crate::timefmt::parse_rfc3339(&e).ok_or("Expiration is not RFC 3339")?),
        None => None,
    };
    Ok(ProcessOutput {
        access_key_id,
        secret_access_key: Secret::new(secret),
        session_token: s("SessionToken").map(Secret::new),
        expiration,
    })
}

// ----- RoleSessionName ----------------------------------------------------------------------

fn session_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

/// Whether `s` is a valid `RoleSessionName`: `[\w+=,.@-]{2,64}` (ASCII).
pub fn valid_session_name(s: &str) -> bool {
    (2..=64).contains(&s.len()) && s.chars().all(session_char)
}

/// A valid `RoleSessionName` made from `s` (a user name or client id): other
/// characters become `-`, the result is cut to 64 characters, and a result
/// shorter than 2 becomes `entra-cred`.
pub fn session_name_from(s: &str) -> String {
    let mut out: String = s
        .trim()
        .chars()
        .map(|c| if session_char(c) { c } else { '-' })
        .take(64)
        .collect();
    if out.len() < 2 {
        out = "entra-cred".into();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_botocore_shape() {
        let s = render_token("eyJ.tok.en", 1795291150);
        assert!(s.ends_with('\n'));
        let v: Value = serde_json::from_str(&s).expect("json");
        assert_eq!(v["Version"], 1);
        assert_eq!(v["AccessKeyId"], "entra");
        assert_eq!(v["SecretAccessKey"], "entra");
        assert_eq!(v["SessionToken"], "eyJ.tok.en");
        assert_eq!(v["Expiration"], "2026-11-21T19:59:10Z");
        let back = parse_output(&s).expect("parse");
        assert_eq!(back.expiration, Some(1795291150));
        assert_eq!(back.session_token.expect("token").expose(), "eyJ.tok.en");
        // Quotes and backslashes are escaped.
        let s = render("A\"K", "s\\k", "t", 0);
        let back = parse_output(&s).expect("parse");
        assert_eq!(back.access_key_id, "A\"K");
        assert_eq!(back.secret_access_key.expose(), "s\\k");
    }

    #[test]
    fn parse_output_rejects() {
        assert!(parse_output("").is_err());
        assert!(parse_output("[]").is_err());
        assert!(parse_output(r#"{"Version":2,"AccessKeyId":"a","SecretAccessKey":"b"}"#).is_err());
        assert!(parse_output(r#"{"Version":1,"SecretAccessKey":"b"}"#).is_err());
        assert!(parse_output(
            r#"{"Version":1,"AccessKeyId":"a","SecretAccessKey":"b","Expiration":"soon"}"#
        )
        .is_err());
        let ok = parse_output(r#"{"Version":1,"AccessKeyId":"a","SecretAccessKey":"b"}"#)
            .expect("minimal");
        assert_eq!(ok.expiration, None);
    }

    #[test]
    fn session_names() {
        assert!(valid_session_name("alice@contoso.example"));
        assert!(valid_session_name("a_b+c=d,e.f@g-h"));
        assert!(!valid_session_name("a"));
        assert!(!valid_session_name("has space"));
        assert!(!valid_session_name(&"x".repeat(65)));
        assert!(!valid_session_name("caf\u{e9}"));
        assert_eq!(session_name_from("Alice Example"), "Alice-Example");
        assert_eq!(session_name_from("caf\u{e9}/x"), "caf--x");
        assert_eq!(session_name_from(""), "entra-cred");
        assert_eq!(session_name_from("x"), "entra-cred");
        assert_eq!(session_name_from(&"y".repeat(100)).len(), 64);
        for s in ["Alice Example", "", "\u{1F600}\u{1F600}", &"z".repeat(200)] {
            assert!(valid_session_name(&session_name_from(s)));
        }
    }
}
