//! The one rule for taking a `host[:port]` apart: the host without its port.
//!
//! Used wherever a host from a URL, a git request or a command line is compared or checked
//! for loopback (Azure Repos host matching, `setup git --host`).

/// `host` without its `:port`, brackets kept for IPv6 (`[::1]:8080` → `[::1]`,
/// `h:80` → `h`, `h` → `h`). Only a run of digits after the last `:` is a port, and only
/// when the rest has no other `:`; anything else (`h:abc`, an unbracketed IPv6 address
/// such as `::1`) is returned whole, so that it is never mistaken for a shorter host.
pub fn bare_host(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(i) => &host[..=i],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::bare_host;

    #[test]
    fn ports_come_off_nothing_else_does() {
        assert_eq!(bare_host("[::1]:80"), "[::1]");
        assert_eq!(bare_host("[::1]"), "[::1]");
        assert_eq!(bare_host("[::1"), "[::1");
        assert_eq!(bare_host("h:80"), "h");
        assert_eq!(bare_host("h:"), "h");
        assert_eq!(bare_host("h"), "h");
        assert_eq!(bare_host("localhost:abc"), "localhost:abc");
        assert_eq!(bare_host("127.0.0.1:1:2"), "127.0.0.1:1:2");
        assert_eq!(bare_host("::1"), "::1");
        assert_eq!(bare_host(""), "");
    }
}
