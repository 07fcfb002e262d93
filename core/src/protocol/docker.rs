//! The Docker credential helper protocol (see SPEC.md and the conventions of
//! `docker-credential-helpers`), as pure functions.
//!
//! The calling program (docker, skopeo, podman, crane, ...) runs
//! `docker-credential-<name> <action>` and talks over stdin/stdout:
//!
//! | action | stdin | stdout on success |
//! |---|---|---|
//! | `get` | the server (`host`, `host:port`, a URL), no newline guaranteed | `{"ServerURL", "Username", "Secret"}` |
//! | `store` | `{"ServerURL", "Username", "Secret"}` | nothing |
//! | `erase` | the server | nothing |
//! | `list` | anything (docker sends `unused`) | `{"<server>": "<username>", ...}` |
//! | `version` | nothing | `<binary> (<package>) <version>` |
//!
//! On failure the helper writes the message on stdout (the caller shows it)
//! and exits non-zero; the exact message [`NOT_FOUND`] means "no credentials
//! for this server", after which the caller goes on without them.
//!
//! Everything here is total: any input gives `Some`/`Ok` or `None`/`Err`.

use crate::error::{one_line, Error, Result};
use std::collections::BTreeMap;

/// The answer that callers recognise as "no credentials for this server".
pub const NOT_FOUND: &str = "credentials not found in native keychain";

/// The user name ACR expects with an ACR refresh token.
pub const ACR_USERNAME: &str = "00000000-0000-0000-0000-000000000000";

/// Registry suffixes served without configuration (anchored: the host must
/// end with one of these and have a non-empty name before it).
pub const ACR_SUFFIXES: [&str; 3] = [".azurecr.io", ".azurecr.cn", ".azurecr.us"];

/// Largest stdin read for any action (a server URL or a small JSON object).
pub const MAX_INPUT: u64 = 64 * 1024;

/// The protocol's actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Credentials for a server.
    Get,
    /// Keep credentials (accepted, nothing kept).
    Store,
    /// Forget a server's credentials.
    Erase,
    /// Servers with credentials.
    List,
    /// The helper's version.
    Version,
}

impl Action {
    /// Parses the action argument (exactly as docker passes it, lower case).
    pub fn parse(s: &str) -> Result<Action> {
        Ok(match s {
            "get" => Action::Get,
            "store" => Action::Store,
            "erase" => Action::Erase,
            "list" => Action::List,
            "version" => Action::Version,
            other => {
                return Err(Error::Input(format!(
                    "unknown credential action `{}` (expected get, store, erase, list or version)",
                    one_line(&truncate(other, 64))
                )))
            }
        })
    }
}

/// A registry, normalised: lower-case host without a trailing dot, and the
/// port when one was given.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Registry {
    /// Host name or IP address (IPv6 in brackets, e.g. `[::1]`).
    pub host: String,
    /// Port, when given.
    pub port: Option<u16>,
}

impl Registry {
    /// `host[:port]`: the registry's name, also the `service` ACR expects.
    pub fn name(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }

    /// Whether the host is a loopback address or `localhost`.
    pub fn is_loopback(&self) -> bool {
        crate::config::is_loopback_host(&self.host)
    }

    /// The URL scheme to use: `http` on loopback, `https` everywhere else.
    pub fn scheme(&self) -> &'static str {
        crate::net::scheme_for(&self.host)
    }

    /// `<scheme>://host[:port]`.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme(), self.name())
    }

    /// Whether the host ends with one of [`ACR_SUFFIXES`] (anchored, with a
    /// non-empty registry name before it).
    pub fn has_acr_suffix(&self) -> bool {
        ACR_SUFFIXES.iter().any(|suffix| {
            self.host
                .strip_suffix(suffix)
                .is_some_and(|name| !name.is_empty())
        })
    }

    /// Whether `entry` (an `acr_hosts` item: `host` or `host:port`, or a URL)
    /// names this registry. An entry without a port matches any port.
    pub fn matches_entry(&self, entry: &str) -> bool {
        match normalize(entry) {
            Some(e) => e.host == self.host && (e.port.is_none() || e.port == self.port),
            None => false,
        }
    }

    /// Whether entra-cred serves this registry: an ACR suffix, or listed in
    /// `allowlist` (`acr_hosts` / `ENTRA_CRED_ACR_HOSTS`).
    pub fn is_served(&self, allowlist: &[String]) -> bool {
        self.has_acr_suffix() || allowlist.iter().any(|e| self.matches_entry(e))
    }
}

/// The server as docker gives it, trimmed (the `ServerURL` of the answer).
/// Empty input is an error, as with every docker credential helper.
pub fn parse_server(input: &str) -> Result<String> {
    let s = input.trim();
    if s.is_empty() {
        return Err(Error::Input("no credentials server URL".into()));
    }
    Ok(s.to_string())
}

