//! Reading a managed identity token answer (IMDS, App Service, Cloud Shell,
//! Azure Arc), including the dates older hosts write for `expires_on`.

use crate::entra::TokenResponse;
use crate::secret::Secret;
use serde_json::Value;

/// Reads `expires_on`: POSIX seconds (number or string), or a date such as
/// `11/22/2026 1:02:03 AM +00:00` (older App Service / Cloud Shell hosts).
pub fn parse_expires_on(v: &Value) -> Option<i64> {
    if let Some(n) = crate::json::number(Some(v)) {
        return Some(n);
    }
    let s = v.as_str()?.trim();
    if let Ok(f) = s.parse::<f64>() {
        return f.is_finite().then_some(f as i64);
    }
    parse_date(s)
}

fn parse_date(s: &str) -> Option<i64> {
    use time::macros::format_description;
    let with_offset = format_description!(
        "[month padding:none]/[day padding:none]/[year] [hour repr:12 padding:none]:[minute]:[second] [period case_sensitive:false] [offset_hour sign:mandatory]:[offset_minute]"
    );
    if let Ok(t) = time::OffsetDateTime::parse(s, with_offset) {
        return Some(t.unix_timestamp());
    }
    let utc = format_description!(
        "[month padding:none]/[day padding:none]/[year] [hour repr:12 padding:none]:[minute]:[second] [period case_sensitive:false]"
    );
    time::PrimitiveDateTime::parse(s, utc)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

/// Parses a managed identity token answer (any of the three hosts).
pub fn parse_response(body: &str, now: i64) -> std::result::Result<TokenResponse, String> {
    let v: Value = serde_json::from_str(body.trim())
        .map_err(|_| "the answer is not valid JSON".to_string())?;
    let obj = v.as_object().ok_or("the answer is not a JSON object")?;
    let access_token = obj
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("the answer has no access_token")?
        .to_string();
    let expires_on = obj
        .get("expires_on")
        .and_then(parse_expires_on)
        .filter(|t| *t > 1_000_000_000)
        .or_else(|| {
            crate::json::number(obj.get("expires_in"))
                .filter(|s| (0..=10 * 365 * 86400).contains(s))
                .map(|s| now + s)
        })
        .or_else(|| crate::jwt::decode(&access_token).and_then(|d| d.secs("exp")))
        .map(crate::timefmt::clamp_expiry)
        .ok_or("the answer has no usable expires_on")?;
    Ok(TokenResponse {
        access_token: Secret::new(access_token),
        refresh_token: None,
        id_token: None,
        expires_on,
        token_type: obj
            .get("token_type")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("Bearer")
            .to_string(),
        scope: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expiry_far_outside_time_is_clamped() {
        // Found by fuzzing (managed_identity_response): a float `expires_on`
        // saturates to i64::MAX; `expires_on - now` must never overflow.
        let t = parse_response(r#"{"access_token":"a","expires_on":1e300}"#, 0).expect("ok");
        assert_eq!(t.expires_on, crate::timefmt::MAX_EXPIRY);
        let t = parse_response(r#"{"access_token":"a","expires_on":"1e300"}"#, 0).expect("ok");
        assert_eq!(t.expires_on, crate::timefmt::MAX_EXPIRY);
    }

    #[test]
    fn expires_on_forms() {
        assert_eq!(parse_expires_on(&json!("1795291150")), Some(1795291150));
        assert_eq!(parse_expires_on(&json!(1795291150)), Some(1795291150));
        // 2026-11-22 01:02:03 UTC
        assert_eq!(
            parse_expires_on(&json!("11/22/2026 1:02:03 AM +00:00")),
            Some(1795309323)
        );
        assert_eq!(
            parse_expires_on(&json!("11/22/2026 1:02:03 PM +00:00")),
            Some(1795309323 + 12 * 3600)
        );
        // the same instant written at +02:00
        assert_eq!(
            parse_expires_on(&json!("11/22/2026 3:02:03 AM +02:00")),
            Some(1795309323)
        );
        assert_eq!(
            parse_expires_on(&json!("01/02/2027 12:00:00 AM +00:00")),
            Some(1798848000)
        );
        assert_eq!(
            parse_expires_on(&json!("11/22/2026 1:02:03 AM")),
            Some(1795309323)
        );
        for bad in [
            json!("soon"),
            json!(""),
            json!(null),
            json!([1]),
            json!("13/40/2026 1:02:03 AM +00:00"),
        ] {
            assert_eq!(parse_expires_on(&bad), None, "{bad}");
        }
    }

    #[test]
    fn responses() {
        let t = parse_response(
            r#"{"access_token":"at","client_id":"c","expires_in":"86399","expires_on":"1795291150","ext_expires_in":"86399","not_before":"1","resource":"https://management.azure.com/","token_type":"Bearer"}"#,
            0,
        )
        .expect("imds");
        assert_eq!(t.expires_on, 1795291150);
        assert_eq!(t.access_token.expose(), "at");
        let t = parse_response(
            r#"{"access_token":"at","expires_on":"11/22/2026 1:02:03 AM +00:00","resource":"r","token_type":"Bearer"}"#,
            0,
        )
        .expect("old host");
        assert_eq!(t.expires_on, 1795309323);
        let t = parse_response(r#"{"access_token":"at","expires_in":"3600"}"#, 100)
            .expect("expires_in only");
        assert_eq!(t.expires_on, 3700);
        for bad in [
            "",
            "garbage",
            "[]",
            "{}",
            r#"{"access_token":""}"#,
            r#"{"access_token":"at"}"#,
        ] {
            assert!(parse_response(bad, 0).is_err(), "{bad}");
        }
    }
}
