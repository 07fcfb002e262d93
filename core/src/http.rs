//! The one HTTP client: lazy, bounded, retrying.
//!
//! Nothing here runs on a cache hit: the `reqwest` client (and with it TLS and
//! the root store) is built on the first request only. Every request:
//! - goes to `https`, or to plain `http` only on loopback (or, for managed
//!   identity endpoints that are plain http by design, where the caller says so);
//! - follows no redirect (a token must not be forwarded to another host);
//! - goes through the proxy of [`crate::proxy`], except to loopback hosts and
//!   local identity endpoints ([`Request::allow_plain_http`]), which never use one;
//! - is classified once, here: retried on refused or reset connections,
//!   timeouts, a name server that did not answer, 408, 429 and 5xx (honouring
//!   `Retry-After`) with exponential backoff, inside a total time budget
//!   (`ENTRA_CRED_HTTP_TIMEOUT` seconds, default 30) after which it is a
//!   network error (exit 5); reported at once, without retrying, when the host
//!   name does not exist, the TLS certificate is not trusted, or the proxy
//!   wants credentials (exit 5, one line naming the host, or the proxy when it
//!   was the proxy); other 4xx come back to the caller as answers;
//! - after a failure that retrying did not heal, skips or shortens the next
//!   requests to the same endpoint for a while ([`crate::outage`]).

use crate::config::is_loopback_host;
use crate::error::{one_line, Error, Result};
use crate::outage::{Advice, Memory};
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
    /// A local identity endpoint (IMDS, App Service, Cloud Shell, Azure Arc):
    /// plain `http` is permitted to a non-loopback host, and no proxy is ever used.
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

/// The statuses retried by default: 408, 429 and every 5xx.
pub static RETRIED_STATUSES: [u16; 14] = [
    408, 429, 500, 501, 502, 503, 504, 505, 506, 507, 508, 509, 510, 511,
];

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
            statuses: &RETRIED_STATUSES,
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
    memory: OnceLock<Memory>,
    /// The end of the current call (lock waits and every retry included).
    deadline: std::sync::Mutex<Option<Instant>>,
    transport: Option<Box<Transport>>,
}

