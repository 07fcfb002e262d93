//! The STS answers behind federation mode (`AssumeRoleWithWebIdentityResponse`,
//! `ErrorResponse`, `GetCallerIdentityResponse`), as pure functions.
//!
//! [`xml_fields`] flattens a document into `(path, text)` pairs on `roxmltree`, a
//! well-kept XML parser that never panics on any input; the readers above it
//! ([`parse_assume_role`], [`parse_error`], [`parse_caller_identity`]) pick the
//! fields they need. Entities: only the five predefined ones and character
//! references; a `<!DOCTYPE>` is allowed but a document declaring entities
//! (`<!ENTITY`) is refused, so nothing is ever expanded from the document itself
//! (and external entities are never fetched).

use crate::secret::Secret;

/// Credentials from `AssumeRoleWithWebIdentity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsCredentials {
    /// `AccessKeyId` (`ASIA...`).
    pub access_key_id: String,
    /// `SecretAccessKey`.
    pub secret_access_key: Secret<String>,
    /// `SessionToken`.
    pub session_token: Secret<String>,
    /// `Expiration`, POSIX seconds.
    pub expiration: i64,
    /// `AssumedRoleUser/Arn`, when present.
    pub assumed_role_arn: Option<String>,
}

/// An STS `ErrorResponse`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsError {
    /// `Sender` or `Receiver`.
    pub kind: String,
    /// E.g. `InvalidIdentityToken`.
    pub code: String,
    /// STS's message (one line).
    pub message: String,
    /// `RequestId`, when present.
    pub request_id: Option<String>,
}

/// The identity of `GetCallerIdentity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    /// `Arn`.
    pub arn: String,
    /// `UserId`.
    pub user_id: String,
    /// `Account`.
    pub account: String,
}

/// Deepest element nesting read (the root is level 1).
const MAX_DEPTH: usize = 32;
/// Largest document read; STS answers are a few kilobytes.
const MAX_XML: usize = 256 * 1024;

/// Reads an XML document into `(path, text)` pairs, one per element, in
/// document order of their end tags. The path joins local names (namespace
/// prefixes dropped) with `/`, e.g. `ErrorResponse/Error/Code`; the text is
/// the element's own character data (CDATA included) with entities decoded.
/// Comments, processing instructions and `<!DOCTYPE>` are skipped (no entity
/// is ever expanded beyond the five predefined ones and character references:
/// entity declarations are refused). Anything not well-formed, or more than
/// 32 levels, is an error (one line of text without control characters,
/// whatever the document holds).
pub fn xml_fields(xml: &str) -> Result<Vec<(String, String)>, String> {
    read_fields(xml).map_err(|e| crate::error::one_line(&e))
}

fn read_fields(xml: &str) -> Result<Vec<(String, String)>, String> {
    if xml.len() > MAX_XML {
        return Err("XML document too large".into());
    }
    if xml.contains("<!ENTITY") {
        return Err("XML entity declarations are not accepted".into());
    }
    if !char_refs_name_chars(xml) {
        return Err("a character reference names no character".into());
    }
    let options = roxmltree::ParsingOptions {
        // A bare `<!DOCTYPE x>` is harmless; declarations were refused above.
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(xml, options)
        .map_err(|e| format!("not well-formed XML: {e}"))?;
    let mut out = Vec::new();
    let mut path = Vec::new();
    collect(doc.root_element(), &mut path, &mut out)?;
    Ok(out)
}

/// Whether every `&#N;` / `&#xN;` that is a number names a character: roxmltree
/// would read `&#xFFFFFFFF;` or a surrogate as U+FFFD, and such a document is
/// refused instead (other malformed references are roxmltree's to refuse).
fn char_refs_name_chars(xml: &str) -> bool {
    xml.match_indices("&#").all(|(i, _)| {
        // Only the letters and digits up to `;` (a linear scan over the whole document).
        let r = &xml[i + 2..];
        let end = r.bytes().take_while(u8::is_ascii_alphanumeric).count();
        if r.as_bytes().get(end) != Some(&b';') {
            return true;
        }
        let (digits, radix) = match r[..end].strip_prefix('x') {
            Some(hex) => (hex, 16),
            None => (&r[..end], 10),
        };
        match u32::from_str_radix(digits, radix) {
            Ok(n) => char::from_u32(n).is_some(),
            Err(_) => true,
        }
    })
}

/// Appends `node`'s subtree to `out`, children first (end-tag order).
/// Recursion is bounded by [`MAX_DEPTH`].
fn collect<'i>(
    node: roxmltree::Node<'_, 'i>,
    path: &mut Vec<&'i str>,
    out: &mut Vec<(String, String)>,
) -> Result<(), String> {
    if path.len() >= MAX_DEPTH {
        return Err("XML nested too deeply".into());
    }
    path.push(node.tag_name().name());
    let mut text = String::new();
    for child in node.children() {
        if child.is_element() {
            collect(child, path, out)?;
        } else if child.is_text() {
            text.push_str(child.text().unwrap_or(""));
        }
    }
    out.push((path.join("/"), text));
    path.pop();
    Ok(())
}

