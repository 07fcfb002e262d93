//! `jwt::decode`: total on any text; and decoding what was encoded gives the claims back.
#![no_main]

use base64_free::encode;
use entra_cred_core::jwt::decode;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(d) = decode(&text) {
        for k in d.claims.keys() {
            let _ = d.secs(k);
            let _ = d.str(k);
        }
        let _ = d.username();
    }
    // Round trip: any JSON object as claims comes back unchanged.
    if let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(data) {
        let token = format!(
            "{}.{}.sig",
            encode(br#"{"alg":"RS256","typ":"JWT"}"#),
            encode(data)
        );
        let d = decode(&token).expect("a token with object claims decodes");
        assert_eq!(d.claims, claims);
    }
});

/// URL-safe base64 without padding (kept here so the target needs no extra crate).
mod base64_free {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    pub fn encode(b: &[u8]) -> String {
        let mut out = String::with_capacity(b.len() * 4 / 3 + 3);
        for c in b.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            let k = c.len() + 1;
            for i in 0..k {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    }
}