/// The shortest time worth one more attempt at the end of a budget.
const MIN_ATTEMPT: Duration = Duration::from_millis(250);

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
            memory: OnceLock::new(),
            deadline: std::sync::Mutex::new(None),
            transport: None,
        }
    }

    /// A client whose requests go to `transport` instead of the network
    /// (in-process tests), with the total budget `budget` and no memory of
    /// network failures (nothing is written outside the test's own cache).
    pub fn with_transport(budget: Duration, transport: Box<Transport>) -> Http {
        Http {
            budget,
            transport: Some(transport),
            ..Http::new()
        }
        .with_failure_memory(None)
    }

    /// Keeps the memory of network failures in `dir` (`None`: none) instead
    /// of `<cache>/network`.
    pub fn with_failure_memory(self, dir: Option<std::path::PathBuf>) -> Http {
        let memory = OnceLock::new();
        let _ = memory.set(Memory::at(dir));
        Http { memory, ..self }
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
            // The proxy is chosen by `crate::proxy` (the same rules as curl), so
            // that errors can name it; the direct client never uses one.
            b = b.no_proxy();
            if !loopback {
                b = b.proxy(reqwest::Proxy::custom(|u| {
                    crate::proxy::for_url(u).map(|p| p.url)
                }));
            }
            b.build().map_err(|e| e.to_string())
        });
        built
            .as_ref()
            .map_err(|e| Error::Other(format!("cannot set up the HTTP client: {}", one_line(e))))
    }

    /// Sends `req`, retrying as `policy` says. Non-retried statuses (2xx, 4xx)
    /// come back as `Ok`; a retried status that persists, a timeout, an
    /// unreachable host, a host name that does not exist or an untrusted
    /// certificate is [`Error::Network`]. A host that failed a moment ago is
    /// not made to cost a whole budget again (see [`crate::outage`]).
    pub fn send(&self, req: &Request, policy: &RetryPolicy) -> Result<Response> {
        let url = check_url(&req.url, req.allow_plain_http)?;
        let shown = redact_url(&url);
        let host = url.host_str().unwrap_or("").to_string();
        // Loopback hosts and local identity endpoints never go through a proxy.
        let direct = req.allow_plain_http || is_loopback_host(&host);
        let proxy = if req.allow_plain_http {
            None
        } else {
            crate::proxy::in_effect(&url)
        };
        let proxy_shown = proxy.as_ref().map(|p| p.shown());
        // Name the proxy when it is what failed.
        let what = match &proxy_shown {
            Some(p) => format!("{shown} through the proxy {p}"),
            None => shown.clone(),
        };
        let client = match self.transport {
            Some(_) => None,
            None => Some(self.client(direct)?),
        };
        let configured = policy.budget.unwrap_or(self.budget);
        let mut budget = configured;
        if let Some(d) = self.deadline() {
            budget = budget.min(d.saturating_duration_since(Instant::now()));
        }
        let endpoint = endpoint_of(&url);
        let memory = self.memory();
        let mut max_attempts = policy.max_attempts;
        let mut attempt_cap = budget;
        let mut remembered = false;
        match memory.advice(&endpoint, proxy_shown.as_deref(), crate::timefmt::now()) {
            Advice::Normal => {}
            Advice::Skip(o) => {
                return Err(Error::Network(format!(
                    "{what}: {} (it failed {} s ago; not asked again within {} s of a failure)",
                    o.reason,
                    (crate::timefmt::now() - o.last).max(0),
                    crate::outage::SKIP_FOR
                )));
            }
            Advice::QuickTry(o) => {
                info!(
                    "{endpoint} failed {} s ago ({}): one quick try, no retries",
                    crate::timefmt::now() - o.last,
                    o.reason
                );
                max_attempts = 1;
                attempt_cap = crate::outage::QUICK_TRY.min(budget);
                remembered = true;
            }
        }
        let start = Instant::now();
        let mut attempt = 0u32;
        let mut delay = policy.base_delay;
        let mut last = String::new();
        let mut last_transport;
        let mut last_subject = what.clone();
        loop {
            attempt += 1;
            let remaining = budget.saturating_sub(start.elapsed());
            if remaining.is_zero() {
                return Err(Error::Network(format!(
                    "{what} did not answer within {} s (ENTRA_CRED_HTTP_TIMEOUT)",
                    secs(configured)
                )));
            }
            let t0 = Instant::now();
            let outcome = match (client, &self.transport) {
                (Some(c), _) => self.once(c, req, &url, remaining.min(attempt_cap)),
                // A test transport's failure is a connection failure (retried).
                (None, Some(t)) => {
                    t(req, &url, remaining.min(attempt_cap)).map_err(|text| Failure {
                        kind: FailureKind::Connect,
                        text,
                    })
                }
                (None, None) => Err(Failure {
                    kind: FailureKind::Other,
                    text: "no HTTP client".to_string(),
                }),
            };
            let last_attempt = attempt >= max_attempts;
            let wait = match outcome {
                Ok(resp) => {
                    debug!(
                        "{:?} {shown} -> {} ({} ms)",
                        req.method,
                        resp.status,
                        t0.elapsed().as_millis()
                    );
                    if remembered {
                        // It answers again.
                        memory.clear(&endpoint, proxy_shown.as_deref());
                        remembered = false;
                    }
                    if !policy.statuses.contains(&resp.status) {
                        return Ok(resp);
                    }
                    let retry_after = resp
                        .header("retry-after")
                        .and_then(|v| parse_retry_after(v, crate::timefmt::now()));
                    let detail = error_summary(&resp.body);
                    last = format!("HTTP {}{detail}", resp.status);
                    last_transport = false;
                    last_subject.clone_from(&what);
                    let fail = |why: String| {
                        Error::Network(format!(
                            "{shown} answered HTTP {}{detail}{why}",
                            resp.status
                        ))
                    };
                    if last_attempt {
                        return Err(fail(format!(
                            " ({attempt} attempts in {} s)",
                            secs(start.elapsed())
                        )));
                    }
                    match retry_after {
                        Some(ra) if ra > budget.saturating_sub(start.elapsed()) => {
                            return Err(fail(format!(
                                "; it asks to retry after {} s, beyond this request's {} s budget (ENTRA_CRED_HTTP_TIMEOUT)",
                                ra.as_secs(),
                                secs(configured)
                            )));
                        }
                        Some(ra) => ra,
                        None => delay,
                    }
                }
                Err(f) => {
                    debug!("{:?} {shown} -> {}", req.method, f.text);
                    let via_proxy = proxy_shown.is_some() && f.kind.at_proxy();
                    let subject = if via_proxy {
                        format!(
                            "the proxy {} (for {shown})",
                            proxy_shown.as_deref().unwrap_or("")
                        )
                    } else {
                        what.clone()
                    };
                    if !f.kind.retryable() {
                        return Err(Error::Network(format!(
                            "{subject}: {}{}",
                            f.text,
                            f.kind.hint()
                        )));
                    }
                    last.clone_from(&f.text);
                    last_transport = true;
                    last_subject.clone_from(&subject);
                    if last_attempt {
                        memory.record(
                            &endpoint,
                            proxy_shown.as_deref(),
                            &f.text,
                            crate::timefmt::now(),
                        );
                        return Err(Error::Network(format!(
                            "{subject}: {} ({attempt} attempt{} in {} s)",
                            f.text,
                            if attempt == 1 { "" } else { "s" },
                            secs(start.elapsed())
                        )));
                    }
                    delay
                }
            };
            let left = budget.saturating_sub(start.elapsed());
            // Keep time for one more attempt: sleep less rather than give up early.
            let wait = if wait + MIN_ATTEMPT > left {
                left.saturating_sub(MIN_ATTEMPT)
            } else {
                wait
            };
            if left < MIN_ATTEMPT {
                if last_transport {
                    memory.record(
                        &endpoint,
                        proxy_shown.as_deref(),
                        &last,
                        crate::timefmt::now(),
                    );
                }
                return Err(Error::Network(format!(
                    "{last_subject} kept failing for {} s ({attempt} attempts; ENTRA_CRED_HTTP_TIMEOUT={}); last: {last}",
                    secs(start.elapsed()),
                    secs(configured)
                )));
            }
            info!("retrying {shown} in {} ms", wait.as_millis());
            std::thread::sleep(wait);
            delay = (delay * 2).min(Duration::from_secs(8));
        }
    }

    fn memory(&self) -> &Memory {
        self.memory.get_or_init(Memory::from_env)
    }

    fn once(
        &self,
        client: &reqwest::blocking::Client,
        req: &Request,
        url: &url::Url,
        timeout: Duration,
    ) -> std::result::Result<Response, Failure> {
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
        let resp = b.send().map_err(|e| classify(&e))?;
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
            .map_err(|e| Failure {
                kind: FailureKind::Other,
                text: format!("reading the answer failed: {}", one_line(&e.to_string())),
            })?;
        Ok(Response {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }
}

/// Why a request got no HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The host name does not exist (DNS: no such name). Not retried.
    NoSuchHost,
    /// The name server did not answer (DNS: temporary failure). Retried.
    DnsUnavailable,
    /// The server's TLS certificate is not trusted (or not for this name). Not retried.
    UntrustedCertificate,
    /// The proxy wants credentials (HTTP 407 to `CONNECT`). Not retried.
    ProxyAuthRequired,
    /// The connection was refused, reset or failed otherwise. Retried.
    Connect,
    /// No answer in time. Retried.
    Timeout,
    /// Anything else on the way (a connection cut mid-answer). Retried.
    Other,
}

