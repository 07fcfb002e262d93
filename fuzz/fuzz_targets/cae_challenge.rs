//! `cae`: `parse_challenges` and `claims_challenge` of a server's `WWW-Authenticate` values,
//! `Claims::parse` of claims given as JSON or base64 (from a header or `token --claims`), and
//! the merge into the `claims` parameter sent to Entra. Input: header values, one a line; the
//! first line is also read as claims.
#![no_main]

#[path = "proto_common.rs"]
mod common;

use entra_cred_core::cae::{
    claims_challenge, parse_challenges, request_claims, Claims, MAX_CLAIMS,
};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    for l in &lines {
        for c in parse_challenges(l) {
            assert!(!c.scheme.is_empty(), "{l:?}");
            for (k, _) in &c.params {
                assert!(!k.is_empty() && *k == k.to_ascii_lowercase(), "{k:?}");
            }
        }
    }
    if let Some(Ok(claims)) = claims_challenge(&lines) {
        check(&claims);
    }
    match Claims::parse(lines.first().map(String::as_str).unwrap_or("")) {
        Ok(claims) => check(&claims),
        Err(m) => common::assert_one_line("claims error", &m),
    }
});

/// Claims read back as themselves through both forms, and merge into an object that still
/// declares cp1 unless the claims replace it.
fn check(claims: &Claims) {
    // Compact JSON can be longer than what was read (`1e9` is written `1000000000.0`).
    if claims.to_json().len() <= MAX_CLAIMS {
        assert_eq!(Claims::parse(&claims.to_json()).as_ref(), Ok(claims));
        assert_eq!(Claims::parse(&claims.to_base64()).as_ref(), Ok(claims));
    }
    let sent = request_claims(Some(claims), true).expect("cp1 at least");
    let v: Value = serde_json::from_str(&sent).expect("the claims parameter is JSON");
    assert!(v.is_object());
    if !claims.as_map().contains_key("access_token") {
        assert_eq!(v["access_token"]["xms_cc"]["values"][0], "cp1");
    }
    for (k, val) in claims.as_map() {
        if !val.is_object() {
            assert_eq!(&v[k.as_str()], val, "{k}");
        }
    }
    match request_claims(Some(claims), false) {
        Some(s) if s.len() <= MAX_CLAIMS => assert_eq!(Claims::parse(&s).as_ref(), Ok(claims)),
        Some(_) => {}
        None => assert!(claims.is_empty()),
    }
}
