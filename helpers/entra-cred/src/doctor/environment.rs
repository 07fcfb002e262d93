//! The environment: the proxy in effect for the authority (read the way entra-cred's HTTP client
//! reads it: `HTTPS_PROXY`/`https_proxy`, else `ALL_PROXY`/`all_proxy`, minus `NO_PROXY`;
//! loopback hosts are always reached directly), whether the local identity endpoints are kept off
//! the proxy, custom roots (`SSL_CERT_FILE`, `SSL_CERT_DIR`: when set they *replace* the system
//! roots), and with `--network`: DNS, reachability (TLS for https) and the clock offset against
//! the authority's `Date` header, each bounded to a few seconds.
//!
//! Proxy URLs are shown without their user and password.

use super::{bounded, shown, Check, Ctx};
use entra_cred_core::config::{env_var, is_loopback_host};
use entra_cred_core::http::{Http, Request, RetryPolicy};
use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

const TOOL: &str = "environment";

/// How long each network check may take.
pub const NET_LIMIT: Duration = Duration::from_secs(5);
/// Clock offsets up to this are fine.
pub const CLOCK_OK: i64 = 60;
/// Clock offsets from this on break things: tokens are refreshed 5 minutes before they expire,
/// and Entra accepts client assertions only within a few minutes of its own clock.
pub const CLOCK_FAIL: i64 = 240;

/// A URL's scheme, host (no brackets) and port.
pub fn split(url: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map(|x| x.1).unwrap_or(authority);
    let default = if scheme == "https" { 443 } else { 80 };
    let (host, port) = if let Some(r) = authority.strip_prefix('[') {
        let (h, p) = r.split_once(']')?;
        (
            h.to_string(),
            p.strip_prefix(':').and_then(|p| p.parse().ok()),
        )
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().ok()),
            None => (authority.to_string(), None),
        }
    };
    (!host.is_empty()).then(|| (scheme, host.to_ascii_lowercase(), port.unwrap_or(default)))
}

/// A proxy URL without user and password.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((s, rest)) => {
            let authority = rest.split('/').next().unwrap_or("");
            let hostport = authority.rsplit_once('@').map(|x| x.1).unwrap_or(authority);
            format!("{s}://{hostport}")
        }
        None => {
            let hostport = url.rsplit_once('@').map(|x| x.1).unwrap_or(url);
            hostport.split('/').next().unwrap_or("").to_string()
        }
    }
}

fn first_env(names: &[&'static str]) -> Option<(&'static str, String)> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().map(|v| (*n, v)))
}

/// Whether `NO_PROXY` (`no_proxy`) exempts `host`: `*`, an IP or CIDR, or a domain (with or
/// without a leading dot) that is the host or one of its parents.
pub fn no_proxy_matches(list: &str, host: &str) -> bool {
    let ip: Option<IpAddr> = host.parse().ok();
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|e| {
            if e == "*" {
                return true;
            }
            if let Some(ip) = ip {
                if let Some((net, bits)) = e.split_once('/') {
                    return match (net.parse::<IpAddr>(), bits.parse::<u32>()) {
                        (Ok(IpAddr::V4(n)), Ok(b)) if b <= 32 => match ip {
                            IpAddr::V4(a) => {
                                let mask = if b == 0 { 0 } else { u32::MAX << (32 - b) };
                                u32::from(a) & mask == u32::from(n) & mask
                            }
                            _ => false,
                        },
                        (Ok(IpAddr::V6(n)), Ok(b)) if b <= 128 => match ip {
                            IpAddr::V6(a) => {
                                let mask = if b == 0 { 0 } else { u128::MAX << (128 - b) };
                                u128::from(a) & mask == u128::from(n) & mask
                            }
                            _ => false,
                        },
                        _ => false,
                    };
                }
                return e.trim_matches(['[', ']']).parse::<IpAddr>().ok() == Some(ip);
            }
            let d = e.trim_start_matches('.').to_ascii_lowercase();
            host == d || host.ends_with(&format!(".{d}"))
        })
}

