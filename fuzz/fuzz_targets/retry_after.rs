//! `http::parse_retry_after`: seconds, fractional seconds or an HTTP date; total.
#![no_main]

#[path = "common.rs"]
mod common;

use entra_cred_core::http::parse_retry_after;
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(d) = parse_retry_after(v, common::NOW) {
        // A fractional value is capped at a day; whole seconds are taken as
        // given (the caller compares them with its budget).
        if v.trim().parse::<u64>().is_err() && v.trim().parse::<f64>().is_ok() {
            assert!(d <= Duration::from_secs(86400), "{v:?} -> {d:?}");
        }
    }
    let _ = entra_cred_core::timefmt::parse_rfc3339(v);
});