/// Normalises a server (`myreg.azurecr.io`, `https://MyReg.azurecr.io/v2/`,
/// `myreg.azurecr.io/repo`, `127.0.0.1:5000`, `[::1]:5000`) to a
/// [`Registry`]. `None` when no valid host can be read from it.
pub fn normalize(server: &str) -> Option<Registry> {
    let s = server.trim();
    // Scheme (any `x://`); docker and skopeo send none or https://.
    let rest = match s.find("://") {
        Some(i) => {
            let scheme = &s[..i];
            if scheme.is_empty()
                || !scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            {
                return None;
            }
            &s[i + 3..]
        }
        None => s,
    };
    // Authority: up to the first path, query or fragment delimiter.
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let authority = &rest[..end];
    // Userinfo: the host is what follows the last '@'.
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if authority.is_empty() {
        return None;
    }
    let (host, port) = split_host_port(authority)?;
    let host = host.to_ascii_lowercase();
    let host = host.strip_suffix('.').unwrap_or(&host).to_string();
    if !valid_host(&host) {
        return None;
    }
    Some(Registry { host, port })
}

fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    if authority.starts_with('[') {
        let close = authority.find(']')?;
        let host = &authority[..=close];
        let after = &authority[close + 1..];
        return match after {
            "" => Some((host, None)),
            p => Some((host, Some(parse_port(p.strip_prefix(':')?)?))),
        };
    }
    match authority.split_once(':') {
        Some((h, p)) => Some((h, Some(parse_port(p)?))),
        None => Some((authority, None)),
    }
}

fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || !p.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    p.parse::<u16>().ok().filter(|n| *n != 0)
}

/// A DNS name (labels of letters, digits, `-`, `_`; no empty label) or an IP
/// address (IPv6 in brackets).
fn valid_host(h: &str) -> bool {
    if h.is_empty() || h.len() > 253 {
        return false;
    }
    if let Some(inner) = h.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    h.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !label.starts_with('-')
            && !label.ends_with('-')
    })
}

/// The `get` answer: `{"ServerURL": ..., "Username": ..., "Secret": ...}`
/// and a newline.
pub fn render_get(server_url: &str, username: &str, secret: &str) -> String {
    let v = serde_json::json!({
        "ServerURL": server_url,
        "Username": username,
        "Secret": secret,
    });
    format!("{v}\n")
}

/// The `list` answer: a JSON object, server -> user name, and a newline.
pub fn render_list(entries: &BTreeMap<String, String>) -> String {
    let v = serde_json::to_value(entries).unwrap_or_else(|_| serde_json::json!({}));
    format!("{v}\n")
}

/// The `version` answer, in docker-credential-helpers' form:
/// `<binary> (<package>) <version>`.
pub fn render_version(bin: &str, package: &str, version: &str) -> String {
    format!("{bin} ({package}) {version}\n")
}