/// The proxy entra-cred's HTTP client uses for `url`: (variable, value), or `None` for a direct
/// connection (loopback, `NO_PROXY`, no variable, or a CGI environment).
pub fn proxy_for(url: &str) -> Option<(&'static str, String)> {
    let (scheme, host, _) = split(url)?;
    if is_loopback_host(&host) || std::env::var_os("REQUEST_METHOD").is_some() {
        return None;
    }
    let parses = |v: &(&'static str, String)| !v.1.trim().is_empty();
    let specific = if scheme == "https" {
        first_env(&["HTTPS_PROXY", "https_proxy"])
    } else {
        first_env(&["HTTP_PROXY", "http_proxy"])
    };
    let chosen = specific
        .filter(parses)
        .or_else(|| first_env(&["ALL_PROXY", "all_proxy"]).filter(parses))?;
    let no = first_env(&["NO_PROXY", "no_proxy"])
        .map(|x| x.1)
        .unwrap_or_default();
    (!no_proxy_matches(&no, &host)).then_some(chosen)
}

/// The environment checks.
pub fn checks(ctx: &Ctx, network: bool) -> Vec<Check> {
    let mut checks = Vec::new();
    let authority = ctx
        .profile
        .as_ref()
        .map(|p| p.authority.clone())
        .unwrap_or_else(|| "https://login.microsoftonline.com".into());
    let proxy = proxy_for(&authority);
    match &proxy {
        Some((var, value)) => checks.push(Check::ok(
            TOOL,
            "proxy",
            format!("{authority} is reached through {} ({var})", redact(value)),
        )),
        None => {
            let (_, host, _) = split(&authority).unwrap_or_default();
            let why = if is_loopback_host(&host) {
                "a loopback host: always direct"
            } else {
                "no proxy variable applies"
            };
            checks.push(Check::ok(
                TOOL,
                "proxy",
                format!("{authority} is reached directly ({why})"),
            ));
        }
    }
    // Local identity endpoints must never go through a proxy.
    let imds = env_var("AZURE_POD_IDENTITY_AUTHORITY_HOST")
        .unwrap_or_else(|| "http://169.254.169.254".into());
    let mut endpoints = vec![("IMDS", imds)];
    for v in ["IDENTITY_ENDPOINT", "MSI_ENDPOINT", "IMDS_ENDPOINT"] {
        if let Some(u) = env_var(v) {
            endpoints.push((v, u));
        }
    }
    let proxied: Vec<String> = endpoints
        .iter()
        .filter_map(|(n, u)| {
            proxy_for(u).map(|(var, _)| format!("{n} ({}) would match {var}", redact(u)))
        })
        .collect();
    if proxied.is_empty() {
        checks.push(Check::ok(
            TOOL,
            "identity endpoints",
            "local identity endpoints (IMDS, App Service, Cloud Shell, Arc) are reached directly",
        ));
    } else {
        let hosts: Vec<String> = endpoints
            .iter()
            .filter_map(|(_, u)| split(u).map(|x| x.1))
            .collect();
        checks.push(Check::warn(
            TOOL,
            "identity endpoints",
            format!(
                "{}: a proxy must never see these requests; list them in NO_PROXY so that every tool keeps them local",
                proxied.join("; ")
            ),
            Some(format!("export NO_PROXY=\"$NO_PROXY,{}\"", hosts.join(","))),
        ));
    }
    checks.push(roots_check());
    if network {
        checks.extend(network_checks(&authority, proxy.as_ref()));
    }
    checks
}

/// `SSL_CERT_FILE` / `SSL_CERT_DIR`: when set, they replace the system roots.
fn roots_check() -> Check {
    let file = std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty());
    let dir = std::env::var_os("SSL_CERT_DIR").filter(|v| !v.is_empty());
    if file.is_none() && dir.is_none() {
        return Check::ok(
            TOOL,
            "TLS roots",
            "the system's trusted roots (SSL_CERT_FILE and SSL_CERT_DIR are not set)",
        );
    }
    let mut certs = 0usize;
    let mut problems = Vec::new();
    if let Some(f) = &file {
        let p = std::path::Path::new(f);
        match std::fs::read(p) {
            Ok(b) => {
                let n = count_pem(&b);
                if n == 0 {
                    problems.push(format!(
                        "SSL_CERT_FILE ({}) holds no PEM certificate",
                        shown(p)
                    ));
                }
                certs += n;
            }
            Err(e) => problems.push(format!(
                "SSL_CERT_FILE ({}) cannot be read: {}",
                shown(p),
                e.kind()
            )),
        }
    }
    if let Some(d) = &dir {
        for p in std::env::split_paths(d) {
            match std::fs::read_dir(&p) {
                Ok(rd) => {
                    for e in rd.flatten().take(2000) {
                        if let Ok(b) = std::fs::read(e.path()) {
                            certs += count_pem(&b);
                        }
                    }
                }
                Err(e) => problems.push(format!(
                    "SSL_CERT_DIR entry {} cannot be read: {}",
                    shown(&p),
                    e.kind()
                )),
            }
        }
    }
    let set: Vec<&str> = [
        ("SSL_CERT_FILE", file.is_some()),
        ("SSL_CERT_DIR", dir.is_some()),
    ]
    .iter()
    .filter(|x| x.1)
    .map(|x| x.0)
    .collect();
    if certs == 0 {
        Check::fail(
            TOOL,
            "TLS roots",
            format!(
                "{} replace the system roots, and no certificate was found: every https request fails ({})",
                set.join(" and "),
                problems.join("; ")
            ),
            Some(format!("unset {}, or point it at a PEM bundle", set.join(" "))),
        )
    } else if !problems.is_empty() {
        Check::warn(
            TOOL,
            "TLS roots",
            format!(
                "{certs} certificates from {}; {}",
                set.join(" and "),
                problems.join("; ")
            ),
            None,
        )
    } else {
        Check::ok(
            TOOL,
            "TLS roots",
            format!(
                "{certs} certificates from {} (they replace the system roots)",
                set.join(" and ")
            ),
        )
    }
}

