//! `sources::azure_cli::parse_output`: what `az account get-access-token -o
//! json` prints, with a fake local UTC offset (the first byte, in quarter
//! hours). `expires_on` (POSIX) wins over the local-time `expiresOn`.
#![no_main]

#[path = "proto_common.rs"]
mod common;

use entra_cred_core::sources::azure_cli::parse_output;
use entra_cred_core::timefmt::MAX_EXPIRY;
use libfuzzer_sys::fuzz_target;
use time::UtcOffset;

fuzz_target!(|data: &[u8]| {
    let (q, body) = match data {
        [q, rest @ ..] => (i32::from(*q as i8) % 72, rest),
        [] => (0, data),
    };
    let offset = UtcOffset::from_whole_seconds(q * 900).ok();
    let text = String::from_utf8_lossy(body);
    let local = |_t| offset;
    match parse_output(&text, &local) {
        Ok(t) => {
            assert!(!t.access_token.expose().is_empty());
            assert!((0..=MAX_EXPIRY).contains(&t.expires_on), "{}", t.expires_on);
            let v: serde_json::Value = serde_json::from_str(text.trim()).expect("was JSON");
            if let Some(n) = v.get("expires_on").and_then(|n| n.as_i64()) {
                assert_eq!(t.expires_on, n.clamp(0, MAX_EXPIRY));
            }
        }
        Err(m) => common::assert_one_line("az error", &m),
    }
});
