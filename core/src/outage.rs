//! A short memory of endpoints that are down, so that a helper run in a loop
//! does not make the person wait a whole time budget on every call.
//!
//! kubectl runs its exec plugin once for every API request it cannot
//! authenticate, git runs its helper for every remote, scripts retry: with
//! Entra unreachable, each call would spend all of `ENTRA_CRED_HTTP_TIMEOUT`
//! retrying. So when a request has failed for a reason retrying could have
//! healed (refused or reset connections, timeouts, a DNS server that did not
//! answer) and retrying did not, the HTTP layer writes
//! `<cache>/network/<hash of endpoint and proxy>.json` (0600: the endpoint
//! `scheme://host:port`, the proxy's `scheme://host:port`, when it failed and
//! the one-line reason; never a path, query, header or body). Then, for a
//! request to the same endpoint through the same proxy:
//!
//! - within [`SKIP_FOR`] seconds of the last failure: no request at all, the
//!   same failure at once (exit 5, saying when it failed and why);
//! - within [`QUICK_FOR`] seconds: one attempt, no retries, at most
//!   [`QUICK_TRY`] long; its failure renews the memory, any answer clears it;
//! - later: the memory is ignored and the next failure rewrites it.
//!
//! A failure that retrying cannot heal (no such host, an untrusted
//! certificate, an HTTP error) is reported at once anyway and is not
//! remembered. Deleting the directory forgets everything. See
//! docs/failures.md for why these numbers.

use crate::cache::file;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Seconds after a failure during which the endpoint is not asked at all.
pub const SKIP_FOR: i64 = 10;
/// Seconds after a failure during which one quick attempt is made, without retries.
pub const QUICK_FOR: i64 = 120;
/// Longest a quick attempt may take.
pub const QUICK_TRY: Duration = Duration::from_secs(3);

/// What is remembered about an endpoint that failed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Outage {
    /// `scheme://host:port` of the endpoint.
    pub endpoint: String,
    /// `scheme://host:port` of the proxy used, when one was.
    #[serde(default)]
    pub proxy: Option<String>,
    /// When it first failed in this run of failures (POSIX seconds).
    pub since: i64,
    /// When it last failed.
    pub last: i64,
    /// The last failure, one line (no secrets: built from the endpoint and the error kind).
    pub reason: String,
}

/// What to do about a request, given the memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advice {
    /// Nothing remembered: the usual retries within the budget.
    Normal,
    /// Failed a moment ago: one quick attempt without retries.
    QuickTry(Outage),
    /// Failed just now: no request, the same failure.
    Skip(Outage),
}

/// The memory in one directory.
#[derive(Debug, Clone)]
pub struct Memory {
    dir: Option<PathBuf>,
}

impl Memory {
    /// The memory in `<cache>/network` (nothing when the cache directory is unknown or relative).
    pub fn from_env() -> Memory {
        Memory::at(
            crate::paths::cache_dir()
                .filter(|d| d.is_absolute())
                .map(|d| d.join("network")),
        )
    }

    /// The memory in `dir` (`None`: remember nothing).
    pub fn at(dir: Option<PathBuf>) -> Memory {
        Memory { dir }
    }

    fn path(&self, endpoint: &str, proxy: Option<&str>) -> Option<PathBuf> {
        let key = format!("{endpoint}\n{}", proxy.unwrap_or(""));
        Some(
            self.dir
                .as_ref()?
                .join(format!("{}.json", crate::cache::short_hash(&key))),
        )
    }

    /// What to do for a request to `endpoint` through `proxy` at `now`.
    pub fn advice(&self, endpoint: &str, proxy: Option<&str>, now: i64) -> Advice {
        let Some(path) = self.path(endpoint, proxy) else {
            return Advice::Normal;
        };
        if !path.exists() {
            return Advice::Normal;
        }
        let Some(o) = file::read_json::<Outage>(&path) else {
            return Advice::Normal;
        };
        if o.endpoint != endpoint || o.proxy.as_deref() != proxy || o.last > now {
            // Another endpoint's file (a hash collision) or a clock that went back.
            return Advice::Normal;
        }
        advice_for(o, now)
    }

    /// Remembers a failure of `endpoint` that retrying did not heal.
    pub fn record(&self, endpoint: &str, proxy: Option<&str>, reason: &str, now: i64) {
        let Some(path) = self.path(endpoint, proxy) else {
            return;
        };
        let since = file::read_json::<Outage>(&path)
            .filter(|o| o.endpoint == endpoint && o.last <= now && now - o.last < QUICK_FOR)
            .map(|o| o.since)
            .unwrap_or(now);
        let o = Outage {
            endpoint: endpoint.to_string(),
            proxy: proxy.map(str::to_string),
            since,
            last: now,
            reason: crate::error::one_line(reason),
        };
        if let Err(e) = file::write_json(&path, &o) {
            crate::debug!("cannot remember the network failure: {e}");
        }
    }

    /// Forgets `endpoint`'s failure (it answered).
    pub fn clear(&self, endpoint: &str, proxy: Option<&str>) {
        if let Some(path) = self.path(endpoint, proxy) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The advice for a remembered outage at `now`.
pub fn advice_for(o: Outage, now: i64) -> Advice {
    let age = now - o.last;
    if !(0..QUICK_FOR).contains(&age) {
        Advice::Normal
    } else if age < SKIP_FOR {
        Advice::Skip(o)
    } else {
        Advice::QuickTry(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_skips_then_tries_then_forgets() {
        let d = tempfile::tempdir().expect("tempdir");
        let m = Memory::at(Some(d.path().join("network")));
        let ep = "https://login.example:443";
        assert_eq!(m.advice(ep, None, 1000), Advice::Normal);
        m.record(ep, None, "cannot connect: Connection refused", 1000);
        assert!(matches!(m.advice(ep, None, 1005), Advice::Skip(_)));
        // Another proxy, another endpoint: not remembered.
        assert_eq!(m.advice(ep, Some("http://p:1"), 1005), Advice::Normal);
        assert_eq!(m.advice("https://other:443", None, 1005), Advice::Normal);
        match m.advice(ep, None, 1000 + SKIP_FOR) {
            Advice::QuickTry(o) => {
                assert_eq!(o.since, 1000);
                assert_eq!(o.reason, "cannot connect: Connection refused");
            }
            a => panic!("{a:?}"),
        }
        // A failed quick try renews it and keeps `since`.
        m.record(ep, None, "again", 1050);
        match m.advice(ep, None, 1052) {
            Advice::Skip(o) => assert_eq!((o.since, o.last), (1000, 1050)),
            a => panic!("{a:?}"),
        }
        assert_eq!(m.advice(ep, None, 1050 + QUICK_FOR), Advice::Normal);
        // A clock that went back: ignored.
        assert_eq!(m.advice(ep, None, 900), Advice::Normal);
        m.clear(ep, None);
        assert_eq!(m.advice(ep, None, 1051), Advice::Normal);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            m.record(ep, None, "x", 1);
            let f = std::fs::read_dir(d.path().join("network"))
                .expect("dir")
                .flatten()
                .next()
                .expect("file");
            let mode = f.metadata().expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        // No directory: nothing remembered, nothing fails.
        let none = Memory::at(None);
        none.record(ep, None, "x", 1);
        assert_eq!(none.advice(ep, None, 2), Advice::Normal);
    }
}
