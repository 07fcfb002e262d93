//! The one host normaliser: how a host from a git request, a docker server, a Cargo index, a
//! command line or a `*_hosts` list is taken apart and compared.
//!
//! - [`HostPort::parse`] reads `host`, `host:port`, `[v6]:port` or a URL (`scheme://`, userinfo
//!   and path dropped) into a lower-case host without a trailing dot, IPv6 in brackets, and a
//!   port (1-65535) when one is given; `None` when no valid host name or address is there.
//! - [`HostPort::matches`] / [`listed`] are the one "is this host in that list" rule: an entry
//!   without a port names the host on any port, `host:port` that port only.
//! - [`bare_host`] is the borrowing view for callers that only drop the port of a host they
//!   already trust the shape of (loopback checks, organisation names).
//!
//! Which hosts are served is decided in [`crate::hosts`] on top of this.

/// A host and its port, normalised (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HostPort {
    /// Lower-case host name or IP address without a trailing dot (IPv6 in brackets, `[::1]`).
    pub host: String,
    /// Port, when given.
    pub port: Option<u16>,
}

impl HostPort {
    /// Normalises `s`: `host[:port]` or a URL (`myreg.azurecr.io`,
    /// `https://MyReg.azurecr.io/v2/`, `myreg.azurecr.io/repo`, `127.0.0.1:5000`,
    /// `[::1]:5000`, `https://user@host/x`). `None` when no valid host can be read from it
    /// (empty, a bad port, a character no host name has, an IPv6 address without brackets).
    pub fn parse(s: &str) -> Option<HostPort> {
        let s = s.trim();
        // Scheme (any `x://`).
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
        // Userinfo: the host is what follows the last '@'.
        let authority = rest[..end].rsplit('@').next().unwrap_or("");
        let (host, port) = split_port(authority)?;
        let port = match port {
            Some(p) => Some(parse_port(p)?),
            None => None,
        };
        let host = host.to_ascii_lowercase();
        let host = host.strip_suffix('.').unwrap_or(&host);
        valid_host(host).then(|| HostPort {
            host: host.to_string(),
            port,
        })
    }

    /// `host[:port]`.
    pub fn name(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }

    /// Whether the host is a loopback address or `localhost`.
    pub fn is_loopback(&self) -> bool {
        crate::net::is_loopback_host(&self.host)
    }

    /// The URL scheme to use when none is given: `http` on loopback, `https` everywhere else.
    pub fn scheme(&self) -> &'static str {
        crate::net::scheme_for(&self.host)
    }

    /// `<scheme>://host[:port]`.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme(), self.name())
    }

    /// Whether the port is https' own: none given, or 443.
    pub fn on_https_port(&self) -> bool {
        matches!(self.port, None | Some(443))
    }

    /// Whether `entry` names this host: the same host, and the same port when the entry has
    /// one (an entry without a port matches any port).
    pub fn matches(&self, entry: &HostPort) -> bool {
        entry.host == self.host && (entry.port.is_none() || entry.port == self.port)
    }

    /// Whether one of `entries` (`host`, `host:port` or a URL each; unreadable ones match
    /// nothing) names this host.
    pub fn listed_in(&self, entries: &[String]) -> bool {
        entries
            .iter()
            .any(|e| HostPort::parse(e).is_some_and(|e| self.matches(&e)))
    }
}

/// Whether `host` (`host[:port]`, or a URL) is named by one of `entries` (see
/// [`HostPort::matches`]); `false` when `host` cannot be read.
pub fn listed(host: &str, entries: &[String]) -> bool {
    HostPort::parse(host).is_some_and(|h| h.listed_in(entries))
}

