//! `protocol::sts_xml` STS readers: `xml_fields`,
//! `parse_assume_role`, `parse_error`, `parse_caller_identity` on any input,
//! and a round trip: fields taken from the input, escaped into a real-shaped
//! `AssumeRoleWithWebIdentityResponse`, read back unchanged.
#![no_main]

#[path = "proto_common.rs"]
mod common;

use entra_cred_core::error::one_line;
use entra_cred_core::protocol::sts_xml::{
    parse_assume_role, parse_caller_identity, parse_error, xml_fields,
};
use entra_cred_core::secret::Secret;
use libfuzzer_sys::fuzz_target;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// XML 1.0 text (no control characters, and not U+FFFE / U+FFFF, which XML
/// does not allow either), trimmed as the reader trims, non-empty.
fn xml_text(s: &str) -> Option<String> {
    let t = s.trim();
    let non_xml = |c: char| c.is_control() || matches!(c, '\u{FFFE}' | '\u{FFFF}');
    (!t.is_empty() && !t.chars().any(non_xml)).then(|| t.to_string())
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(fields) = xml_fields(&text) {
        assert!(!fields.is_empty());
        for (path, _) in &fields {
            assert!(!path.is_empty() && !path.starts_with('/') && !path.ends_with('/'));
            assert!(!path.contains(['<', '>', '&', ':']), "{path:?}");
            assert!(path.split('/').count() <= 32);
        }
    }
    match parse_assume_role(&text) {
        Ok(c) => {
            assert!(!c.access_key_id.is_empty());
            assert!(!c.secret_access_key.expose().is_empty());
            assert!(!c.session_token.expose().is_empty());
            let mut blank = c.clone();
            blank.secret_access_key = Secret::new("x".into());
            blank.session_token = Secret::new("x".into());
            assert_eq!(format!("{c:?}"), format!("{blank:?}"));
        }
        Err(m) => common::assert_one_line("STS parse error", &m),
    }
    if let Some(e) = parse_error(&text) {
        assert!(!e.code.is_empty());
        for s in [&e.kind, &e.code, &e.message] {
            common::assert_one_line("STS error", s);
        }
        if let Some(r) = &e.request_id {
            common::assert_one_line("request id", r);
        }
    }
    let _ = parse_caller_identity(&text);

    // Round trip.
    let parts: Vec<&str> = text.split('\u{1}').collect();
    if parts.len() >= 3 {
        let (Some(key), Some(secret), Some(token)) =
            (xml_text(parts[0]), xml_text(parts[1]), xml_text(parts[2]))
        else {
            return;
        };
        let xml = format!(
            "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n\
             <AssumeRoleWithWebIdentityResult><Credentials>\n\
             <AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey>\n\
             <SessionToken>{}</SessionToken><Expiration>2026-11-21T19:59:10Z</Expiration>\n\
             </Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>\n",
            esc(&key),
            esc(&secret),
            esc(&token)
        );
        let c = parse_assume_role(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
        assert_eq!(c.access_key_id, key);
        assert_eq!(c.secret_access_key.expose(), &secret);
        assert_eq!(c.session_token.expose(), &token);
        assert_eq!(c.expiration, 1_795_291_150);
        let err = format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>r</RequestId></ErrorResponse>",
            esc(&key),
            esc(&secret)
        );
        let e = parse_error(&err).unwrap_or_else(|| panic!("{err}"));
        // Error fields are shown on one line: blanks are folded (by design).
        assert_eq!(e.code, one_line(&key));
        assert_eq!(e.message, one_line(&secret));
    }
});
