//! `sources::ci_oidc`: `token_field` (the GitHub Actions / Azure Pipelines
//! OIDC endpoint's answer) and `refusal_message` (its error answer).
#![no_main]

#[path = "proto_common.rs"]
mod common;

use entra_cred_core::sources::ci_oidc::{refusal_message, token_field};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for field in ["value", "oidcToken"] {
        match token_field(&text, field) {
            Ok(t) => {
                // Three base64url parts: nothing that could break a form or a header.
                let t = t.expose();
                assert_eq!(t.split('.').count(), 3, "{t:?}");
                assert!(t
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_=.".contains(&b)));
            }
            Err(m) => {
                common::assert_one_line("error", &m);
                assert!(m.len() < 100, "{m:?}");
            }
        }
    }
    let m = refusal_message(&text);
    common::assert_one_line("refusal", &m);
    assert!(m.chars().count() <= 201, "{m:?}");
});
