//! The git credential helper protocol (see SPEC.md and `git help credential`).
//!
//! git writes `key=value` lines to the helper's stdin, ending with a blank line
//! or end of file; the helper answers with the same format on stdout. Keys
//! ending in `[]` (`wwwauth[]`, `capability[]`) may repeat; unknown keys are
//! ignored, as git asks of helpers. Everything here is pure and total: any
//! input gives `Ok` or `Err`, never a panic.

use crate::error::{Error, Result};
use crate::secret::Secret;

/// What git told the helper.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitRequest {
    /// `protocol=` (`https`, `http`), lower case.
    pub protocol: Option<String>,
    /// `host=` (with `:port` when git has one), lower case.
    pub host: Option<String>,
    /// `path=` (sent only with `credential.useHttpPath`), without leading `/`.
    pub path: Option<String>,
    /// `username=`.
    pub username: Option<String>,
    /// `password=` (on `erase`/`store`: the credential git used).
    pub password: Option<Secret<String>>,
    /// `credential=` (the pre-encoded credential of an `authtype`).
    pub credential: Option<Secret<String>>,
    /// `authtype=` (e.g. `Bearer`).
    pub authtype: Option<String>,
    /// Every `wwwauth[]=` line (the server's `WWW-Authenticate` headers), in order.
    pub wwwauth: Vec<String>,
    /// Every `capability[]=` line (`authtype`, `state`, ...), in order.
    pub capabilities: Vec<String>,
}

impl GitRequest {
    /// Whether git announced `capability[]=<name>`.
    pub fn has_capability(&self, name: &str) -> bool {
        self.capabilities.iter().any(|c| c == name)
    }

    /// The credential git presented (on `erase`): `credential=` or `password=`.
    pub fn presented_token(&self) -> Option<&str> {
        self.credential
            .as_ref()
            .or(self.password.as_ref())
            .map(|s| s.expose().as_str())
            .filter(|s| !s.is_empty())
    }
}

/// Longest line accepted; git's own limit for a credential line is far lower
/// than any real `WWW-Authenticate` header would need.
const MAX_LINE: usize = 64 * 1024;

/// Parses git's request: `key=value` lines until a blank line or the end.
/// A trailing `\r` is dropped (input typed on Windows); lines without `=`
/// and unknown keys are ignored. A NUL byte or an over-long line is an error.
pub fn parse(input: &str) -> Result<GitRequest> {
    let mut r = GitRequest::default();
    for raw in input.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.is_empty() {
            break;
        }
        if line.len() > MAX_LINE {
            return Err(Error::Input(
                "git sent a credential line longer than 64 KiB".into(),
            ));
        }
        if line.contains('\0') {
            return Err(Error::Input(
                "git sent a credential line with a NUL byte".into(),
            ));
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let owned = || value.to_string();
        let nonempty = || (!value.is_empty()).then(owned);
        match key {
            "protocol" => r.protocol = nonempty().map(|v| v.to_ascii_lowercase()),
            "host" => r.host = nonempty().map(|v| v.to_ascii_lowercase()),
            "path" => {
                let p = value.trim_start_matches('/');
                r.path = (!p.is_empty()).then(|| p.to_string());
            }
            "username" => r.username = nonempty(),
            "password" => r.password = nonempty().map(Secret::new),
            "credential" => r.credential = nonempty().map(Secret::new),
            "authtype" => r.authtype = nonempty(),
            "wwwauth[]" => {
                // An empty value resets the list, as in git.
                if value.is_empty() {
                    r.wwwauth.clear();
                } else {
                    r.wwwauth.push(owned());
                }
            }
            "capability[]" => {
                if value.is_empty() {
                    r.capabilities.clear();
                } else if !r.capabilities.iter().any(|c| c == value) {
                    r.capabilities.push(owned());
                }
            }
            _ => {}
        }
    }
    Ok(r)
}

/// Reads git's request from `input`: lines up to and including the blank
/// line that ends it, or to the end of the input, at most `limit` bytes. It
/// does not wait for the end of the input after the blank line (git may keep
/// stdin open until it has the answer). Not UTF-8, or longer than `limit`:
/// an input error.
pub fn read_request(input: &mut impl std::io::BufRead, limit: usize) -> Result<String> {
    use std::io::{BufRead, Read};
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let start = buf.len();
        let n = input
            .by_ref()
            .take((limit + 1 - start.min(limit)) as u64)
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::Input(format!("cannot read git's request: {e}")))?;
        if buf.len() > limit {
            return Err(Error::Input(format!(
                "git's request is longer than {} KiB",
                limit / 1024
            )));
        }
        let line = &buf[start..];
        if n == 0 || line == b"\n" || line == b"\r\n" {
            break;
        }
    }
    String::from_utf8(buf).map_err(|_| Error::Input("git's request is not UTF-8 text".into()))
}

