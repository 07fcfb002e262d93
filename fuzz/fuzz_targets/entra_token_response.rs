//! `entra::parse_token_response`: any body gives a token or a message, never a panic.
#![no_main]

#[path = "common.rs"]
mod common;

use entra_cred_core::entra::parse_token_response;
use entra_cred_core::Secret;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    match parse_token_response(&body, common::NOW) {
        Ok(t) => {
            assert!(!t.access_token.expose().is_empty());
            assert!(!t.token_type.is_empty());
            assert!(t
                .refresh_token
                .as_ref()
                .is_none_or(|r| !r.expose().is_empty()));
            // Debug output does not depend on the secrets' values (so cannot show them).
            let blank_of =
                |o: &Option<Secret<String>>| o.as_ref().map(|_| Secret::new(String::new()));
            let mut blank = t.clone();
            blank.access_token = Secret::new(String::new());
            blank.refresh_token = blank_of(&t.refresh_token);
            blank.id_token = blank_of(&t.id_token);
            assert_eq!(format!("{t:?}"), format!("{blank:?}"), "token in Debug");
        }
        Err(m) => common::assert_one_line("error", &m),
    }
});
