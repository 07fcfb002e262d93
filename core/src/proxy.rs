//! Which proxy a request goes through, decided in one place.
//!
//! The rules are those of curl and of `reqwest`'s defaults: `HTTPS_PROXY` /
//! `https_proxy` for `https` URLs, `HTTP_PROXY` / `http_proxy` for `http` ones
//! (ignored when `REQUEST_METHOD` is set, as in a CGI script), then `ALL_PROXY`
//! / `all_proxy`; `NO_PROXY` / `no_proxy` lists hosts that go direct (`*`, a
//! domain and its subdomains, an IP address, or a CIDR range). entra-cred hands
//! this same decision to the HTTP client ([`crate::http`]), so that an error
//! can name the proxy that failed instead of the host behind it.
//!
//! Loopback hosts and the local identity endpoints (IMDS, App Service, Cloud
//! Shell, Azure Arc) never use a proxy: the HTTP layer sends them on a client
//! without one.

use std::net::IpAddr;

/// A proxy chosen for a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyChoice {
    /// The proxy's URL, as configured (credentials included: never show it, see [`ProxyChoice::shown`]).
    pub url: url::Url,
    /// The variable it came from (`HTTPS_PROXY`, ...).
    pub var: &'static str,
}

impl ProxyChoice {
    /// `scheme://host:port` of the proxy, without credentials.
    pub fn address(&self) -> String {
        let host = self.url.host_str().unwrap_or("");
        match self.url.port_or_known_default() {
            Some(p) => format!("{}://{host}:{p}", self.url.scheme()),
            None => format!("{}://{host}", self.url.scheme()),
        }
    }

    /// [`ProxyChoice::address`] and the variable, for messages.
    pub fn shown(&self) -> String {
        format!("{} ({})", self.address(), self.var)
    }
}