/// A value that can be written as one protocol line.
fn check_value(what: &str, v: &str) -> Result<()> {
    if v.is_empty() || v.contains(['\n', '\r', '\0']) {
        return Err(Error::Other(format!(
            "cannot answer git: the {what} is empty or contains a line break"
        )));
    }
    Ok(())
}

/// The answer to `get` for a git that did not announce `capability[]=authtype`:
/// `username`, `password` and `password_expiry_utc`.
pub fn render_password(username: &str, token: &Secret<String>, expiry_utc: i64) -> Result<String> {
    check_value("user name", username)?;
    check_value("token", token.expose())?;
    Ok(format!(
        "username={username}\npassword={}\npassword_expiry_utc={expiry_utc}\n",
        token.expose()
    ))
}

/// The answer to `get` for a git that announced `capability[]=authtype`: a
/// pre-encoded Bearer credential that git must not store (`ephemeral`).
pub fn render_bearer(token: &Secret<String>, expiry_utc: i64) -> Result<String> {
    check_value("token", token.expose())?;
    Ok(format!(
        "capability[]=authtype\nauthtype=Bearer\ncredential={}\nephemeral=true\npassword_expiry_utc={expiry_utc}\n",
        token.expose()
    ))
}

/// Git's boolean values (`git help config`, "boolean"): `Some(true)` for
/// `true`/`yes`/`on`/`1`, `Some(false)` for `false`/`no`/`off`/`0`/empty.
pub fn git_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" | "" => Some(false),
        other => other.parse::<i64>().ok().map(|n| n != 0),
    }
}

/// Parses `GIT_CONFIG_PARAMETERS` (what `git -c k=v` exports to its children):
/// space-separated shell-quoted items, either `'key'='value'` (git >= 2.31) or
/// `'key=value'`. Returns (key, value) pairs in order; garbage ends the list.
pub fn parse_config_parameters(s: &str) -> Vec<(String, String)> {
    fn quoted(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
        // One or more adjacent '...' or \x pieces (git's sq_quote produces '\'' for a quote).
        let mut out = String::new();
        let mut any = false;
        loop {
            match chars.peek() {
                Some('\'') => {
                    chars.next();
                    any = true;
                    loop {
                        match chars.next()? {
                            '\'' => break,
                            c => out.push(c),
                        }
                    }
                }
                Some('\\') => {
                    chars.next();
                    out.push(chars.next()?);
                    any = true;
                }
                _ => break,
            }
        }
        any.then_some(out)
    }
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let Some(first) = quoted(&mut chars) else {
            break;
        };
        if chars.peek() == Some(&'=') {
            chars.next();
            let value = quoted(&mut chars).unwrap_or_default();
            out.push((first, value));
        } else {
            match first.split_once('=') {
                Some((k, v)) => out.push((k.to_string(), v.to_string())),
                // `'key'` alone means true.
                None => out.push((first, "true".into())),
            }
        }
    }
    out
}

