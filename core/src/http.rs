//! The one HTTP client: lazy, bounded, retrying.
//!
//! Nothing here runs on a cache hit: the `reqwest` client (and with it TLS and
//! the root store) is built on the first request only. Every request:
//! - goes to `https`, or to plain `http` only on loopback (or, for managed
//!   identity endpoints that are plain http by design, where the caller says so);
//! - follows no redirect (a token must not be forwarded to another host);
//! - is retried on connection failures, timeouts, 5xx and 429 (honouring
//!   `Retry-After`) with exponential backoff, inside a total time budget
//!   (`ENTRA_CRED_HTTP_TIMEOUT` seconds, default 30) after which it is a
//!   network error (exit 5).

use crate::config::is_loopback_host;
use crate::error::{one_line, Error, Result};
use crate::{debug, info};
use std::io::Read;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Largest response body read (anything longer is cut: no service we call
/// sends more than a few kilobytes).
const MAX_BODY: u64 = 1 << 20;

/// HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// HEAD
    Head,
}

/// A request. It has no `Debug`: its body may hold a secret.
pub struct Request {
    /// Method.
    pub method: Method,
    /// Absolute URL.
    pub url: String,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Form body (`application/x-www-form-urlencoded`), when any.
    pub form: Option<Vec<(String, String)>>,
    /// Permit plain `http` to a non-loopback host (managed identity endpoints only).
    pub allow_plain_http: bool,
}

impl Request {
    /// A GET request.
    pub fn get(url: impl Into<String>) -> Request {
        Request {
            method: Method::Get,
            url: url.into(),
            headers: Vec::new(),
            form: None,
            allow_plain_http: false,
        }
    }

    /// A HEAD request.
    pub fn head(url: impl Into<String>) -> Request {
        Request {
            method: Method::Head,
            ..Request::get(url)
        }
    }

    /// A POST with a form body.
    pub fn post_form(url: impl Into<String>, form: Vec<(String, String)>) -> Request {
        Request {
            method: Method::Post,
            form: Some(form),
            ..Request::get(url)
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// A response (status, headers, body as text).
#[derive(Clone)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body (at most 1 MiB), lossily decoded as UTF-8.
    pub body: String,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Which answers are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Statuses retried (besides connection errors and timeouts).
    pub statuses: &'static [u16],
    /// Attempts at most (the first included).
    pub max_attempts: u32,
    /// First backoff; doubles each time.
    pub base_delay: Duration,
    /// Total time budget; `None` uses the client's (`ENTRA_CRED_HTTP_TIMEOUT`).
    pub budget: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            statuses: &[429, 500, 502, 503, 504],
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            budget: None,
        }
    }
}

impl RetryPolicy {
    /// No retries at all (probes).
    pub fn none(budget: Duration) -> RetryPolicy {
        RetryPolicy {
            statuses: &[],
            max_attempts: 1,
            base_delay: Duration::ZERO,
            budget: Some(budget),
        }
    }
}

/// What sends one request in place of the network (tests): the request,
/// its URL and the time left; an answer or a transport error's text.
pub type Transport =
    dyn Fn(&Request, &url::Url, Duration) -> std::result::Result<Response, String> + Send + Sync;

/// The lazily built HTTP client.
pub struct Http {
    proxied: OnceLock<std::result::Result<reqwest::blocking::Client, String>>,
    direct: OnceLock<std::result::Result<reqwest::blocking::Client, String>>,
    budget: Duration,
    /// The end of the current call (lock waits and every retry included).
    deadline: std::sync::Mutex<Option<Instant>>,
    transport: Option<Box<Transport>>,
}

impl Default for Http {
    fn default() -> Self {
        Http::new()
    }
}