fn count_pem(b: &[u8]) -> usize {
    String::from_utf8_lossy(b)
        .matches("-----BEGIN CERTIFICATE-----")
        .count()
}

/// What a proxy answered to `CONNECT host:port`: `Ok(true)` when it opened the tunnel,
/// `Ok(false)` when it was not asked (an https or socks proxy: the request below tells).
fn connect_probe(proxy: &str, host: &str, port: u16) -> Result<bool, String> {
    let (_, phost, pport) = split(
        if proxy.contains("://") {
            proxy.to_string()
        } else {
            format!("http://{proxy}")
        }
        .as_str(),
    )
    .ok_or_else(|| "the proxy variable is not a URL".to_string())?;
    if proxy.contains("://") && !proxy.starts_with("http://") {
        return Ok(false);
    }
    let start = Instant::now();
    let addrs: Vec<_> = (phost.as_str(), pport)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve the proxy {phost}: {}", e.kind()))?
        .collect();
    let mut last = String::from("no address");
    for a in addrs {
        let left = NET_LIMIT.saturating_sub(start.elapsed());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&a, left) {
            Ok(mut s) => {
                let _ = s.set_read_timeout(Some(NET_LIMIT));
                let _ = s.set_write_timeout(Some(NET_LIMIT));
                let target = if host.contains(':') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                };
                let req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n");
                s.write_all(req.as_bytes())
                    .map_err(|e| format!("the proxy closed the connection ({})", e.kind()))?;
                let mut buf = [0u8; 256];
                let n = s
                    .read(&mut buf)
                    .map_err(|e| format!("the proxy did not answer CONNECT ({})", e.kind()))?;
                let head = String::from_utf8_lossy(&buf[..n]);
                let status = head
                    .lines()
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .to_string();
                return if status.starts_with('2') {
                    Ok(true)
                } else if status.is_empty() {
                    Err("the proxy closed the connection without answering CONNECT".into())
                } else {
                    Err(format!("the proxy answered HTTP {status} to CONNECT {target}: it does not let entra-cred through"))
                };
            }
            Err(e) => last = format!("cannot connect to the proxy ({})", e.kind()),
        }
    }
    Err(last)
}