/// Whether git (as far as its environment shows) forbids asking a person:
/// `GIT_TERMINAL_PROMPT` false, or `credential.interactive` set to
/// `false`/`never` through `git -c` (`GIT_CONFIG_PARAMETERS`) or
/// `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_<n>`/`GIT_CONFIG_VALUE_<n>`. The
/// global and repository config files are not read (that would cost a `git
/// config` process on every call).
pub fn prompting_forbidden(env: &dyn Fn(&str) -> Option<String>) -> bool {
    if env("GIT_TERMINAL_PROMPT").is_some_and(|v| git_bool(&v) == Some(false)) {
        return true;
    }
    let mut interactive: Option<String> = None;
    let is_key = |k: &str| k.eq_ignore_ascii_case("credential.interactive");
    if let Some(n) = env("GIT_CONFIG_COUNT").and_then(|n| n.trim().parse::<usize>().ok()) {
        for i in 0..n.min(10_000) {
            let Some(k) = env(&format!("GIT_CONFIG_KEY_{i}")) else {
                continue;
            };
            if is_key(&k) {
                interactive = Some(env(&format!("GIT_CONFIG_VALUE_{i}")).unwrap_or_default());
            }
        }
    }
    if let Some(p) = env("GIT_CONFIG_PARAMETERS") {
        for (k, v) in parse_config_parameters(&p) {
            if is_key(&k) {
                interactive = Some(v);
            }
        }
    }
    match interactive {
        Some(v) => v.trim().eq_ignore_ascii_case("never") || git_bool(&v) == Some(false),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GET: &str = "capability[]=authtype\ncapability[]=state\nprotocol=https\nhost=Dev.Azure.com\npath=contoso/proj/_git/repo\nwwwauth[]=Bearer authorization_uri=https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47\nwwwauth[]=Basic realm=\"https://tfsprodcus.visualstudio.com/\"\nwwwauth[]=TFS-Federated\n\nignored=after blank\n";

    #[test]
    fn parses_a_real_get() {
        let r = parse(GET).expect("parse");
        assert_eq!(r.protocol.as_deref(), Some("https"));
        assert_eq!(r.host.as_deref(), Some("dev.azure.com"));
        assert_eq!(r.path.as_deref(), Some("contoso/proj/_git/repo"));
        assert_eq!(r.wwwauth.len(), 3);
        assert!(r.wwwauth[0].starts_with("Bearer authorization_uri="));
        assert_eq!(r.capabilities, vec!["authtype", "state"]);
        assert!(r.has_capability("authtype"));
        assert!(!r.has_capability("nope"));
        assert!(r.password.is_none());
    }

    #[test]
    fn parses_an_erase_with_a_credential() {
        let r = parse(
            "capability[]=authtype\nauthtype=Bearer\ncredential=tok.en.x\nephemeral=1\nprotocol=http\nhost=127.0.0.1:8080\r\n",
        )
        .expect("parse");
        assert_eq!(r.authtype.as_deref(), Some("Bearer"));
        assert_eq!(r.presented_token(), Some("tok.en.x"));
        assert_eq!(r.host.as_deref(), Some("127.0.0.1:8080"));
        let r = parse("protocol=https\nhost=h\nusername=u\npassword=p=w\n").expect("parse");
        assert_eq!(r.presented_token(), Some("p=w"));
        assert!(!format!("{r:?}").contains("p=w"), "Debug must redact");
    }

    #[test]
    fn tolerant_and_total() {
        assert_eq!(parse("").expect("empty"), GitRequest::default());
        assert_eq!(parse("\n").expect("blank"), GitRequest::default());
        let r = parse("garbage\nhost=\nprotocol=https\nwwwauth[]=a\nwwwauth[]=\nwwwauth[]=b")
            .expect("p");
        assert_eq!(r.host, None);
        assert_eq!(r.wwwauth, vec!["b"]);
        assert!(parse("host=a\0b\n").is_err());
        assert!(parse(&format!("host={}\n", "x".repeat(MAX_LINE + 1))).is_err());
        for s in ["=", "==\n=", "\r\r\n", "capability[]=", "é=ü\n", "path=/"] {
            let _ = parse(s);
        }
        // Fuzz (git_request): `path=/` is no path, not an empty one.
        assert_eq!(parse("path=/\n").expect("p").path, None);
        assert_eq!(parse("path=//a\n").expect("p").path.as_deref(), Some("a"));
    }

    #[test]
    fn the_request_ends_at_its_blank_line() {
        use std::io::{Cursor, Read};
        // Everything after the blank line stays unread (git may not close stdin).
        let mut c = Cursor::new(b"protocol=https\nhost=dev.azure.com\n\nnext=1\n".to_vec());
        let r = read_request(&mut c, 1024).expect("read");
        assert_eq!(r, "protocol=https\nhost=dev.azure.com\n\n");
        let mut rest = String::new();
        c.read_to_string(&mut rest).expect("rest");
        assert_eq!(rest, "next=1\n");
        // CRLF, end of input without a blank line, empty input.
        let r = read_request(&mut Cursor::new(b"host=a\r\n\r\nx".to_vec()), 1024).expect("r");
        assert_eq!(r, "host=a\r\n\r\n");
        let r = read_request(&mut Cursor::new(b"host=a".to_vec()), 1024).expect("r");
        assert_eq!(parse(&r).expect("p").host.as_deref(), Some("a"));
        assert_eq!(
            read_request(&mut Cursor::new(Vec::new()), 1024).expect("r"),
            ""
        );
        // Too long, not UTF-8.
        assert!(read_request(&mut Cursor::new(vec![b'a'; 2000]), 1024).is_err());
        assert!(read_request(&mut Cursor::new(b"host=\xff\n\n".to_vec()), 1024).is_err());
        // A pipe that stays open after the blank line: answered without waiting.
        let (r, mut w) = std::io::pipe().expect("pipe");
        std::io::Write::write_all(&mut w, b"host=a\n\n").expect("write");
        let mut br = std::io::BufReader::new(r);
        let got = read_request(&mut br, 1024).expect("read");
        assert_eq!(got, "host=a\n\n");
        drop(w);
    }

    #[test]
    fn renders() {
        let t = Secret::new("eyJ.a.b".to_string());
        assert_eq!(
            render_password("alice@contoso.example", &t, 1700000000).expect("r"),
            "username=alice@contoso.example\npassword=eyJ.a.b\npassword_expiry_utc=1700000000\n"
        );
        assert_eq!(
            render_bearer(&t, 5).expect("r"),
            "capability[]=authtype\nauthtype=Bearer\ncredential=eyJ.a.b\nephemeral=true\npassword_expiry_utc=5\n"
        );
        let bad = Secret::new("a\nusername=evil".to_string());
        assert!(render_bearer(&bad, 5).is_err());
        assert!(render_password("u", &bad, 5).is_err());
        assert!(render_password("u\n", &t, 5).is_err());
        let e = render_bearer(&bad, 5).expect_err("bad");
        assert!(!e.to_string().contains("evil"));
    }

    #[test]
    fn config_parameters() {
        assert_eq!(
            parse_config_parameters("'credential.interactive'='false' 'core.x'='a b'"),
            vec![
                ("credential.interactive".into(), "false".into()),
                ("core.x".into(), "a b".into())
            ]
        );
        assert_eq!(
            parse_config_parameters("'credential.interactive=never' 'x.y'"),
            vec![
                ("credential.interactive".into(), "never".into()),
                ("x.y".into(), "true".into())
            ]
        );
        assert_eq!(
            parse_config_parameters("'a.b'='it'\\''s'"),
            vec![("a.b".into(), "it's".into())]
        );
        assert!(parse_config_parameters("unquoted").is_empty());
        for s in ["'", "'a'=", "'a'='", "\\", "'a' '"] {
            let _ = parse_config_parameters(s);
        }
    }

    fn env_of<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn prompting_rules() {
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[], false),
            (&[("GIT_TERMINAL_PROMPT", "0")], true),
            (&[("GIT_TERMINAL_PROMPT", "false")], true),
            (&[("GIT_TERMINAL_PROMPT", "1")], false),
            (
                &[("GIT_CONFIG_PARAMETERS", "'credential.Interactive'='false'")],
                true,
            ),
            (
                &[("GIT_CONFIG_PARAMETERS", "'credential.interactive=never'")],
                true,
            ),
            (
                &[(
                    "GIT_CONFIG_PARAMETERS",
                    "'credential.interactive'='false' 'credential.interactive'='true'",
                )],
                false,
            ),
            (
                &[
                    ("GIT_CONFIG_COUNT", "2"),
                    ("GIT_CONFIG_KEY_0", "core.x"),
                    ("GIT_CONFIG_VALUE_0", "1"),
                    ("GIT_CONFIG_KEY_1", "credential.interactive"),
                    ("GIT_CONFIG_VALUE_1", "no"),
                ],
                true,
            ),
            // -c (GIT_CONFIG_PARAMETERS) is applied after GIT_CONFIG_COUNT, as in git.
            (
                &[
                    ("GIT_CONFIG_COUNT", "1"),
                    ("GIT_CONFIG_KEY_0", "credential.interactive"),
                    ("GIT_CONFIG_VALUE_0", "false"),
                    ("GIT_CONFIG_PARAMETERS", "'credential.interactive'='auto'"),
                ],
                false,
            ),
            (&[("GIT_CONFIG_COUNT", "x")], false),
        ];
        for (pairs, forbidden) in cases {
            assert_eq!(prompting_forbidden(&env_of(pairs)), *forbidden, "{pairs:?}");
        }
    }
}