fn field<'a>(fields: &'a [(String, String)], path: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(p, _)| p == path)
        .map(|(_, t)| t.trim())
}

/// Parses `AssumeRoleWithWebIdentityResponse` (also `AssumeRoleResponse`):
/// the four credential fields are required, `Expiration` must be RFC 3339.
pub fn parse_assume_role(xml: &str) -> Result<StsCredentials, String> {
    let fields = xml_fields(xml)?;
    let root = fields
        .last()
        .map(|(p, _)| p.clone())
        .ok_or("empty XML document")?;
    let result = root
        .strip_suffix("Response")
        .map(|op| format!("{root}/{op}Result"))
        .ok_or_else(|| format!("unexpected answer <{root}>"))?;
    let get = |p: &str| {
        field(&fields, &format!("{result}/{p}"))
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .ok_or_else(|| format!("the answer has no {p}"))
    };
    let expiration = get("Credentials/Expiration")?;
    let expiration = crate::timefmt::parse_rfc3339(&expiration)
        .ok_or("the answer's Credentials/Expiration is not RFC 3339")?;
    Ok(StsCredentials {
        access_key_id: get("Credentials/AccessKeyId")?,
        secret_access_key: Secret::new(get("Credentials/SecretAccessKey")?),
        session_token: Secret::new(get("Credentials/SessionToken")?),
        expiration,
        assumed_role_arn: get("AssumedRoleUser/Arn").ok(),
    })
}

/// Parses an STS `ErrorResponse`; `None` when `xml` is not one.
pub fn parse_error(xml: &str) -> Option<StsError> {
    let fields = xml_fields(xml).ok()?;
    let one = |s: &str| crate::error::one_line(s);
    // Empty once shown on one line (e.g. only control characters): no code.
    let code = one(field(&fields, "ErrorResponse/Error/Code")?);
    if code.is_empty() {
        return None;
    }
    Some(StsError {
        kind: one(field(&fields, "ErrorResponse/Error/Type").unwrap_or("")),
        code,
        message: one(field(&fields, "ErrorResponse/Error/Message").unwrap_or("")),
        request_id: field(&fields, "ErrorResponse/RequestId").map(one),
    })
}

