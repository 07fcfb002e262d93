//! `protocol::exec_credential`: `parse_exec_info` of `KUBERNETES_EXEC_INFO`
//! and `render`. Input: the variable's value (the first 8 bytes, read as an
//! expiry, also feed `render`).
#![no_main]

#[path = "proto_common.rs"]
mod common;

use entra_cred_core::protocol::exec_credential::{parse_exec_info, render, ApiVersion};
use entra_cred_core::timefmt::{parse_rfc3339, rfc3339};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let version = match parse_exec_info(Some(&text)) {
        Ok(info) => {
            // apiVersion echoes one of the two known values only.
            let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            match v.get("apiVersion").and_then(|a| a.as_str()) {
                Some(a) => assert_eq!(a, info.api_version.as_str()),
                None => assert_eq!(info.api_version, ApiVersion::V1Beta1),
            }
            if let Some(i) = info.interactive {
                assert_eq!(v["spec"]["interactive"], i);
            }
            info.api_version
        }
        Err(e) => {
            common::assert_error(&e);
            assert_eq!(e.exit_code(), 1);
            ApiVersion::V1
        }
    };
    assert_eq!(ApiVersion::parse(version.as_str()), Some(version));

    // The answer: JSON, the token and the expiry read back.
    let exp = data
        .get(..8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
        .unwrap_or(common::NOW);
    let out = render(version, &text, exp);
    assert!(out.ends_with('\n') && out.lines().count() == 1);
    let v: serde_json::Value = serde_json::from_str(&out).expect("ExecCredential JSON");
    assert_eq!(v["kind"], "ExecCredential");
    assert_eq!(v["apiVersion"], version.as_str());
    assert_eq!(v["status"]["token"], text.as_ref());
    let ts = v["status"]["expirationTimestamp"]
        .as_str()
        .expect("timestamp");
    assert!(ts.ends_with('Z'), "{ts}");
    let back = parse_rfc3339(ts).expect("RFC 3339");
    if rfc3339(exp) != "1970-01-01T00:00:00Z" {
        assert_eq!(back, exp);
    }
});
