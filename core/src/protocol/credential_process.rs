//! The AWS `credential_process` protocol (see SPEC.md) and the STS answers
//! behind federation mode, as pure functions.
//!
//! - [`render`] writes the JSON a `credential_process` prints
//!   (`{"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}`);
//!   [`parse_output`] reads it back (tests, fuzzing).
//! - [`parse_assume_role`] reads STS's `AssumeRoleWithWebIdentityResponse`,
//!   [`parse_error`] its `ErrorResponse`, [`parse_caller_identity`] a
//!   `GetCallerIdentityResponse`. They sit on [`xml_fields`], a small XML
//!   reader that is total: any input gives `Ok` or `Err`, never a panic.
//! - [`valid_session_name`] / [`session_name_from`]: STS's `RoleSessionName`
//!   rule `[\w+=,.@-]{2,64}`.

use crate::secret::Secret;
use serde_json::{json, Value};

/// `AccessKeyId` and `SecretAccessKey` printed in token mode.
pub const TOKEN_MODE_KEY: &str = "entra";

/// The `Version` of the output format.
pub const VERSION: u64 = 1;

/// The credential_process answer: one JSON object and a newline.
/// `expiration` is POSIX seconds, printed as RFC 3339 UTC with `Z`.
pub fn render(
    access_key_id: &str,
    secret_access_key: &str,
    session_token: &str,
    expiration: i64,
) -> String {
    let v = json!({
        "Version": VERSION,
        "AccessKeyId": access_key_id,
        "SecretAccessKey": secret_access_key,
        "SessionToken": session_token,
        "Expiration": crate::timefmt::rfc3339(expiration),
    });
    format!("{v}\n")
}

/// Token mode: the Entra access token as `SessionToken`.
pub fn render_token(access_token: &str, expires_on: i64) -> String {
    render(TOKEN_MODE_KEY, TOKEN_MODE_KEY, access_token, expires_on)
}

/// A parsed credential_process answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessOutput {
    /// `AccessKeyId`.
    pub access_key_id: String,
    /// `SecretAccessKey`.
    pub secret_access_key: Secret<String>,
    /// `SessionToken`, when present.
    pub session_token: Option<Secret<String>>,
    /// `Expiration` as POSIX seconds, when present.
    pub expiration: Option<i64>,
}

/// Reads a credential_process answer as botocore does: `Version` must be 1,
/// `AccessKeyId` and `SecretAccessKey` are required, `Expiration` RFC 3339.
pub fn parse_output(text: &str) -> Result<ProcessOutput, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    match obj.get("Version").and_then(Value::as_u64) {
        Some(VERSION) => {}
        _ => return Err("Version must be 1".into()),
    }
    let s = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
    let access_key_id = s("AccessKeyId").ok_or("AccessKeyId missing")?;
    let secret = s("SecretAccessKey").ok_or("SecretAccessKey missing")?;
    let expiration = match s("Expiration") {
        Some(e) => Some(crate::timefmt::parse_rfc3339(&e).ok_or("Expiration is not RFC 3339")?),
        None => None,
    };
    Ok(ProcessOutput {
        access_key_id,
        secret_access_key: Secret::new(secret),
        session_token: s("SessionToken").map(Secret::new),
        expiration,
    })
}

// ----- RoleSessionName ----------------------------------------------------------------------

fn session_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

/// Whether `s` is a valid `RoleSessionName`: `[\w+=,.@-]{2,64}` (ASCII).
pub fn valid_session_name(s: &str) -> bool {
    (2..=64).contains(&s.len()) && s.chars().all(session_char)
}

/// A valid `RoleSessionName` made from `s` (a user name or client id): other
/// characters become `-`, the result is cut to 64 characters, and a result
/// shorter than 2 becomes `entra-cred`.
pub fn session_name_from(s: &str) -> String {
    let mut out: String = s
        .trim()
        .chars()
        .map(|c| if session_char(c) { c } else { '-' })
        .take(64)
        .collect();
    if out.len() < 2 {
        out = "entra-cred".into();
    }
    out
}

// ----- STS XML ------------------------------------------------------------------------------

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

