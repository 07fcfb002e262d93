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
use crate::hostport::HostPort;
use std::collections::BTreeMap;

/// The answer that callers recognise as "no credentials for this server".
pub const NOT_FOUND: &str = "credentials not found in native keychain";

/// The user name ACR expects with an ACR refresh token.
pub const ACR_USERNAME: &str = "00000000-0000-0000-0000-000000000000";

/// Largest stdin read for any action (a server URL or a small JSON object).
pub const MAX_INPUT: u64 = 64 * 1024;

/// A registry, normalised: lower-case host without a trailing dot (IPv6 in brackets) and the
/// port when one was given. [`HostPort::name`] is the registry's name, also the `service` ACR
/// expects; [`HostPort::base_url`] its URL (`http` on loopback only).
pub type Registry = HostPort;

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
/// `myreg.azurecr.io/repo`, `127.0.0.1:5000`, `[::1]:5000`) to a [`Registry`] with the one
/// host normaliser, [`HostPort::parse`]. `None` when no valid host can be read from it.
/// Whether entra-cred serves it is [`crate::hosts::Service::Acr`]'s to say.
pub fn normalize(server: &str) -> Option<Registry> {
    HostPort::parse(server)
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
            "@",
            "://",
            "a://b://c",
            "é://é",
            "x:é",
            "[é]",
            "::",
        ] {
            let _ = parse_server(s);
            let _ = Action::parse(s);
            let _ = parse_store(s);
        }
    }
}