impl FailureKind {
    /// Whether retrying may heal it (SPEC.md "Failures").
    pub fn retryable(self) -> bool {
        !matches!(
            self,
            FailureKind::NoSuchHost
                | FailureKind::UntrustedCertificate
                | FailureKind::ProxyAuthRequired
        )
    }

    /// Whether, when a proxy is used, the failure is the proxy's own (the
    /// connection to it, its name, its answer to `CONNECT`).
    fn at_proxy(self) -> bool {
        matches!(
            self,
            FailureKind::NoSuchHost
                | FailureKind::DnsUnavailable
                | FailureKind::Connect
                | FailureKind::ProxyAuthRequired
        )
    }

    /// What to do, for failures that are not retried.
    fn hint(self) -> &'static str {
        match self {
            FailureKind::NoSuchHost => "; check the host name (and the network's DNS)",
            FailureKind::UntrustedCertificate => "; the server's certificate is not trusted here: a TLS-inspecting proxy needs its root certificate in the system trust store (SSL_CERT_FILE)",
            FailureKind::ProxyAuthRequired => "; give the proxy's credentials in the proxy URL",
            _ => "",
        }
    }
}

/// A request that got no HTTP answer: why, and one line for people.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Why.
    pub kind: FailureKind,
    /// One line (no secrets: it names hosts, never paths or bodies).
    pub text: String,
}