/// `Date` header → POSIX seconds.
fn parse_http_date(v: &str) -> Option<i64> {
    time::OffsetDateTime::parse(v.trim(), &time::format_description::well_known::Rfc2822)
        .ok()
        .map(|t| t.unix_timestamp())
}

fn network_checks(authority: &str, proxy: Option<&(&'static str, String)>) -> Vec<Check> {
    let mut checks = Vec::new();
    let Some((scheme, host, port)) = split(authority) else {
        return checks;
    };
    let (var_fix, proxy_shown) = match proxy {
        Some((var, v)) => (*var, redact(v)),
        None => ("", String::new()),
    };
    // DNS: only without a proxy (with one, the proxy resolves the name).
    if proxy.is_none() && host.parse::<IpAddr>().is_err() {
        let h = host.clone();
        match bounded(NET_LIMIT, move || {
            (h.as_str(), port).to_socket_addrs().map(|a| a.count())
        }) {
            Some(Ok(n)) if n > 0 => checks.push(Check::ok(
                TOOL,
                "DNS",
                format!("{host} resolves ({n} addresses)"),
            )),
            Some(Ok(_)) | Some(Err(_)) => {
                checks.push(Check::fail(
                    TOOL,
                    "DNS",
                    format!("{host} does not resolve: every sign-in and refresh fails"),
                    Some("check the DNS settings (resolvectl status), or set HTTPS_PROXY if this network needs a proxy".into()),
                ));
                return checks;
            }
            None => {
                checks.push(Check::fail(
                    TOOL,
                    "DNS",
                    format!("resolving {host} took more than {} s", NET_LIMIT.as_secs()),
                    Some("check the DNS settings (resolvectl status)".into()),
                ));
                return checks;
            }
        }
    }
    if let Some((_, value)) = proxy {
        let (v, h) = (value.clone(), host.clone());
        match bounded(NET_LIMIT + Duration::from_secs(1), move || {
            connect_probe(&v, &h, port)
        }) {
            Some(Ok(false)) => {}
            Some(Ok(true)) => checks.push(Check::ok(
                TOOL,
                "proxy",
                format!("{proxy_shown} tunnels to {host}:{port}"),
            )),
            Some(Err(e)) => {
                checks.push(Check::fail(
                    TOOL,
                    "proxy",
                    format!("{proxy_shown} ({var_fix}) blocks {host}: {e}"),
                    Some(format!(
                        "ask for {host} to be allowed through the proxy, or fix {var_fix}; if {host} is reachable directly: export NO_PROXY=\"$NO_PROXY,{host}\""
                    )),
                ));
                return checks;
            }
            None => {
                checks.push(Check::fail(
                    TOOL,
                    "proxy",
                    format!(
                        "{proxy_shown} ({var_fix}) did not answer within {} s",
                        NET_LIMIT.as_secs()
                    ),
                    Some(format!("check {var_fix}")),
                ));
                return checks;
            }
        }
    }
    // Reachability (TLS for https) and the clock, with the client the helpers use.
    let url = format!("{authority}/organizations/v2.0/.well-known/openid-configuration");
    let what = if scheme == "https" {
        "TLS"
    } else {
        "HTTP (loopback, no TLS)"
    };
    let sent = entra_cred_core::timefmt::now();
    let t0 = Instant::now();
    let answer = bounded(NET_LIMIT + Duration::from_secs(1), move || {
        Http::new()
            .send(&Request::get(url), &RetryPolicy::none(NET_LIMIT))
            .map(|r| (r.status, r.header("date").map(str::to_string)))
            .map_err(|e| e.to_string())
    });
    let rtt = t0.elapsed();
    match answer {
        Some(Ok((status, date))) => {
            checks.push(Check::ok(
                TOOL,
                "reachability",
                format!("{what} to {host}:{port} works (HTTP {status} in {} ms)", rtt.as_millis()),
            ));
            match date.as_deref().and_then(parse_http_date) {
                Some(server) => {
                    // The server's clock at the middle of the round trip.
                    let local = sent + (rtt.as_secs_f64() / 2.0).round() as i64;
                    let offset = local - server;
                    let said = if offset == 0 {
                        "in step with".to_string()
                    } else {
                        format!(
                            "{} {} {}",
                            shown_offset(offset.abs()),
                            if offset > 0 { "ahead of" } else { "behind" },
                            ""
                        )
                        .trim_end()
                        .to_string()
                    };
                    let detail = format!("this machine's clock is {said} {host}'s (Date header)");
                    let fix = Some(clock_fix());
                    checks.push(if offset.abs() >= CLOCK_FAIL {
                        Check::fail(TOOL, "clock", format!("{detail}: tokens are used after they expire and client assertions are refused"), fix)
                    } else if offset.abs() >= CLOCK_OK {
                        Check::warn(TOOL, "clock", detail, fix)
                    } else {
                        Check::ok(TOOL, "clock", detail)
                    });
                }
                None => checks.push(Check::warn(
                    TOOL,
                    "clock",
                    format!("{host} sent no Date header: the clock offset is unknown"),
                    None,
                )),
            }
        }
        Some(Err(e)) => checks.push(Check::fail(
            TOOL,
            "reachability",
            format!("{what} to {host}:{port} fails: {e}"),
            Some(if scheme == "https" {
                "if a TLS-inspecting proxy sits in between, point SSL_CERT_FILE at a bundle with its root".to_string()
            } else {
                format!("check that {host}:{port} is up")
            }),
        )),
        None => checks.push(Check::fail(
            TOOL,
            "reachability",
            format!("{host}:{port} did not answer within {} s", NET_LIMIT.as_secs()),
            Some("check the firewall or proxy settings (HTTPS_PROXY, NO_PROXY)".into()),
        )),
    }
    checks
}

/// An offset as shown: a `Date` header has whole seconds and the round trip adds its own
/// half, so from a minute on the offset is rounded to whole minutes ("about 5m"): a clock
/// 300 s off measures 299 to 301 s, and "4m 59s" would claim a precision the check lacks.
fn shown_offset(abs: i64) -> String {
    if abs < 60 {
        return entra_cred_core::timefmt::human_remaining(abs);
    }
    let minutes = (abs + 30) / 60;
    if minutes < 60 {
        format!("about {minutes}m")
    } else {
        format!(
            "about {}",
            entra_cred_core::timefmt::human_remaining(minutes * 60)
        )
    }
}

fn clock_fix() -> String {
    if cfg!(target_os = "macos") {
        "sudo sntp -sS time.apple.com".into()
    } else if cfg!(windows) {
        "w32tm /resync".into()
    } else {
        "sudo timedatectl set-ntp true".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_a_second_either_side_of_five_minutes_read_the_same() {
        for secs in [299, 300, 301] {
            assert_eq!(shown_offset(secs), "about 5m", "{secs}");
        }
        assert_eq!(shown_offset(59), "59s");
        assert_eq!(shown_offset(7200), "about 2h 0m");
    }

    #[test]
    fn urls() {
        assert_eq!(
            split("https://login.microsoftonline.com"),
            Some(("https".into(), "login.microsoftonline.com".into(), 443))
        );
        assert_eq!(
            split("http://127.0.0.1:8080/x"),
            Some(("http".into(), "127.0.0.1".into(), 8080))
        );
        assert_eq!(
            split("http://[::1]:9"),
            Some(("http".into(), "::1".into(), 9))
        );
        assert_eq!(
            redact("http://user:pw@proxy.example:3128/"),
            "http://proxy.example:3128"
        );
        assert_eq!(redact("user:pw@proxy:3128"), "proxy:3128");
    }

    #[test]
    fn no_proxy_rules() {
        assert!(no_proxy_matches("*", "a.example"));
        assert!(no_proxy_matches("example.com", "login.example.com"));
        assert!(no_proxy_matches(".example.com", "example.com"));
        assert!(!no_proxy_matches("example.com", "notexample.com"));
        assert!(no_proxy_matches("169.254.0.0/16", "169.254.169.254"));
        assert!(no_proxy_matches(" 169.254.169.254 ", "169.254.169.254"));
        assert!(!no_proxy_matches("10.0.0.0/8", "169.254.169.254"));
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(1445412480)
        );
        assert_eq!(parse_http_date("soon"), None);
    }
}
