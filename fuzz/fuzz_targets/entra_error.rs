//! `azure_error::parse_error` (and the message built from it): total, one line, no control characters.
#![no_main]

#[path = "common.rs"]
mod common;

use entra_cred_core::azure_error::parse_error;
use entra_cred_core::error::{one_line, Error};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    let status = data.first().map_or(400, |b| 400 + u16::from(*b));
    if let Some(e) = parse_error(&body, status) {
        common::assert_one_line("error", &e.error);
        common::assert_one_line("description", &e.description);
        assert!(e.description.chars().count() <= 301);
        if let Some(a) = e.aadsts() {
            assert!(a.starts_with("AADSTS"));
        }
        for err in [
            Error::from_entra("refreshing the token", e.clone()),
            Error::Network(format!("x answered HTTP {status} ({e})")),
        ] {
            common::assert_message(&err);
            common::assert_one_line("message", &one_line(&err.to_string()));
        }
    }
    // one_line itself: no control characters, no double blanks, idempotent.
    let l = one_line(&body);
    common::assert_one_line("one_line", &l);
    assert!(!l.contains("  "));
    assert_eq!(one_line(&l), l);
});
