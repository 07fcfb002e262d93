//! The IMDS probes and their memo: a short plain-TCP request (no HTTP client,
//! so that a cache hit never builds one) saying whether IMDS answers at all and
//! whether it has the profile's identity, remembered under `<cache>/imds/`.

use super::imds::{IMDS_API_VERSION, IMDS_PATH};
use super::{Host, Identity};
use crate::cache::Cache;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long the probe waits for IMDS.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a probe that found IMDS is trusted.
pub const PROBE_TTL_FOUND: i64 = 24 * 3600;
/// How long a probe that found nothing is trusted.
pub const PROBE_TTL_ABSENT: i64 = 6 * 3600;
/// How long a check that found no identity at IMDS is trusted.
pub const IDENTITY_TTL_ABSENT: i64 = 3600;
/// How long the identity check waits for IMDS.
pub const IDENTITY_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The resource of the identity check's token request.
pub const PROBE_RESOURCE: &str = "https://management.azure.com/";

/// What the last IMDS probe found (`<cache>/imds/probe`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Probe {
    /// The base URL probed.
    pub url: String,
    /// Whether something answered HTTP there.
    pub available: bool,
    /// When, POSIX seconds.
    pub at: i64,
}

/// Where the probe result is kept. Not a `.json` state file: it describes the
/// machine, not a sign-in, so `logout` leaves it alone.
pub fn probe_path(cache: &Cache) -> PathBuf {
    cache.dir().join("imds").join("probe")
}

/// What the last identity check found for one identity at one IMDS
/// (`<cache>/imds/identity-<hash>`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdentityProbe {
    /// The base URL of IMDS.
    pub url: String,
    /// The identity asked for (`system`, or `client_id=...` and the like).
    pub identity: String,
    /// Whether IMDS has it.
    pub present: bool,
    /// When, POSIX seconds.
    pub at: i64,
}

fn identity_path(cache: &Cache, base: &str, selector: &str) -> PathBuf {
    let h = crate::cache::short_hash(&format!("{base}\n{selector}"));
    cache
        .dir()
        .join("imds")
        .join(format!("identity-{}", &h[..16]))
}

/// Remembers whether IMDS at `base` has `identity`.
pub fn remember_identity(cache: &Cache, base: &str, identity: &Identity, present: bool, now: i64) {
    let selector = identity.selector();
    let p = IdentityProbe {
        url: base.to_string(),
        identity: selector.clone(),
        present,
        at: now,
    };
    if let Err(e) = crate::cache::file::write_json(&identity_path(cache, base, &selector), &p) {
        crate::debug!("cannot remember the IMDS identity check: {e}");
    }
}

/// Whether IMDS at `base` has `identity`: remembered (24 hours when it had,
/// [`IDENTITY_TTL_ABSENT`] when it had not), else asked. An IMDS that does not
/// answer the question counts as having it (the token request then says why).
pub(super) fn identity_present(cache: &Cache, base: &str, identity: &Identity, now: i64) -> bool {
    let selector = identity.selector();
    let path = identity_path(cache, base, &selector);
    let remembered = crate::cache::file::read_json::<IdentityProbe>(&path).filter(|p| {
        let ttl = if p.present {
            PROBE_TTL_FOUND
        } else {
            IDENTITY_TTL_ABSENT
        };
        p.url == base && p.identity == selector && p.at <= now && now - p.at < ttl
    });
    if let Some(p) = remembered {
        return p.present;
    }
    let param = identity.param(&Host::Imds);
    let present = probe_identity(base, param.as_ref(), IDENTITY_PROBE_TIMEOUT).unwrap_or(true);
    remember_identity(cache, base, identity, present, now);
    present
}

/// One short request to IMDS without the `Metadata` header: whether something
/// answers it as IMDS does (HTTP 400) within `timeout`.
/// Plain TCP, so that a cache hit never builds the HTTP client.
pub fn probe_imds(base: &str, timeout: Duration) -> bool {
    let Ok(u) = url::Url::parse(base) else {
        return false;
    };
    if u.scheme() != "http" {
        // Not plain http: a connection is all that can be checked without TLS.
        return connect(&u, Instant::now() + timeout).is_some();
    }
    // "HTTP/1.1 400": IMDS refuses a request without `Metadata: true` with 400.
    // Anything else (a proxy's 403 or 502, a captive portal) is not IMDS.
    let target = format!("{IMDS_PATH}?api-version={IMDS_API_VERSION}");
    matches!(plain_get(&u, &target, &[], timeout, 0), Some((400, _)))
}