/// Classifies a `reqwest` error by its chain of causes.
fn classify(e: &reqwest::Error) -> Failure {
    let mut chain: Vec<String> = Vec::new();
    let mut src: Option<&dyn std::error::Error> = Some(e);
    let mut io_kind = None;
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            io_kind.get_or_insert(io.kind());
        }
        chain.push(s.to_string());
        src = s.source();
    }
    let all = chain.join(" | ").to_ascii_lowercase();
    // The innermost cause says most ("Connection refused", "Name or service not known").
    let inner = one_line(chain.last().map(String::as_str).unwrap_or(""));
    let dns = all.contains("dns error") || all.contains("failed to lookup address");
    let (kind, text) = if dns && is_no_such_name(&all) {
        (FailureKind::NoSuchHost, format!("no such host ({inner})"))
    } else if dns {
        (
            FailureKind::DnsUnavailable,
            format!("cannot look up the host name ({inner})"),
        )
    } else if all.contains("invalid peer certificate")
        || all.contains("certificate verify failed")
        || all.contains("unknownissuer")
        || all.contains("notvalidforname")
    {
        (
            FailureKind::UntrustedCertificate,
            format!("untrusted TLS certificate ({inner})"),
        )
    } else if all.contains("proxy authorization required") {
        (
            FailureKind::ProxyAuthRequired,
            "the proxy asks for credentials (HTTP 407)".to_string(),
        )
    } else if all.contains("tunnel") {
        // The proxy answered CONNECT with an error (typically 502: it cannot reach the host).
        (
            FailureKind::Connect,
            format!("the proxy did not open a connection to the host ({inner})"),
        )
    } else if e.is_timeout() || io_kind == Some(std::io::ErrorKind::TimedOut) {
        (FailureKind::Timeout, format!("timed out ({inner})"))
    } else if e.is_connect() {
        (FailureKind::Connect, format!("cannot connect: {inner}"))
    } else {
        (FailureKind::Other, format!("request failed: {inner}"))
    };
    Failure { kind, text }
}

/// Whether a resolver's message says the name does not exist (as opposed to
/// "the name server did not answer"): glibc, musl, macOS and Windows wording.
fn is_no_such_name(msg: &str) -> bool {
    [
        "name or service not known",
        "no address associated with hostname",
        "nodename nor servname provided",
        "no such host is known",
        "name does not resolve",
        "no such host",
    ]
    .iter()
    .any(|m| msg.contains(m))
}

/// Seconds, rounded to tenths, for messages.
fn secs(d: Duration) -> String {
    let t = (d.as_secs_f64() * 10.0).round() / 10.0;
    if t.fract() == 0.0 {
        format!("{t:.0}")
    } else {
        format!("{t:.1}")
    }
}

/// `scheme://host:port` of a URL (the key of the outage memory).
fn endpoint_of(u: &url::Url) -> String {
    format!(
        "{}://{}:{}",
        u.scheme(),
        u.host_str().unwrap_or(""),
        u.port_or_known_default().unwrap_or(0)
    )
}

/// `" (AADSTS50020: ...)"` from an error body, when it is Entra-shaped.
fn error_summary(body: &str) -> String {
    match crate::azure_error::parse_error(body, 0) {
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
