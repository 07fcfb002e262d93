//! `protocol::credential_process`: `parse_output` (botocore's reading of the
//! answer) on any input; `render` -> `parse_output` round trip; the
//! `RoleSessionName` rule (`session_name_from` always gives a valid name).
#![no_main]

#[path = "proto_common.rs"]
mod common;

use entra_cred_core::protocol::credential_process::{
    parse_output, render, render_token, session_name_from, valid_session_name,
};
use entra_cred_core::secret::Secret;
use entra_cred_core::timefmt::rfc3339;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(o) = parse_output(&text) {
        let mut blank = o.clone();
        blank.secret_access_key = Secret::new("x".into());
        blank.session_token = o.session_token.as_ref().map(|_| Secret::new("x".into()));
        assert_eq!(format!("{o:?}"), format!("{blank:?}"));
    }

    let name = session_name_from(&text);
    assert!(valid_session_name(&name), "{text:?} -> {name:?}");
    if valid_session_name(text.trim()) {
        assert_eq!(name, text.trim());
    }

    let parts: Vec<&str> = text.splitn(4, '\u{1}').collect();
    let (key, secret, token) = match parts.as_slice() {
        [k, s, t, ..] => (*k, *s, *t),
        _ => ("entra", "entra", text.as_ref()),
    };
    let exp = data
        .get(..8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
        .unwrap_or(common::NOW);
    for out in [render(key, secret, token, exp), render_token(token, exp)] {
        assert!(out.ends_with('\n') && out.lines().count() == 1);
        let back = parse_output(&out).expect("our own answer parses");
        assert_eq!(
            back.session_token.as_ref().map(|t| t.expose().as_str()),
            Some(token)
        );
        let e = back.expiration.expect("Expiration");
        if rfc3339(exp) != "1970-01-01T00:00:00Z" {
            assert_eq!(e, exp);
        }
        let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        assert_eq!(v["Version"], 1);
        assert!(v["Expiration"].as_str().is_some_and(|s| s.ends_with('Z')));
    }
    let back = parse_output(&render(key, secret, token, exp)).expect("parses");
    assert_eq!(back.access_key_id, key);
    assert_eq!(back.secret_access_key.expose(), secret);
});