/// The default total time budget of one request, retries included.
pub fn default_budget() -> Duration {
    let secs = std::env::var("ENTRA_CRED_HTTP_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| *v > 0.0 && *v < 3600.0)
        .unwrap_or(30.0);
    Duration::from_secs_f64(secs)
}

/// Scheme and host of a URL, and whether plain http is allowed there.
fn check_url(url: &str, allow_plain_http: bool) -> Result<url::Url> {
    let u = url::Url::parse(url)
        .map_err(|e| Error::Config(format!("invalid URL '{}': {e}", one_line(url))))?;
    crate::net::check(&u, allow_plain_http)
        .map(|()| u)
        .map_err(|r| Error::Config(r.to_string()))
}

/// `scheme://host[:port]/path` without query, for logs and messages.
pub fn redact_url(u: &url::Url) -> String {
    let mut s = format!("{}://{}", u.scheme(), u.host_str().unwrap_or(""));
    if let Some(p) = u.port() {
        s.push_str(&format!(":{p}"));
    }
    s.push_str(u.path());
    s
}

/// Parses `Retry-After`: delay seconds or an HTTP date.
pub fn parse_retry_after(v: &str, now: i64) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        if secs >= 0.0 && secs.is_finite() {
            return Some(Duration::from_secs_f64(secs.min(86400.0)));
        }
    }
    let t = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    Some(Duration::from_secs((t.unix_timestamp() - now).max(0) as u64))
}

impl Http {
    /// A client with the default budget. Builds nothing yet.
    pub fn new() -> Http {
        Http {
            proxied: OnceLock::new(),
            direct: OnceLock::new(),
            budget: default_budget(),
            deadline: std::sync::Mutex::new(None),
            transport: None,
        }
    }

    /// A client whose requests go to `transport` instead of the network
    /// (in-process tests), with the total budget `budget`.
    pub fn with_transport(budget: Duration, transport: Box<Transport>) -> Http {
        Http {
            budget,
            transport: Some(transport),
            ..Http::new()
        }
    }

    /// The total time budget of one request.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// Sets (or, with `None`, lifts: an interactive sign-in) the deadline of
    /// the current call: no request, retry included, runs past it.
    pub fn set_deadline(&self, deadline: Option<Instant>) {
        if let Ok(mut d) = self.deadline.lock() {
            *d = deadline;
        }
    }