/// The `ServerURL` of a `store` request, when it is readable JSON (the
/// request is accepted either way; nothing is kept).
pub fn parse_store(input: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(input.trim()).ok()?;
    v.get("ServerURL")?.as_str().map(str::to_string)
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Option<String> {
        normalize(s).map(|r| r.name())
    }

    #[test]
    fn normalises_every_input_form() {
        for (input, want) in [
            ("myreg.azurecr.io", "myreg.azurecr.io"),
            ("MyReg.AzureCR.io", "myreg.azurecr.io"),
            ("https://myreg.azurecr.io", "myreg.azurecr.io"),
            ("https://myreg.azurecr.io/", "myreg.azurecr.io"),
            ("https://myreg.azurecr.io/v2/", "myreg.azurecr.io"),
            ("myreg.azurecr.io/repo/sub", "myreg.azurecr.io"),
            ("myreg.azurecr.io.", "myreg.azurecr.io"),
            ("  myreg.azurecr.io\n", "myreg.azurecr.io"),
            ("http://127.0.0.1:5000/v2/", "127.0.0.1:5000"),
            ("127.0.0.1:5000", "127.0.0.1:5000"),
            ("localhost:5000/app", "localhost:5000"),
            ("[::1]:5000", "[::1]:5000"),
            ("https://[::1]/v2/", "[::1]"),
            ("https://user@myreg.azurecr.io/x", "myreg.azurecr.io"),
            ("myreg.azurecr.io?x=1", "myreg.azurecr.io"),
        ] {
            assert_eq!(n(input).as_deref(), Some(want), "{input:?}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for input in [
            "",
            "   ",
            "https://",
            "://x",
            "a b.azurecr.io",
            "x.azurecr.io:",
            "x.azurecr.io:0",
            "x.azurecr.io:99999",
            "x.azurecr.io:80:80",
            "x..azurecr.io",
            "-x.azurecr.io",
            "x%2eazurecr.io",
            "[::1",
            "[nothex]:5",
            "[::1]x",
            "ht tp://x.azurecr.io",
            "é.azurecr.io",
        ] {
            assert_eq!(n(input), None, "{input:?}");
        }
    }

    #[test]
    fn suffixes_are_anchored() {
        let served = |s: &str| normalize(s).is_some_and(|r| r.is_served(&[]));
        assert!(served("myreg.azurecr.io"));
        assert!(served("https://myreg.azurecr.cn/v2/"));
        assert!(served("myreg.azurecr.us:443"));
        assert!(served("a.b.azurecr.io"));
        assert!(!served("azurecr.io"));
        assert!(!served(".azurecr.io"));
        assert!(!served("evilazurecr.io"));
        assert!(!served("azurecr.io.evil.com"));
        assert!(!served("myreg.azurecr.io.evil.com"));
        assert!(!served("myreg.azurecr.io@evil.com"));
        assert!(!served("evil.com/myreg.azurecr.io"));
        assert!(!served("https://evil.com/?myreg.azurecr.io"));
        assert!(!served("myreg.azurecr.com"));
        assert!(!served("docker.io"));
        assert!(!served("https://index.docker.io/v1/"));
    }

    #[test]
    fn allowlist_exact_host_or_host_port() {
        let allow = vec!["127.0.0.1:5000".to_string(), "reg.example".to_string()];
        let served = |s: &str| normalize(s).is_some_and(|r| r.is_served(&allow));
        assert!(served("127.0.0.1:5000"));
        assert!(served("http://127.0.0.1:5000/v2/"));
        assert!(!served("127.0.0.1:5001"));
        assert!(!served("127.0.0.1"));
        assert!(!served("localhost:5000"));
        assert!(served("reg.example"));
        assert!(served("reg.example:8443"));
        assert!(served("REG.example/app"));
        assert!(!served("sub.reg.example"));
        assert!(!served("reg.example.evil"));
        // An entry written as a URL is normalised too; a bad entry matches nothing.
        let allow = vec!["https://Reg.Example:8443/".to_string(), "::::".to_string()];
        assert!(normalize("reg.example:8443").is_some_and(|r| r.is_served(&allow)));
        assert!(!normalize("reg.example:8444").is_some_and(|r| r.is_served(&allow)));
    }

    #[test]
    fn schemes() {
        let r = normalize("127.0.0.1:5000").expect("valid");
        assert_eq!(r.base_url(), "http://127.0.0.1:5000");
        let r = normalize("http://myreg.azurecr.io").expect("valid");
        assert_eq!(r.base_url(), "https://myreg.azurecr.io");
        let r = normalize("localhost.evil.example").expect("valid");
        assert_eq!(r.scheme(), "https");
        let r = normalize("[::1]:8").expect("valid");
        assert_eq!(r.base_url(), "http://[::1]:8");
    }

    #[test]
    fn actions() {
        for (s, a) in [
            ("get", Action::Get),
            ("store", Action::Store),
            ("erase", Action::Erase),
            ("list", Action::List),
            ("version", Action::Version),
        ] {
            assert_eq!(Action::parse(s).expect("known"), a);
        }
        let e = Action::parse("GET\nx").expect_err("unknown");
        assert_eq!(e.exit_code(), 1);
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn server_input() {
        assert_eq!(
            parse_server("myreg.azurecr.io").expect("ok"),
            "myreg.azurecr.io"
        );
        assert_eq!(
            parse_server(" https://x.azurecr.io/v2/ \n").expect("ok"),
            "https://x.azurecr.io/v2/"
        );
        assert_eq!(parse_server("\n").expect_err("empty").exit_code(), 1);
    }

    #[test]
    fn renders() {
        let out = render_get("https://x.azurecr.io/v2/", ACR_USERNAME, "s\"e\ncret");
        assert!(out.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(v["ServerURL"], "https://x.azurecr.io/v2/");
        assert_eq!(v["Username"], ACR_USERNAME);
        assert_eq!(v["Secret"], "s\"e\ncret");
        let mut m = BTreeMap::new();
        assert_eq!(render_list(&m), "{}\n");
        m.insert("a.azurecr.io".to_string(), ACR_USERNAME.to_string());
        let v: serde_json::Value = serde_json::from_str(&render_list(&m)).expect("json");
        assert_eq!(v["a.azurecr.io"], ACR_USERNAME);
        assert_eq!(
            render_version("docker-credential-entra", "entra-cred", "1.2.3"),
            "docker-credential-entra (entra-cred) 1.2.3\n"
        );
    }

    #[test]
    fn store_input_is_read_leniently() {
        assert_eq!(
            parse_store(r#"{"ServerURL":"x.azurecr.io","Username":"u","Secret":"s"}"#).as_deref(),
            Some("x.azurecr.io")
        );
        assert_eq!(parse_store("not json"), None);
        assert_eq!(parse_store("[1]"), None);
    }

    #[test]
    fn total_on_odd_input() {
        // No panic on any of these (slices at char boundaries only).
        for s in [
            "\u{0}",
            "[",
            "]",
            "[]:",
            "@",
            "@@@",
            "://",
            "a://b://c",
            "[::1]:",
            "é://é",
            "x:é",
            "[é]",
            "::",
            ":80",
            "[::1]:65536",
        ] {
            let _ = normalize(s);
            let _ = parse_server(s);
            let _ = Action::parse(s);
            let _ = parse_store(s);
        }
    }
}
