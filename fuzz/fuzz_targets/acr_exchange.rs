//! `acr::parse_exchange`: the registry's answer to `POST /oauth2/exchange`
//! (status from the first two bytes, then the body), with the refresh
//! token's `exp`; `acr::registry_error_detail`; `acr::is_fresh` on any expiry.
#![no_main]

#[path = "proto_common.rs"]
mod common;

use entra_cred_core::acr::{is_fresh, parse_exchange, registry_error_detail};
use entra_cred_core::timefmt::MAX_EXPIRY;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (status, body) = match data {
        [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]) % 600, rest),
        _ => (200, data),
    };
    // Most inputs as a success, so the body parser gets most of the time.
    let status = if status >= 300 && status % 3 != 0 {
        200
    } else {
        status
    };
    let body = String::from_utf8_lossy(body);
    match parse_exchange("myreg.azurecr.io", status, &body, common::NOW) {
        Ok((rt, exp)) => {
            assert!((200..300).contains(&status));
            assert!(!rt.expose().is_empty());
            assert!((0..=MAX_EXPIRY).contains(&exp), "{exp}");
            assert_eq!(format!("{rt:?}"), "REDACTED");
            let _ = is_fresh(exp, common::NOW, 60);
        }
        Err(e) => {
            common::assert_error(&e);
            assert!(e.to_string().contains("myreg.azurecr.io"));
        }
    }
    if let Some(d) = registry_error_detail(&body) {
        common::assert_one_line("registry error", &d);
        assert!(d.chars().count() <= 203);
    }
    // Any stored expiry, any clock: no overflow.
    if data.len() >= 16 {
        let exp = i64::from_le_bytes(data[..8].try_into().unwrap_or([0; 8]));
        let now = i64::from_le_bytes(data[8..16].try_into().unwrap_or([0; 8]));
        let _ = is_fresh(exp, now, 60);
    }
});
