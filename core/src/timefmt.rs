//! Time: the clock and RFC 3339 formatting (UTC, `Z`).

use std::time::{SystemTime, UNIX_EPOCH};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Now, as POSIX seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// POSIX seconds as RFC 3339 in UTC with a `Z`, e.g. `2026-11-21T19:59:10Z`.
pub fn rfc3339(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}

/// The latest expiry taken from a server: 9999-12-31T23:59:59Z.
pub const MAX_EXPIRY: i64 = 253_402_300_799;

/// An expiry read from a server (a JWT's `exp`, `expires_on`), clamped to
/// `0..=MAX_EXPIRY`: arithmetic with the clock (`expires_on - now`) can then
/// never overflow, and a negative value is simply expired.
pub fn clamp_expiry(secs: i64) -> i64 {
    secs.clamp(0, MAX_EXPIRY)
}

/// Parses RFC 3339 (any offset) to POSIX seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    OffsetDateTime::parse(s.trim(), &Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// A duration in words, for people: `59m 12s`, `2h 3m`, `expired 4m ago`.
pub fn human_remaining(secs: i64) -> String {
    if secs < 0 {
        return format!("expired {} ago", human_remaining(-secs));
    }
    let (d, h, m, s) = (
        secs / 86400,
        secs % 86400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {s}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_z() {
        assert_eq!(rfc3339(1795291150), "2026-11-21T19:59:10Z");
        assert_eq!(parse_rfc3339("2026-11-21T21:59:10+02:00"), Some(1795291150));
        assert_eq!(parse_rfc3339("2026-11-21T19:59:10Z"), Some(1795291150));
        assert_eq!(parse_rfc3339("garbage"), None);
    }

    #[test]
    fn expiry_clamp() {
        assert_eq!(clamp_expiry(i64::MIN), 0);
        assert_eq!(clamp_expiry(i64::MAX), MAX_EXPIRY);
        assert_eq!(rfc3339(MAX_EXPIRY), "9999-12-31T23:59:59Z");
        assert_eq!(clamp_expiry(1795291150), 1795291150);
    }

    #[test]
    fn human() {
        assert_eq!(human_remaining(3552), "59m 12s");
        assert_eq!(human_remaining(-30), "expired 30s ago");
        assert_eq!(human_remaining(90000), "1d 1h");
    }
}
