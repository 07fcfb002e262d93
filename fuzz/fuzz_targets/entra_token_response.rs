//! `entra::parse_token_response`: any body gives a token or a message, never a panic.
#![no_main]

#[path = "common.rs"]
mod common;

use entra_cred_core::entra::parse_token_response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    match parse_token_response(&body, common::NOW) {
        Ok(t) => {
            assert!(!t.access_token.expose().is_empty());
            assert!(!t.token_type.is_empty());
            assert!(t.refresh_token.as_ref().is_none_or(|r| !r.expose().is_empty()));
            // The token must never show in Debug output.
            let shown = format!("{t:?}");
            if t.access_token.expose().len() >= 9 {
                assert!(!shown.contains(t.access_token.expose().as_str()));
            }
        }
        Err(m) => common::assert_one_line("error", &m),
    }
});
