//! Reading JWT claims (no signature check: the tokens come straight from Entra
//! over TLS, and entra-cred only needs `exp`, `tid`, `oid` and the user name).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

/// The decoded header and claims of a JWT.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The JOSE header.
    pub header: Map<String, Value>,
    /// The claims.
    pub claims: Map<String, Value>,
}

impl Decoded {
    /// A string claim.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// A numeric claim as seconds (accepts numbers and numeric strings).
    pub fn secs(&self, name: &str) -> Option<i64> {
        crate::json::number(self.claims.get(name))
    }

    /// The signed-in user's name: `preferred_username`, `upn`, `unique_name` or `email`.
    pub fn username(&self) -> Option<&str> {
        ["preferred_username", "upn", "unique_name", "email"]
            .iter()
            .find_map(|k| self.str(k))
    }
}

fn part(s: &str) -> Option<Map<String, Value>> {
    // Tolerate padding and the standard alphabet some tools emit.
    let cleaned: String = s
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    let bytes = URL_SAFE_NO_PAD.decode(cleaned).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// Decodes a compact JWS (`header.claims.signature`). `None` for anything else.
pub fn decode(token: &str) -> Option<Decoded> {
    let token = token.trim();
    let mut it = token.split('.');
    let (h, c, _sig) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() {
        return None;
    }
    Some(Decoded {
        header: part(h)?,
        claims: part(c)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(claims: &str) -> String {
        format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn decodes_claims() {
        let t = make(r#"{"aud":"x","exp":1795550350,"upn":"alice@contoso.example","tid":"t"}"#);
        let d = decode(&t).expect("decodes");
        assert_eq!(d.secs("exp"), Some(1795550350));
        assert_eq!(d.username(), Some("alice@contoso.example"));
        assert_eq!(d.str("tid"), Some("t"));
    }

    #[test]
    fn decodes_fixture_token() {
        let fixture = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuY29yZS53aW5kb3dzLm5ldC8iLCJ0aWQiOiIzYzBiMWY1ZS04ZDJhLTRhNTctOWYzZS0wYjdjMWQyZTRhNmYiLCJleHAiOjE3OTU1NTAzNTB9.c2ln";
        let d = decode(fixture).expect("decodes");
        assert_eq!(d.str("aud"), Some("https://management.core.windows.net/"));
        assert_eq!(d.secs("exp"), Some(1795550350));
    }

    #[test]
    fn rejects_garbage() {
        assert!(decode("").is_none());
        assert!(decode("a.b").is_none());
        assert!(decode("a.b.c.d").is_none());
        assert!(decode("!!!.???.x").is_none());
        assert!(decode(&make("[1,2]")).is_none());
    }
}