/// Whether IMDS at `base` has the identity `param` names (the system-assigned
/// one when `None`): `Some(false)` when it answers 400 `Identity not found`
/// (a VM without a managed identity), `Some(true)` when it answers anything
/// else, `None` when it does not answer within `timeout`. One token request
/// for Azure Resource Manager, plain TCP, direct (never a proxy); the token
/// in a successful answer is dropped unread.
pub fn probe_identity(
    base: &str,
    param: Option<&(&'static str, String)>,
    timeout: Duration,
) -> Option<bool> {
    let u = url::Url::parse(base).ok()?;
    if u.scheme() != "http" {
        return Some(true);
    }
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("api-version", IMDS_API_VERSION)
        .append_pair("resource", PROBE_RESOURCE);
    if let Some((k, v)) = param {
        q.append_pair(k, v);
    }
    let target = format!("{IMDS_PATH}?{}", q.finish());
    let (status, body) = plain_get(&u, &target, &[("Metadata", "true")], timeout, 64 * 1024)?;
    Some(!is_no_identity(status, &body))
}

/// Whether an IMDS answer says the machine has no such identity (HTTP 400
/// `Identity not found`, as DefaultAzureCredential reads it).
pub fn is_no_identity(status: u16, body: &str) -> bool {
    status == 400 && body.to_ascii_lowercase().contains("identity not found")
}

fn connect(u: &url::Url, deadline: Instant) -> Option<TcpStream> {
    let host = u.host_str()?;
    let port = u.port_or_known_default().unwrap_or(80);
    let addrs = (host.trim_start_matches('[').trim_end_matches(']'), port)
        .to_socket_addrs()
        .ok()?;
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        if let Ok(s) = TcpStream::connect_timeout(&addr, left) {
            return Some(s);
        }
    }
    None
}

/// A plain-TCP `GET target` to `u`'s host with `Connection: close`: the
/// status and up to `max_body` bytes of the rest of the answer, or `None`
/// without a whole status line within `timeout`.
fn plain_get(
    u: &url::Url,
    target: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
    max_body: usize,
) -> Option<(u16, String)> {
    let deadline = Instant::now() + timeout;
    let mut s = connect(u, deadline)?;
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(50));
    let _ = s.set_read_timeout(Some(left));
    let _ = s.set_write_timeout(Some(left));
    let mut req = format!(
        "GET {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        u.host_str().unwrap_or("")
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while buf.len() < 12 + max_body && Instant::now() < deadline {
        let _ = s.set_read_timeout(Some(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(10)),
        ));
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    if buf.len() < 12 || !buf.starts_with(b"HTTP/1.") || buf[8] != b' ' {
        return None;
    }
    let status = std::str::from_utf8(&buf[9..12]).ok()?.parse::<u16>().ok()?;
    let rest = String::from_utf8_lossy(&buf[12..buf.len().min(12 + max_body)]).into_owned();
    Some((status, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_answers() {
        // Nothing listens: no.
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        drop(l);
        assert!(!probe_imds(
            &format!("http://127.0.0.1:{port}"),
            PROBE_TIMEOUT
        ));
        // Something answers as IMDS does (400 without the Metadata header): yes;
        // anything else (a proxy's 403, a cut answer): no.
        for (answer, expected) in [
            (
                &b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"[..],
                true,
            ),
            (
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
                false,
            ),
            (b"HTTP/1.1 40", false),
        ] {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let port = l.local_addr().expect("addr").port();
            let t = std::thread::spawn(move || {
                if let Ok((mut s, _)) = l.accept() {
                    let mut b = [0u8; 512];
                    let _ = s.read(&mut b);
                    let _ = s.write_all(answer);
                }
            });
            assert_eq!(
                probe_imds(&format!("http://127.0.0.1:{port}"), PROBE_TIMEOUT),
                expected
            );
            let _ = t.join();
        }
        // Accepts but never answers: no, within the timeout.
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let start = Instant::now();
        assert!(!probe_imds(
            &format!("http://127.0.0.1:{port}"),
            Duration::from_millis(300)
        ));
        assert!(start.elapsed() < Duration::from_secs(2));
        drop(l);
        assert!(!probe_imds("not a url", PROBE_TIMEOUT));
    }

    /// Serves one connection with `answer`; returns the base URL and what was asked.
    fn one_answer(answer: &'static [u8]) -> (String, std::thread::JoinHandle<String>) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let t = std::thread::spawn(move || {
            let mut asked = Vec::new();
            if let Ok((mut s, _)) = l.accept() {
                let mut b = [0u8; 2048];
                let n = s.read(&mut b).unwrap_or(0);
                asked.extend_from_slice(&b[..n]);
                let _ = s.write_all(answer);
            }
            String::from_utf8_lossy(&asked).into_owned()
        });
        (format!("http://127.0.0.1:{port}"), t)
    }

    #[test]
    fn identity_check() {
        // A VM without an identity: no.
        let (base, t) = one_answer(
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n{\"error\":\"invalid_request\",\"error_description\":\"Identity not found\"}",
        );
        assert_eq!(probe_identity(&base, None, PROBE_TIMEOUT), Some(false));
        let asked = t.join().expect("join");
        assert!(asked.contains("Metadata: true"), "{asked}");
        assert!(
            asked.contains("resource=https%3A%2F%2Fmanagement.azure.com%2F"),
            "{asked}"
        );
        // The user-assigned identity is named.
        let (base, t) = one_answer(b"HTTP/1.1 200 OK\r\n\r\n{\"access_token\":\"x\"}");
        let param = ("client_id", "ua-1".to_string());
        assert_eq!(
            probe_identity(&base, Some(&param), PROBE_TIMEOUT),
            Some(true)
        );
        assert!(t.join().expect("join").contains("client_id=ua-1"));
        // Another 400 (a bad request) is not "no identity"; no answer is unknown.
        assert!(!is_no_identity(
            400,
            "{\"error_description\":\"Invalid version\"}"
        ));
        assert!(is_no_identity(400, "identity NOT found"));
        assert!(!is_no_identity(404, "Identity not found"));
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        drop(l);
        assert_eq!(
            probe_identity(&format!("http://127.0.0.1:{port}"), None, PROBE_TIMEOUT),
            None
        );
    }
}
