//! `entra::parse_device_code`: total; what is shown to the person is one line; bounds hold.
#![no_main]

#[path = "common.rs"]
mod common;

use entra_cred_core::entra::parse_device_code;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    match parse_device_code(&body) {
        Ok(d) => {
            common::assert_one_line("user_code", &d.user_code);
            common::assert_one_line("verification_uri", &d.verification_uri);
            common::assert_one_line("message", &d.message);
            assert!((1..=60).contains(&d.interval), "interval {}", d.interval);
            assert!(
                (1..=3600).contains(&d.expires_in),
                "expires_in {}",
                d.expires_in
            );
            assert!(!d.device_code.expose().is_empty());
        }
        Err(m) => common::assert_one_line("error", &m),
    }
});