    /// The deadline of the current call, when one is set.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline.lock().ok().and_then(|d| *d)
    }

    fn client(&self, loopback: bool) -> Result<&reqwest::blocking::Client> {
        let cell = if loopback {
            &self.direct
        } else {
            &self.proxied
        };
        let built = cell.get_or_init(|| {
            let mut b = reqwest::blocking::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(Duration::from_secs(10).min(self.budget))
                .user_agent(concat!("entra-cred/", env!("CARGO_PKG_VERSION")));
            if loopback {
                b = b.no_proxy();
            }
            b.build().map_err(|e| e.to_string())
        });
        built
            .as_ref()
            .map_err(|e| Error::Other(format!("cannot set up the HTTP client: {}", one_line(e))))
    }

    /// Sends `req`, retrying as `policy` says. Non-retried statuses (2xx, 4xx)
    /// come back as `Ok`; a retried status that persists, a timeout or an
    /// unreachable host is [`Error::Network`].
    pub fn send(&self, req: &Request, policy: &RetryPolicy) -> Result<Response> {
        let url = check_url(&req.url, req.allow_plain_http)?;
        let shown = redact_url(&url);
        let host = url.host_str().unwrap_or("").to_string();
        let client = match self.transport {
            Some(_) => None,
            None => Some(self.client(is_loopback_host(&host))?),
        };
        let configured = policy.budget.unwrap_or(self.budget);
        let mut budget = configured;
        if let Some(d) = self.deadline() {
            budget = budget.min(d.saturating_duration_since(Instant::now()));
        }
        let start = Instant::now();
        let mut attempt = 0u32;
        let mut delay = policy.base_delay;
        let mut last = String::new();
        loop {
            attempt += 1;
            let remaining = budget.saturating_sub(start.elapsed());
            if remaining.is_zero() {
                return Err(Error::Network(format!(
                    "{shown} did not answer within {} s",
                    configured.as_secs_f64().round()
                )));
            }
            let t0 = Instant::now();
            let outcome = match (client, &self.transport) {
                (Some(c), _) => self.once(c, req, &url, remaining),
                (None, Some(t)) => t(req, &url, remaining),
                (None, None) => Err("no HTTP client".to_string()),
            };
            let last_attempt = attempt >= policy.max_attempts;
            let wait = match outcome {
                Ok(resp) => {
                    debug!(
                        "{:?} {shown} -> {} ({} ms)",
                        req.method,
                        resp.status,
                        t0.elapsed().as_millis()
                    );
                    if !policy.statuses.contains(&resp.status) {
                        return Ok(resp);
                    }
                    let retry_after = resp
                        .header("retry-after")
                        .and_then(|v| parse_retry_after(v, crate::timefmt::now()));
                    let detail = error_summary(&resp.body);
                    last = format!("HTTP {}{detail}", resp.status);
                    let fail = |why: String| {
                        Error::Network(format!(
                            "{shown} answered HTTP {}{detail}{why}",
                            resp.status
                        ))
                    };
                    if last_attempt {
                        return Err(fail(format!(" after {attempt} attempts")));
                    }
                    match retry_after {
                        Some(ra) if ra > budget.saturating_sub(start.elapsed()) => {
                            return Err(fail(format!(
                                "; it asks to retry after {} s, beyond this request's {} s budget (ENTRA_CRED_HTTP_TIMEOUT)",
                                ra.as_secs(),
                                configured.as_secs()
                            )));
                        }
                        Some(ra) => ra,
                        None => delay,
                    }
                }
                Err(e) => {
                    debug!("{:?} {shown} -> {e}", req.method);
                    last.clone_from(&e);
                    if last_attempt {
                        return Err(Error::Network(format!(
                            "{shown}: {e} (after {attempt} attempts)"
                        )));
                    }
                    delay
                }
            };
            let left = budget.saturating_sub(start.elapsed());
            if wait >= left {
                // Sleeping would overrun the budget: one last try right at the end
                // is pointless, so report now.
                return Err(Error::Network(format!(
                    "{shown} kept failing for {} s (ENTRA_CRED_HTTP_TIMEOUT); last: {last}",
                    configured.as_secs()
                )));
            }
            info!("retrying {shown} in {} ms", wait.as_millis());
            std::thread::sleep(wait);
            delay = (delay * 2).min(Duration::from_secs(8));
        }
    }

    fn once(
        &self,
        client: &reqwest::blocking::Client,
        req: &Request,
        url: &url::Url,
        timeout: Duration,
    ) -> std::result::Result<Response, String> {
        let mut b = match req.method {
            Method::Get => client.get(url.clone()),
            Method::Post => client.post(url.clone()),
            Method::Head => client.head(url.clone()),
        };
        b = b.timeout(timeout);
        for (k, v) in &req.headers {
            b = b.header(k, v);
        }
        if let Some(form) = &req.form {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form.iter())
                .finish();
            b = b
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
        }
        let resp = b.send().map_err(describe_reqwest)?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut bytes = Vec::new();
        resp.take(MAX_BODY)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("reading the answer failed: {}", one_line(&e.to_string())))?;
        Ok(Response {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }
}

fn describe_reqwest(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    // The innermost cause says most ("Connection refused", "dns error").
    let mut src: &dyn std::error::Error = &e;
    while let Some(s) = src.source() {
        src = s;
    }
    format!("{kind}: {}", one_line(&src.to_string()))
}

/// `" (AADSTS50020: ...)"` from an error body, when it is Entra-shaped.
fn error_summary(body: &str) -> String {
    match crate::entra::parse_error(body, 0) {
        Some(e) => format!(" ({})", e),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_rules() {
        assert!(check_url("https://login.microsoftonline.com/x", false).is_ok());
        assert!(check_url("http://127.0.0.1:1/x", false).is_ok());
        assert!(check_url("http://localhost:1/x", false).is_ok());
        assert!(check_url("http://example.com/x", false).is_err());
        assert!(check_url("http://169.254.169.254/x", true).is_ok());
        assert!(check_url("file:///etc/passwd", true).is_err());
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("3", 0), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("1.5", 0),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", 1445412480),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse_retry_after("soon", 0), None);
    }

    #[test]
    fn redacts_query() {
        let u = url::Url::parse("http://127.0.0.1:8/a/b?code=secret").expect("url");
        assert_eq!(redact_url(&u), "http://127.0.0.1:8/a/b");
    }
}