const MAX_DEPTH: usize = 32;
const MAX_XML: usize = 256 * 1024;

/// Reads an XML document into `(path, text)` pairs, one per element, in
/// document order of their end tags. The path joins local names (namespace
/// prefixes dropped) with `/`, e.g. `ErrorResponse/Error/Code`; the text is
/// the element's own character data with entities decoded. Comments,
/// processing instructions and `<!DOCTYPE>` are skipped (no entity is ever
/// expanded beyond the five predefined ones and character references).
/// Mismatched or unclosed tags, or more than 32 levels, are errors (one
/// line of text without control characters, whatever the document holds).
pub fn xml_fields(xml: &str) -> Result<Vec<(String, String)>, String> {
    read_fields(xml).map_err(|e| crate::error::one_line(&e))
}

fn read_fields(xml: &str) -> Result<Vec<(String, String)>, String> {
    if xml.len() > MAX_XML {
        return Err("XML document too large".into());
    }
    let mut out = Vec::new();
    // (local name, text so far)
    let mut stack: Vec<(String, String)> = Vec::new();
    let mut seen_root = false;
    let mut rest = xml.strip_prefix('\u{feff}').unwrap_or(xml);
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            append_text(&mut stack, rest)?;
            break;
        };
        append_text(&mut stack, &rest[..lt])?;
        rest = &rest[lt..];
        if let Some(r) = rest.strip_prefix("<!--") {
            let end = r.find("-->").ok_or("unterminated comment")?;
            rest = &r[end + 3..];
        } else if let Some(r) = rest.strip_prefix("<![CDATA[") {
            let end = r.find("]]>").ok_or("unterminated CDATA section")?;
            match stack.last_mut() {
                Some(top) => top.1.push_str(&r[..end]),
                None => return Err("character data outside the root element".into()),
            }
            rest = &r[end + 3..];
        } else if let Some(r) = rest.strip_prefix("<?") {
            let end = r.find("?>").ok_or("unterminated processing instruction")?;
            rest = &r[end + 2..];
        } else if let Some(r) = rest.strip_prefix("<!") {
            let end = r.find('>').ok_or("unterminated declaration")?;
            rest = &r[end + 1..];
        } else if let Some(r) = rest.strip_prefix("</") {
            let end = r.find('>').ok_or("unterminated end tag")?;
            let name = local_name(r[..end].trim());
            if name.is_empty() || !name.chars().all(name_char) {
                return Err("invalid end tag name".into());
            }
            let (open, text) = stack.pop().ok_or("end tag without start tag")?;
            if open != name {
                return Err(format!("end tag </{name}> does not match <{open}>"));
            }
            let mut path: Vec<&str> = stack.iter().map(|(n, _)| n.as_str()).collect();
            path.push(&open);
            out.push((path.join("/"), text));
            rest = &r[end + 1..];
        } else {
            let r = &rest[1..];
            let end = tag_end(r).ok_or("unterminated start tag")?;
            let inner = &r[..end];
            let self_closing = inner.ends_with('/');
            let inner = inner.strip_suffix('/').unwrap_or(inner);
            let raw_name = inner
                .split(|c: char| c.is_whitespace())
                .next()
                .unwrap_or("");
            let name = local_name(raw_name);
            if name.is_empty() || !name.chars().all(name_char) {
                return Err("invalid element name".into());
            }
            if stack.is_empty() {
                if seen_root {
                    return Err("more than one root element".into());
                }
                seen_root = true;
            }
            if self_closing {
                let mut path: Vec<&str> = stack.iter().map(|(n, _)| n.as_str()).collect();
                path.push(&name);
                out.push((path.join("/"), String::new()));
            } else {
                if stack.len() >= MAX_DEPTH {
                    return Err("XML nested too deeply".into());
                }
                stack.push((name, String::new()));
            }
            rest = &r[end + 1..];
        }
    }
    if !stack.is_empty() {
        return Err("truncated XML: unclosed elements".into());
    }
    if !seen_root {
        return Err("no XML element".into());
    }
    Ok(out)
}

