//! The one rule for where credentials may travel: `https` anywhere, plain
//! `http` only to a loopback host (127.0.0.0/8, `::1`, `localhost`).
//!
//! The authority, every request the HTTP client sends, the STS endpoint, git's
//! and docker's hosts all ask here.

/// Whether `host` (no port; IPv6 brackets allowed) is a loopback host.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match h.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => false,
    }
}

/// Why a URL may not carry credentials, when it may not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `http://` to a host that is not loopback.
    PlainHttp(String),
    /// Neither `https` nor `http`.
    Scheme(String),
    /// No host at all.
    NoHost,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::PlainHttp(h) => write!(
                f,
                "refusing plain http to {h}: only loopback hosts may use http (use https)"
            ),
            Refusal::Scheme(s) => write!(f, "unsupported URL scheme '{s}' (use https)"),
            Refusal::NoHost => write!(f, "the URL has no host"),
        }
    }
}

/// Checks `u` against the rule. `allow_plain_http` is for the managed
/// identity endpoints, which are plain http by design.
pub fn check(u: &url::Url, allow_plain_http: bool) -> Result<(), Refusal> {
    check_parts(u.scheme(), u.host_str().unwrap_or(""), allow_plain_http)
}

/// [`check`] for a scheme and a host (no port; IPv6 brackets allowed) given
/// apart, as git's credential requests give them.
pub fn check_parts(scheme: &str, host: &str, allow_plain_http: bool) -> Result<(), Refusal> {
    match scheme {
        "https" if !host.is_empty() => Ok(()),
        "https" => Err(Refusal::NoHost),
        "http" if host.is_empty() => Err(Refusal::NoHost),
        "http" if allow_plain_http || is_loopback_host(host) => Ok(()),
        "http" => Err(Refusal::PlainHttp(host.to_string())),
        s => Err(Refusal::Scheme(s.to_string())),
    }
}

/// The scheme to use for `host` when none is given (docker registries):
/// `http` on loopback, `https` everywhere else.
pub fn scheme_for(host: &str) -> &'static str {
    if is_loopback_host(host) {
        "http"
    } else {
        "https"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> url::Url {
        url::Url::parse(s).expect("url")
    }

    #[test]
    fn rule() {
        assert!(check(&u("https://login.microsoftonline.com/x"), false).is_ok());
        assert!(check(&u("http://127.0.0.1:1/x"), false).is_ok());
        assert!(check(&u("http://127.9.9.9/x"), false).is_ok());
        assert!(check(&u("http://localhost:1/x"), false).is_ok());
        assert!(check(&u("http://[::1]:1/x"), false).is_ok());
        assert_eq!(
            check(&u("http://example.com/x"), false),
            Err(Refusal::PlainHttp("example.com".into()))
        );
        assert!(check(&u("http://10.0.0.1/x"), false).is_err());
        assert!(check(&u("http://169.254.169.254/x"), true).is_ok());
        assert!(check(&u("file:///etc/passwd"), true).is_err());
        assert!(check(&u("ftp://x/"), false).is_err());
        assert_eq!(scheme_for("127.0.0.1"), "http");
        assert_eq!(scheme_for("r.azurecr.io"), "https");
        assert!(!is_loopback_host("localhost.example.com"));
    }
}
