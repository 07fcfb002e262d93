//! The error bodies of Microsoft Entra ID and the other Azure services: Entra's
//! `{"error": "invalid_grant", "error_description": "AADSTS70008: ...", "error_codes": [...]}`
//! and the Azure shape `{"error": {"code": ..., "message": ...}}` (Cloud Shell, App Service,
//! ARM, ACR), both read into one [`EntraError`].
//!
//! Its own module so that the HTTP client (which names the error in messages) and the Entra
//! client (which branches on it) both use it without depending on each other.

use crate::error::{one_line, EntraError};
use serde_json::Value;

/// Parses an Entra error answer, or one in the shape of the other Azure
/// services (Cloud Shell, App Service, ARM, ACR: `{"error": {"code": ...,
/// "message": ...}}`, read as error = code, description = message). `None`
/// when the body is neither.
pub fn parse_error(body: &str, status: u16) -> Option<EntraError> {
    let v: Value = serde_json::from_str(body.trim()).ok()?;
    let obj = v.as_object()?;
    if let Some(inner) = obj.get("error").and_then(Value::as_object) {
        return parse_azure_error(inner, status);
    }
    let error = obj.get("error")?.as_str()?.to_string();
    let raw_desc = obj
        .get("error_description")
        .and_then(Value::as_str)
        .unwrap_or("");
    let code = obj
        .get("error_codes")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_u64)
        .map(|c| c as u32)
        .or_else(|| aadsts_in(raw_desc));
    Some(EntraError {
        error: one_line(&error),
        code,
        description: short_description(raw_desc),
        status,
    })
}

/// The inner object of `{"error": {"code": "AudienceNotSupported", "message": "..."}}`.
fn parse_azure_error(inner: &serde_json::Map<String, Value>, status: u16) -> Option<EntraError> {
    let text = |k: &str, alt: &str| {
        inner
            .get(k)
            .or_else(|| inner.get(alt))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let code = text("code", "Code");
    let message = text("message", "Message").unwrap_or("");
    if code.is_none() && message.is_empty() {
        return None;
    }
    Some(EntraError {
        error: one_line(code.unwrap_or("error")),
        code: aadsts_in(message),
        description: short_description(message),
        status,
    })
}

/// The `AADSTS` number in a text.
fn aadsts_in(s: &str) -> Option<u32> {
    let i = s.find("AADSTS")?;
    let digits: String = s[i + 6..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Entra descriptions run on with `Trace ID: ... Correlation ID: ... Timestamp: ...`
/// on new lines: keep the first line, without those.
fn short_description(d: &str) -> String {
    let first = d.split(['\r', '\n']).next().unwrap_or("");
    let cut = ["Trace ID:", "Correlation ID:", "Timestamp:"]
        .iter()
        .filter_map(|m| first.find(m))
        .min()
        .unwrap_or(first.len());
    let s = one_line(&first[..cut]);
    if s.chars().count() > 300 {
        let mut t: String = s.chars().take(300).collect();
        t.push('…');
        t
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entra_error() {
        let body = r#"{"error":"invalid_grant","error_description":"AADSTS70008: The provided authorization code or refresh token has expired due to inactivity.\r\nTrace ID: 1\r\nCorrelation ID: 2\r\nTimestamp: 2026","error_codes":[70008],"timestamp":"x"}"#;
        let e = parse_error(body, 400).expect("parses");
        assert_eq!(e.error, "invalid_grant");
        assert_eq!(e.code, Some(70008));
        assert!(e.description.starts_with("AADSTS70008: The provided"));
        assert!(!e.description.contains("Trace"));
        let e = parse_error(
            r#"{"error":"x","error_description":"AADSTS50020: user. Trace ID: 1"}"#,
            400,
        )
        .expect("parses");
        assert_eq!(e.code, Some(50020));
        assert_eq!(e.description, "AADSTS50020: user.");
        assert!(parse_error("<html>", 500).is_none());
        // The Azure shape (Cloud Shell, App Service, ARM, ACR).
        let e = parse_error(
            r#"{"error":{"code":"AudienceNotSupported","message":"Audience https://x is not a supported MSI token audience.\nSupported: a, b"}}"#,
            400,
        )
        .expect("azure shape");
        assert_eq!(e.error, "AudienceNotSupported");
        assert_eq!(
            e.description,
            "Audience https://x is not a supported MSI token audience."
        );
        assert_eq!(
            e.to_string(),
            "AudienceNotSupported: Audience https://x is not a supported MSI token audience."
        );
        let e = parse_error(r#"{"error":{"Code":"X","Message":"m"}}"#, 400).expect("capitalised");
        assert_eq!((e.error.as_str(), e.description.as_str()), ("X", "m"));
        assert!(parse_error(r#"{"error":{}}"#, 400).is_none());
        assert!(parse_error(r#"{"error":{"code":5}}"#, 400).is_none());
        assert!(parse_error("[]", 500).is_none());
    }
}
