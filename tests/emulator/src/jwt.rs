//! HS256 JSON Web Tokens signed with the emulator's own key, plus unverified decoding
//! (for inspecting client assertions and tokens in tests).

use crate::util::{b64url, b64url_decode, now_secs};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Sign `claims` as a compact HS256 JWT.
pub fn sign(key: &[u8], claims: &Value) -> String {
    let header = json!({"typ": "JWT", "alg": "HS256", "kid": "entra-emulator"});
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let sig = mac(key, input.as_bytes());
    format!("{input}.{}", b64url(&sig))
}

fn mac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut m = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return Vec::new(),
    };
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// Decode a compact JWT without checking its signature: `(header, claims)`.
pub fn decode_unverified(token: &str) -> Result<(Value, Value), String> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    if parts.len() != 3 {
        return Err("not a compact JWT (expected 3 dot-separated parts)".into());
    }
    let part = |s: &str, what: &str| -> Result<Value, String> {
        let raw = b64url_decode(s).ok_or_else(|| format!("{what} is not base64url"))?;
        let v: Value =
            serde_json::from_slice(&raw).map_err(|e| format!("{what} is not JSON: {e}"))?;
        if v.is_object() {
            Ok(v)
        } else {
            Err(format!("{what} is not a JSON object"))
        }
    };
    Ok((part(parts[0], "header")?, part(parts[1], "payload")?))
}

/// Verify an HS256 JWT's signature with `key` and its `exp`/`nbf` (60 s skew); returns claims.
pub fn verify(key: &[u8], token: &str) -> Result<Value, String> {
    let token = token.trim();
    let (header, claims) = decode_unverified(token)?;
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err("unexpected alg".into());
    }
    let (input, sig) = token
        .rsplit_once('.')
        .ok_or_else(|| "not a compact JWT".to_string())?;
    let sig = b64url_decode(sig).ok_or_else(|| "signature is not base64url".to_string())?;
    let mut m = HmacSha256::new_from_slice(key).map_err(|e| e.to_string())?;
    m.update(input.as_bytes());
    m.verify_slice(&sig)
        .map_err(|_| "bad signature".to_string())?;
    let now = now_secs();
    match claims.get("exp").and_then(Value::as_u64) {
        Some(exp) if exp + 60 > now => {}
        Some(_) => return Err("token has expired".into()),
        None => return Err("token has no exp".into()),
    }
    if let Some(nbf) = claims.get("nbf").and_then(Value::as_u64) {
        if nbf > now + 60 {
            return Err("token is not yet valid (nbf)".into());
        }
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let key = b"k1";
        let t = sign(key, &json!({"aud": "x", "exp": now_secs() + 100}));
        let c = verify(key, &t).unwrap();
        assert_eq!(c["aud"], "x");
        let (h, c2) = decode_unverified(&t).unwrap();
        assert_eq!(h["alg"], "HS256");
        assert_eq!(c2, c);
    }

    #[test]
    fn rejects_wrong_key_tamper_and_expiry() {
        let t = sign(b"k1", &json!({"aud": "x", "exp": now_secs() + 100}));
        assert!(verify(b"k2", &t).unwrap_err().contains("signature"));
        let mut parts: Vec<String> = t.split('.').map(String::from).collect();
        parts[1] = b64url(br#"{"aud":"y","exp":99999999999}"#);
        assert!(verify(b"k1", &parts.join(".")).is_err());
        let old = sign(b"k1", &json!({"exp": now_secs() - 120}));
        assert!(verify(b"k1", &old).unwrap_err().contains("expired"));
        assert!(verify(b"k1", "garbage").is_err());
        assert!(decode_unverified("a.b.c").is_err());
    }
}