/// `host` without its `:port`, brackets kept for IPv6 (`[::1]:8080` → `[::1]`,
/// `h:80` → `h`, `h` → `h`), as given otherwise (no lower-casing). Only a run of digits after
/// the `:` is a port; anything else (`h:abc`, an unbracketed IPv6 address such as `::1`,
/// `[::1]x`) is returned whole, so that it is never mistaken for a shorter host.
pub fn bare_host(host: &str) -> &str {
    match split_port(host) {
        Some((h, None)) => h,
        Some((h, Some(p))) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// `host[:port]` into the host (brackets kept) and the text after its `:`, unchecked; `None`
/// when it has neither shape (`[::1`, `[::1]x`). The one place a host is cut from its port:
/// [`HostPort::parse`] and [`bare_host`] build on it, and `doctor` uses it for git's
/// `credential.<url>` patterns, whose hosts may hold `*` globs.
pub fn split_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let close = authority.find(']')?;
        let (host, after) = authority.split_at(close + 1);
        return match after {
            "" => Some((host, None)),
            p => Some((host, Some(p.strip_prefix(':')?))),
        };
    }
    Some(match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    })
}

/// A port: 1 to 5 digits, 1-65535.
fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse::<u16>().ok().filter(|n| *n != 0)
}

/// A DNS name (labels of letters, digits, `-`, `_`; no empty label) or an IP address (IPv6 in
/// brackets).
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

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Option<String> {
        HostPort::parse(s).map(|h| h.name())
    }

    #[test]
    fn ports_come_off_nothing_else_does() {
        for (input, want) in [
            ("[::1]:80", "[::1]"),
            ("[::1]", "[::1]"),
            ("[::1]:", "[::1]"),
            ("[::1", "[::1"),
            ("[::1]x", "[::1]x"),
            ("h:80", "h"),
            ("h:", "h"),
            ("h", "h"),
            ("H:80", "H"),
            ("localhost:abc", "localhost:abc"),
            ("127.0.0.1:1:2", "127.0.0.1:1:2"),
            ("::1", "::1"),
            ("", ""),
        ] {
            assert_eq!(bare_host(input), want, "{input:?}");
        }
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
            ("[::1]", "[::1]"),
            ("https://[::1]/v2/", "[::1]"),
            ("https://user@myreg.azurecr.io/x", "myreg.azurecr.io"),
            ("myreg.azurecr.io?x=1", "myreg.azurecr.io"),
            ("Dev.Azure.com:443", "dev.azure.com:443"),
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
            "::1",
            "h:abc",
            "ht tp://x.azurecr.io",
            "é.azurecr.io",
        ] {
            assert_eq!(n(input), None, "{input:?}");
        }
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
            let _ = HostPort::parse(s);
            let _ = bare_host(s);
        }
    }

    #[test]
    fn lists_name_a_host_or_a_host_and_port() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let entries = l(&[
            "127.0.0.1:5000",
            "Reg.Example",
            "[::1]",
            "https://u.example:8443/",
        ]);
        for (host, want) in [
            ("127.0.0.1:5000", true),
            ("http://127.0.0.1:5000/v2/", true),
            ("127.0.0.1:5001", false),
            ("127.0.0.1", false),
            ("localhost:5000", false),
            ("reg.example", true),
            ("REG.example:8443/app", true),
            ("reg.example.", true),
            ("sub.reg.example", false),
            ("reg.example.evil", false),
            ("[::1]:9", true),
            ("[::2]", false),
            ("u.example:8443", true),
            ("u.example", false),
            ("not a host", false),
        ] {
            assert_eq!(listed(host, &entries), want, "{host:?}");
        }
        assert!(!listed("reg.example", &l(&["::::", "", " "])));
    }

    #[test]
    fn schemes() {
        for (host, want) in [
            ("127.0.0.1:5000", "http://127.0.0.1:5000"),
            ("http://r.azurecr.io", "https://r.azurecr.io"),
            (
                "localhost.evil.example:1",
                "https://localhost.evil.example:1",
            ),
            ("[::1]:8", "http://[::1]:8"),
            ("[2001:db8::1]", "https://[2001:db8::1]"),
        ] {
            let h = HostPort::parse(host).expect("valid");
            assert_eq!(h.base_url(), want, "{host}");
        }
    }
}