/// Parses a `GetCallerIdentityResponse`.
pub fn parse_caller_identity(xml: &str) -> Result<CallerIdentity, String> {
    let fields = xml_fields(xml)?;
    let get = |p: &str| {
        field(
            &fields,
            &format!("GetCallerIdentityResponse/GetCallerIdentityResult/{p}"),
        )
        .map(str::to_string)
        .ok_or_else(|| format!("the answer has no {p}"))
    };
    Ok(CallerIdentity {
        arn: get("Arn")?,
        user_id: get("UserId")?,
        account: get("Account")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str =
        include_str!("../../tests/fixtures/sts-assume-role-with-web-identity.xml");

    #[test]
    fn parses_fixture() {
        let c = parse_assume_role(FIXTURE).expect("fixture");
        assert_eq!(c.access_key_id, "ASIAIOSFODNN7EXAMPLE");
        assert_eq!(
            c.secret_access_key.expose(),
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
        );
        assert_eq!(c.session_token.expose(), "FQoGZXIvYXdzEExampleSessionToken");
        assert_eq!(c.expiration, 1795302600);
        assert_eq!(
            c.assumed_role_arn.as_deref(),
            Some("arn:aws:sts::123456789012:assumed-role/entra-dev/alice@contoso.example")
        );
        // The fixture's commented-out error is not an error answer.
        assert_eq!(parse_error(FIXTURE), None);
    }

    #[test]
    fn parses_error_from_fixture_comment() {
        let start = FIXTURE.find("<ErrorResponse").expect("error sample");
        let end = FIXTURE.find("</ErrorResponse>").expect("end") + "</ErrorResponse>".len();
        let e = parse_error(&FIXTURE[start..end]).expect("error");
        assert_eq!(e.kind, "Sender");
        assert_eq!(e.code, "InvalidIdentityToken");
        assert_eq!(e.message, "Incorrect token audience");
        assert_eq!(
            e.request_id.as_deref(),
            Some("c6104cbe-af31-11e0-8154-cbc7ccf896c7")
        );
        assert!(parse_assume_role(&FIXTURE[start..end]).is_err());
    }

    #[test]
    fn caller_identity() {
        let xml = r#"<?xml version="1.0"?><GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<GetCallerIdentityResult><Arn>arn:aws:sts::1:assumed-role/r/s</Arn><UserId>AROA:s</UserId><Account>1</Account></GetCallerIdentityResult>
</GetCallerIdentityResponse>"#;
        let c = parse_caller_identity(xml).expect("parse");
        assert_eq!(c.arn, "arn:aws:sts::1:assumed-role/r/s");
        assert_eq!(c.account, "1");
    }

    #[test]
    fn xml_details() {
        let f = xml_fields(
            "<?xml version='1.0'?>\n<!DOCTYPE x><a:R xmlns:a='u' b=\"x>y\"><B>1 &amp; &lt;2&gt; &#65;&#x42;<![CDATA[<&>]]></B><C/><!-- <D> --></a:R>",
        )
        .expect("parse");
        assert_eq!(field(&f, "R/B"), Some("1 & <2> AB<&>"));
        assert_eq!(field(&f, "R/C"), Some(""));
        for bad in [
            "",
            "text",
            "<a>",
            "<a></b>",
            "</a>",
            "<a><b></a></b>",
            "<a>&bogus;</a>",
            "<a>&#xFFFFFFFF;</a>",
            "<a>&amp</a>",
            "<a><!-- </a>",
            "<a></a><b></b>",
            "x<a></a>",
            "<a b='>",
            "<>",
            "<a><![CDATA[x</a>",
        ] {
            assert!(xml_fields(bad).is_err(), "accepted {bad:?}");
        }
        let deep = "<a>".repeat(40) + &"</a>".repeat(40);
        assert!(xml_fields(&deep).is_err());
        // Fuzz (sts_xml): an end tag's name is checked like a start tag's, so
        // the error (shown to the person) never carries control characters.
        let e = xml_fields("<a>x</a\u{c}\n\u{1b}[31m>").expect_err("bad end tag");
        assert!(!e.chars().any(char::is_control), "{e:?}");
        let e = xml_fields("<a>&\u{1}\0\0'#65;</a>").expect_err("bad entity");
        assert!(!e.chars().any(char::is_control), "{e:?}");
        // Fuzz (sts_xml): a code of control characters is no code.
        let nul = "<ErrorResponse><Error><Code>\0\0\u{7}</Code><Message>m</Message></Error></ErrorResponse>";
        assert_eq!(parse_error(nul), None);
    }

    #[test]
    fn total_on_prefixes_and_noise() {
        // Every prefix of the fixture (at char boundaries) gives Ok or Err, never a panic.
        for (i, _) in FIXTURE.char_indices() {
            let _ = parse_assume_role(&FIXTURE[..i]);
            let _ = parse_error(&FIXTURE[..i]);
        }
        for s in [
            "<\u{e9}>",
            "<a>\u{1F600}&#128512;</a>",
            "<a x='\u{e9}'/>",
            "&&&",
            "<a>&;</a>",
        ] {
            let _ = xml_fields(s);
        }
    }

    #[test]
    fn entities_depth_and_size() {
        // Entity declarations are refused (billion laughs, external entities),
        // whether used or not; the five predefined entities still read.
        let laughs = r#"<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;">]><l>&b;</l>"#;
        assert!(xml_fields(laughs).is_err());
        let external = r#"<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>"#;
        assert!(xml_fields(external).is_err());
        assert!(xml_fields("<x>&e;</x>").is_err());
        // Surrogates and numbers past Unicode are no characters.
        assert!(xml_fields("<x>&#xD800;</x>").is_err());
        assert!(xml_fields("<x>&#1114112;</x>").is_err());
        let f = xml_fields("\u{feff}<x>&#xFFFD;&quot;&apos;</x>").expect("bom");
        assert_eq!(field(&f, "x"), Some("\u{FFFD}\"'"));
        // 32 levels are read, a 33rd (even self-closing) is not.
        let ok = "<a>".repeat(31) + "<b/>" + &"</a>".repeat(31);
        let f = xml_fields(&ok).expect("32 levels");
        assert_eq!(f[0].0.split('/').count(), 32);
        let bad = "<a>".repeat(32) + "<b/>" + &"</a>".repeat(32);
        assert!(xml_fields(&bad).is_err());
        // Very deep (within the size limit) is an error, not a stack overflow.
        let deep = "<a>".repeat(30_000) + &"</a>".repeat(30_000);
        assert!(xml_fields(&deep).is_err());
        assert!(xml_fields(&format!("<a>{}</a>", "x".repeat(MAX_XML))).is_err());
        // Many unterminated references: refused, and quickly (a linear scan).
        let start = std::time::Instant::now();
        assert!(xml_fields(&format!("<a>{}</a>", "&#1".repeat(80_000))).is_err());
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        // Mixed content: an element's own text, children in end-tag order.
        let f = xml_fields("<r>a<c>1</c>b<!-- c --><d/>c</r>").expect("mixed");
        let paths: Vec<&str> = f.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["r/c", "r/d", "r"]);
        assert_eq!(f[2].1, "abc");
    }
}
