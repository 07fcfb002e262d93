//! `sources::managed_identity`: `parse_response` (IMDS, App Service, Cloud
//! Shell answers), `parse_expires_on` on every JSON form and on the input as
//! a string, `Identity::parse`, `resource_of_scope`.
#![no_main]

#[path = "proto_common.rs"]
mod common;

use entra_cred_core::secret::Secret;
use entra_cred_core::sources::managed_identity::{
    parse_expires_on, parse_response, resource_of_scope, Identity,
};
use entra_cred_core::timefmt::MAX_EXPIRY;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match parse_response(&text, common::NOW) {
        Ok(t) => {
            assert!(!t.access_token.expose().is_empty());
            assert!(!t.token_type.is_empty());
            // Arithmetic with the clock never overflows.
            assert!((0..=MAX_EXPIRY).contains(&t.expires_on), "{}", t.expires_on);
            let mut blank = t.clone();
            blank.access_token = Secret::new("x".into());
            assert_eq!(format!("{t:?}"), format!("{blank:?}"));
        }
        Err(m) => common::assert_one_line("MI error", &m),
    }
    if let Ok(v) = serde_json::from_str::<Value>(&text) {
        let _ = parse_expires_on(&v);
    }
    let _ = parse_expires_on(&Value::String(text.to_string()));
    match Identity::parse(Some(&text)) {
        Identity::System => assert!(text.trim().is_empty()),
        Identity::ClientId(v) | Identity::ObjectId(v) | Identity::ResourceId(v) => {
            assert_eq!(v, v.trim());
        }
    }
    let r = resource_of_scope(&text);
    assert!(!r.ends_with("/.default") || text.trim().ends_with("/.default/.default"));
});