fn name_char(c: char) -> bool {
    c.is_alphanumeric() || "_-.".contains(c)
}

fn local_name(raw: &str) -> String {
    raw.rsplit(':').next().unwrap_or("").to_string()
}

/// Index of the `>` closing a start tag, skipping quoted attribute values.
fn tag_end(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"') | (None, '\'') => quote = Some(c),
            (None, '>') => return Some(i),
            (None, '<') => return None,
            _ => {}
        }
    }
    None
}

fn append_text(stack: &mut [(String, String)], raw: &str) -> Result<(), String> {
    match stack.last_mut() {
        Some(top) => {
            let decoded = decode_entities(raw)?;
            top.1.push_str(&decoded);
            Ok(())
        }
        None if raw.trim().is_empty() => Ok(()),
        None => Err("character data outside the root element".into()),
    }
}

fn decode_entities(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let r = &rest[amp + 1..];
        let semi = r
            .find(';')
            .filter(|&i| i <= 12)
            .ok_or("unterminated entity")?;
        let ent = &r[..semi];
        let c = match ent {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(h) = ent.strip_prefix("#x").or(ent.strip_prefix("#X")) {
                    u32::from_str_radix(h, 16).ok()
                } else if let Some(d) = ent.strip_prefix('#') {
                    d.parse::<u32>().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("unknown entity &{ent};"))?
            }
        };
        out.push(c);
        rest = &r[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
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
    fn renders_botocore_shape() {
        let s = render_token("eyJ.tok.en", 1795291150);
        assert!(s.ends_with('\n'));
        let v: Value = serde_json::from_str(&s).expect("json");
        assert_eq!(v["Version"], 1);
        assert_eq!(v["AccessKeyId"], "entra");
        assert_eq!(v["SecretAccessKey"], "entra");
        assert_eq!(v["SessionToken"], "eyJ.tok.en");
        assert_eq!(v["Expiration"], "2026-11-21T19:59:10Z");
        let back = parse_output(&s).expect("parse");
        assert_eq!(back.expiration, Some(1795291150));
        assert_eq!(back.session_token.expect("token").expose(), "eyJ.tok.en");
        // Quotes and backslashes are escaped.
        let s = render("A\"K", "s\\k", "t", 0);
        let back = parse_output(&s).expect("parse");
        assert_eq!(back.access_key_id, "A\"K");
        assert_eq!(back.secret_access_key.expose(), "s\\k");
    }

    #[test]
    fn parse_output_rejects() {
        assert!(parse_output("").is_err());
        assert!(parse_output("[]").is_err());
        assert!(parse_output(r#"{"Version":2,"AccessKeyId":"a","SecretAccessKey":"b"}"#).is_err());
        assert!(parse_output(r#"{"Version":1,"SecretAccessKey":"b"}"#).is_err());
        assert!(parse_output(
            r#"{"Version":1,"AccessKeyId":"a","SecretAccessKey":"b","Expiration":"soon"}"#
        )
        .is_err());
        let ok = parse_output(r#"{"Version":1,"AccessKeyId":"a","SecretAccessKey":"b"}"#)
            .expect("minimal");
        assert_eq!(ok.expiration, None);
    }

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
    fn session_names() {
        assert!(valid_session_name("alice@contoso.example"));
        assert!(valid_session_name("a_b+c=d,e.f@g-h"));
        assert!(!valid_session_name("a"));
        assert!(!valid_session_name("has space"));
        assert!(!valid_session_name(&"x".repeat(65)));
        assert!(!valid_session_name("caf\u{e9}"));
        assert_eq!(session_name_from("Alice Example"), "Alice-Example");
        assert_eq!(session_name_from("caf\u{e9}/x"), "caf--x");
        assert_eq!(session_name_from(""), "entra-cred");
        assert_eq!(session_name_from("x"), "entra-cred");
        assert_eq!(session_name_from(&"y".repeat(100)).len(), 64);
        for s in ["Alice Example", "", "\u{1F600}\u{1F600}", &"z".repeat(200)] {
            assert!(valid_session_name(&session_name_from(s)));
        }
    }
}