fn first_env(names: &[&'static str]) -> Option<(String, &'static str)> {
    names.iter().find_map(|n| {
        std::env::var(n)
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .map(|v| (v, *n))
    })
}

/// The proxy for `url` from the environment, `None` for a direct connection.
pub fn for_url(url: &url::Url) -> Option<ProxyChoice> {
    let env = |names: &[&'static str]| first_env(names);
    choose(url, &env)
}

/// The proxy entra-cred's HTTP client sends a request for `url` through: `None` for a loopback
/// host (always direct) and otherwise [`for_url`]. (The local identity endpoints are sent
/// direct by the HTTP layer whatever their host.)
pub fn in_effect(url: &url::Url) -> Option<ProxyChoice> {
    if crate::net::is_loopback_host(url.host_str()?) {
        return None;
    }
    for_url(url)
}

/// Looks up the first of some variables that is set: its value and its name.
pub type EnvLookup<'a> = &'a dyn Fn(&[&'static str]) -> Option<(String, &'static str)>;

/// [`for_url`] with the environment given (tests).
pub fn choose(url: &url::Url, env: EnvLookup<'_>) -> Option<ProxyChoice> {
    let host = url.host_str()?;
    if let Some((list, _)) = env(&["NO_PROXY", "no_proxy"]) {
        if no_proxy_matches(&list, host) {
            return None;
        }
    }
    let cgi = env(&["REQUEST_METHOD"]).is_some();
    let (raw, var) = match url.scheme() {
        "https" => env(&["HTTPS_PROXY", "https_proxy"]),
        "http" if !cgi => env(&["HTTP_PROXY", "http_proxy"]),
        _ => None,
    }
    .or_else(|| env(&["ALL_PROXY", "all_proxy"]))?;
    // `proxy:3128` (no scheme) means http://proxy:3128, as curl reads it.
    let with_scheme = if raw.contains("://") {
        raw
    } else {
        format!("http://{raw}")
    };
    let url = url::Url::parse(&with_scheme).ok()?;
    url.host_str()?;
    Some(ProxyChoice { url, var })
}

/// Whether `host` is listed in a `NO_PROXY` value.
pub fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = host.parse::<IpAddr>().ok();
    list.split(',').map(str::trim).any(|entry| {
        if entry.is_empty() {
            return false;
        }
        if entry == "*" {
            return true;
        }
        if let Some(ip) = ip {
            return ip_matches(entry, ip);
        }
        let d = entry.trim_start_matches('.');
        !d.is_empty()
            && (host.eq_ignore_ascii_case(d)
                || (host.len() > d.len()
                    && host[host.len() - d.len()..].eq_ignore_ascii_case(d)
                    && host.as_bytes()[host.len() - d.len() - 1] == b'.'))
    })
}

fn ip_matches(entry: &str, ip: IpAddr) -> bool {
    let (addr, bits) = match entry.split_once('/') {
        Some((a, b)) => match b.parse::<u32>() {
            Ok(b) => (a, Some(b)),
            Err(_) => return false,
        },
        None => (entry, None),
    };
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    let Ok(net) = addr.parse::<IpAddr>() else {
        return false;
    };
    match (net, ip, bits) {
        (n, i, None) => n == i,
        (IpAddr::V4(n), IpAddr::V4(i), Some(b)) if b <= 32 => {
            let mask = if b == 0 { 0 } else { u32::MAX << (32 - b) };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i), Some(b)) if b <= 128 => {
            let mask = if b == 0 { 0 } else { u128::MAX << (128 - b) };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_rules_doctor_relied_on() {
        assert!(no_proxy_matches("*", "a.example"));
        assert!(no_proxy_matches("example.com", "login.example.com"));
        assert!(no_proxy_matches(".example.com", "example.com"));
        assert!(!no_proxy_matches("example.com", "notexample.com"));
        assert!(no_proxy_matches("169.254.0.0/16", "169.254.169.254"));
        assert!(no_proxy_matches(" 169.254.169.254 ", "169.254.169.254"));
        assert!(!no_proxy_matches("10.0.0.0/8", "169.254.169.254"));
    }

    fn env_of(
        pairs: &'static [(&'static str, &'static str)],
    ) -> impl Fn(&[&'static str]) -> Option<(String, &'static str)> {
        move |names: &[&'static str]| {
            names.iter().find_map(|n| {
                pairs
                    .iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| (v.to_string(), *n))
            })
        }
    }

    fn u(s: &str) -> url::Url {
        url::Url::parse(s).expect("url")
    }

    #[test]
    fn chooses_by_scheme_and_no_proxy() {
        let env = env_of(&[
            ("HTTPS_PROXY", "http://user:pw@proxy.example:3128"),
            ("http_proxy", "plain.example:8080"),
            ("NO_PROXY", "internal.example, .corp.example,10.0.0.0/8,::1"),
        ]);
        let p = choose(&u("https://login.microsoftonline.com/x"), &env).expect("proxy");
        assert_eq!(p.var, "HTTPS_PROXY");
        assert_eq!(p.shown(), "http://proxy.example:3128 (HTTPS_PROXY)");
        assert!(!p.shown().contains("pw"));
        let p = choose(&u("http://a.example/x"), &env).expect("proxy");
        assert_eq!(p.var, "http_proxy");
        assert_eq!(p.url.host_str(), Some("plain.example"));
        for direct in [
            "https://internal.example/",
            "https://a.internal.example/",
            "https://corp.example/",
            "https://x.corp.example/",
            "https://10.1.2.3/",
            "http://[::1]:8/",
        ] {
            assert_eq!(choose(&u(direct), &env), None, "{direct}");
        }
        assert!(choose(&u("https://notinternal.example/"), &env).is_some());
        assert!(choose(&u("https://11.1.2.3/"), &env).is_some());
        let cgi = env_of(&[("HTTP_PROXY", "p:1"), ("REQUEST_METHOD", "GET")]);
        assert_eq!(choose(&u("http://a.example/"), &cgi), None);
        let all = env_of(&[("ALL_PROXY", "socks5://s:1080"), ("NO_PROXY", "*")]);
        assert_eq!(choose(&u("https://a.example/"), &all), None);
        let all = env_of(&[("ALL_PROXY", "socks5://s:1080")]);
        assert_eq!(
            choose(&u("https://a.example/"), &all).map(|p| p.var),
            Some("ALL_PROXY")
        );
        assert_eq!(choose(&u("https://a.example/"), &env_of(&[])), None);
    }

    #[test]
    fn no_proxy_edge_cases() {
        assert!(!no_proxy_matches("", "a.example"));
        assert!(!no_proxy_matches(".", "a.example"));
        assert!(!no_proxy_matches("example", "aexample"));
        assert!(no_proxy_matches("0.0.0.0/0", "1.2.3.4"));
        assert!(!no_proxy_matches("1.2.3.4/99", "1.2.3.4"));
        assert!(!no_proxy_matches("1.2.3.4/x", "1.2.3.4"));
        assert!(no_proxy_matches("[fe80::]/10", "[fe80::1]"));
    }
}
