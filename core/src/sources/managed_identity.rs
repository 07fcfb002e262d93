//! Managed identity: App Service / Functions, Cloud Shell, Azure Arc ([`arc`]), IMDS.
//!
//! - App Service / Functions: `GET $IDENTITY_ENDPOINT?api-version=2019-08-01&resource=R`
//!   with header `X-IDENTITY-HEADER: $IDENTITY_HEADER`.
//! - Cloud Shell: `POST $MSI_ENDPOINT` with form `resource=R` and header `Metadata: true`.
//! - IMDS (VMs, scale sets, AKS nodes): `GET {AZURE_POD_IDENTITY_AUTHORITY_HOST or
//!   http://169.254.169.254}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=R`
//!   with header `Metadata: true`; retried on 404, 410 (IMDS can take 70 s to come
//!   back after an update), 429 and 5xx. Without `ENTRA_CRED_HTTP_TIMEOUT` the
//!   IMDS budget is 75 s instead of the usual 30 s.
//!
//! A user-assigned identity is chosen with the profile's `managed_identity_client_id`
//! (or `AZURE_CLIENT_ID`, see [`Identity::parse`]): a client id, `object_id=<id>`,
//! or a resource id (`/subscriptions/...`, or `resource_id=<id>`).
//!
//! The scope `X/.default` is sent as `resource=X`. `expires_on` comes as POSIX
//! seconds in a string, and from older hosts as a date like
//! `11/22/2026 1:02:03 AM +00:00`: both are read ([`parse_expires_on`]).
//!
//! For `flow = auto`, [`detect`] must stay cheap: it runs before every cache
//! lookup. The environment decides App Service and Cloud Shell; whether IMDS
//! exists is decided by a short probe (1 s, plain TCP, no HTTP client; only
//! IMDS's own answer to a request without `Metadata`, HTTP 400, counts) whose
//! answer is remembered in `<cache>/imds/probe` for 24 hours when IMDS
//! answered and 6 hours when it did not (delete the file to probe again).

pub mod arc;

use super::{AppSource, Ctx};
use crate::cache::Cache;
use crate::entra::TokenResponse;
use crate::error::{one_line, Error, Result};
use crate::http::{redact_url, Request, Response, RetryPolicy};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The IMDS base URL when `AZURE_POD_IDENTITY_AUTHORITY_HOST` is unset.
pub const DEFAULT_IMDS: &str = "http://169.254.169.254";
/// The IMDS token path.
pub const IMDS_PATH: &str = "/metadata/identity/oauth2/token";
/// IMDS API version.
pub const IMDS_API_VERSION: &str = "2018-02-01";
/// App Service API version.
pub const APP_SERVICE_API_VERSION: &str = "2019-08-01";
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
/// IMDS budget when `ENTRA_CRED_HTTP_TIMEOUT` is unset.
pub const IMDS_BUDGET: Duration = Duration::from_secs(75);

/// Statuses IMDS is retried on.
static IMDS_RETRY: [u16; 15] = [
    404, 410, 429, 500, 501, 502, 503, 504, 505, 506, 507, 508, 509, 510, 511,
];

/// Which managed identity endpoint serves this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`.
    AppService,
    /// `MSI_ENDPOINT`.
    CloudShell,
    /// Azure Arc: `IDENTITY_ENDPOINT` + `IMDS_ENDPOINT`, no `IDENTITY_HEADER` (see [`arc`]).
    Arc,
    /// The instance metadata service.
    Imds,
}

impl Host {
    /// A name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Host::AppService => "App Service",
            Host::CloudShell => "Cloud Shell",
            Host::Arc => "Azure Arc",
            Host::Imds => "IMDS",
        }
    }
}

fn env(name: &str) -> Option<String> {
    crate::config::env_var(name)
}

fn app_service_env() -> bool {
    env("IDENTITY_ENDPOINT").is_some() && env("IDENTITY_HEADER").is_some()
}

/// The host to use when `flow = managed-identity` is forced.
pub fn host_for_flow() -> Host {
    host_from_env().map(|(h, _)| h).unwrap_or(Host::Imds)
}

fn host_from_env() -> Option<(Host, String)> {
    if app_service_env() {
        Some((
            Host::AppService,
            "IDENTITY_ENDPOINT and IDENTITY_HEADER are set (App Service / Functions managed identity)".into(),
        ))
    } else if arc::present() {
        Some((
            Host::Arc,
            "IDENTITY_ENDPOINT and IMDS_ENDPOINT are set without IDENTITY_HEADER (Azure Arc managed identity)".into(),
        ))
    } else if env("MSI_ENDPOINT").is_some() {
        Some((
            Host::CloudShell,
            "MSI_ENDPOINT is set (Cloud Shell managed identity)".into(),
        ))
    } else {
        None
    }
}

/// The IMDS base URL (`AZURE_POD_IDENTITY_AUTHORITY_HOST`, else the link-local address).
pub fn imds_base() -> String {
    env("AZURE_POD_IDENTITY_AUTHORITY_HOST")
        .unwrap_or_else(|| DEFAULT_IMDS.to_string())
        .trim()
        .trim_end_matches('/')
        .to_string()
}

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

/// Whether a managed identity is available, cheaply (for `auto`): the
/// environment, else the remembered IMDS probe, else a new probe (≤ 1 s);
/// when IMDS answers, whether it has the profile's identity (remembered
/// likewise, else asked once, ≤ 2 s): IMDS that answers `Identity not found`
/// counts as absent, so that `auto` goes on to the next source.
pub fn detect(profile: &crate::config::Profile, cache: &Cache) -> Option<(Host, String)> {
    if let Some(found) = host_from_env() {
        return Some(found);
    }
    let base = imds_base();
    let now = crate::timefmt::now();
    let path = probe_path(cache);
    let remembered = crate::cache::file::read_json::<Probe>(&path).filter(|p| {
        let ttl = if p.available {
            PROBE_TTL_FOUND
        } else {
            PROBE_TTL_ABSENT
        };
        p.url == base && p.at <= now && now - p.at < ttl
    });
    let (probe, fresh) = match remembered {
        Some(p) => (p, false),
        None => {
            let available = probe_imds(&base, PROBE_TIMEOUT);
            crate::debug!(
                "IMDS probe of {base}: {}",
                if available { "answered" } else { "no answer" }
            );
            let p = Probe {
                url: base.clone(),
                available,
                at: now,
            };
            if let Err(e) = crate::cache::file::write_json(&path, &p) {
                crate::debug!("cannot remember the IMDS probe: {e}");
            }
            (p, true)
        }
    };
    if !probe.available {
        return None;
    }
    let selector = Identity::parse(profile.managed_identity_client_id.as_deref());
    if !identity_present(cache, &base, &selector, now) {
        crate::debug!("IMDS at {base} has no managed identity for this machine: not a source");
        return None;
    }
    probe.available.then(|| {
        (
            Host::Imds,
            format!(
                "the instance metadata service answered at {base} ({})",
                if fresh {
                    "probed just now".to_string()
                } else {
                    format!("probe remembered in {}", path.display())
                }
            ),
        )
    })
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

impl Identity {
    /// A stable name of the identity (for the probe memo).
    fn selector(&self) -> String {
        match self.param(&Host::Imds) {
            Some((k, v)) => format!("{k}={v}"),
            None => "system".into(),
        }
    }
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
fn identity_present(cache: &Cache, base: &str, identity: &Identity, now: i64) -> bool {
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

/// A user-assigned identity, or the system-assigned one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// The system-assigned identity.
    System,
    /// By client (application) id.
    ClientId(String),
    /// By object (principal) id.
    ObjectId(String),
    /// By ARM resource id.
    ResourceId(String),
}

impl Identity {
    /// Reads `managed_identity_client_id`: `<client id>`, `client_id=<id>`,
    /// `object_id=<id>` (also `principal_id=`), `resource_id=<id>` (also
    /// `msi_res_id=` / `mi_res_id=`), or a resource id starting with `/`.
    pub fn parse(v: Option<&str>) -> Identity {
        let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) else {
            return Identity::System;
        };
        if let Some((k, val)) = v.split_once('=') {
            let val = val.trim().to_string();
            match k.trim().to_ascii_lowercase().as_str() {
                "client_id" | "clientid" => return Identity::ClientId(val),
                "object_id" | "objectid" | "principal_id" => return Identity::ObjectId(val),
                "resource_id" | "msi_res_id" | "mi_res_id" => return Identity::ResourceId(val),
                _ => {}
            }
        }
        if v.starts_with('/') {
            Identity::ResourceId(v.to_string())
        } else {
            Identity::ClientId(v.to_string())
        }
    }

    /// The query parameter naming this identity on `host`.
    fn param(&self, host: &Host) -> Option<(&'static str, String)> {
        let imds = *host == Host::Imds;
        match self {
            Identity::System => None,
            Identity::ClientId(v) => Some(("client_id", v.clone())),
            Identity::ObjectId(v) => {
                Some((if imds { "object_id" } else { "principal_id" }, v.clone()))
            }
            Identity::ResourceId(v) => {
                Some((if imds { "msi_res_id" } else { "mi_res_id" }, v.clone()))
            }
        }
    }
}

/// `X/.default` -> `X` (the v1 resource managed identity endpoints take).
pub fn resource_of_scope(scope: &str) -> String {
    let s = scope.trim();
    s.strip_suffix("/.default").unwrap_or(s).to_string()
}

/// Reads `expires_on`: POSIX seconds (number or string), or a date such as
/// `11/22/2026 1:02:03 AM +00:00` (older App Service / Cloud Shell hosts).
pub fn parse_expires_on(v: &Value) -> Option<i64> {
    if let Some(n) = crate::json::number(Some(v)) {
        return Some(n);
    }
    let s = v.as_str()?.trim();
    if let Ok(f) = s.parse::<f64>() {
        return f.is_finite().then_some(f as i64);
    }
    parse_date(s)
}

fn parse_date(s: &str) -> Option<i64> {
    use time::macros::format_description;
    let with_offset = format_description!(
        "[month padding:none]/[day padding:none]/[year] [hour repr:12 padding:none]:[minute]:[second] [period case_sensitive:false] [offset_hour sign:mandatory]:[offset_minute]"
    );
    if let Ok(t) = time::OffsetDateTime::parse(s, with_offset) {
        return Some(t.unix_timestamp());
    }
    let utc = format_description!(
        "[month padding:none]/[day padding:none]/[year] [hour repr:12 padding:none]:[minute]:[second] [period case_sensitive:false]"
    );
    time::PrimitiveDateTime::parse(s, utc)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

/// Parses a managed identity token answer (any of the three hosts).
pub fn parse_response(body: &str, now: i64) -> std::result::Result<TokenResponse, String> {
    let v: Value = serde_json::from_str(body.trim())
        .map_err(|_| "the answer is not valid JSON".to_string())?;
    let obj = v.as_object().ok_or("the answer is not a JSON object")?;
    let access_token = obj
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("the answer has no access_token")?
        .to_string();
    let expires_on = obj
        .get("expires_on")
        .and_then(parse_expires_on)
        .filter(|t| *t > 1_000_000_000)
        .or_else(|| {
            crate::json::number(obj.get("expires_in"))
                .filter(|s| (0..=10 * 365 * 86400).contains(s))
                .map(|s| now + s)
        })
        .or_else(|| crate::jwt::decode(&access_token).and_then(|d| d.secs("exp")))
        .map(crate::timefmt::clamp_expiry)
        .ok_or("the answer has no usable expires_on")?;
    Ok(TokenResponse {
        access_token: Secret::new(access_token),
        refresh_token: None,
        id_token: None,
        expires_on,
        token_type: obj
            .get("token_type")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("Bearer")
            .to_string(),
        scope: String::new(),
    })
}

/// The managed identity source.
pub struct ManagedIdentity(pub Host);

fn imds_policy() -> RetryPolicy {
    let explicit = env("ENTRA_CRED_HTTP_TIMEOUT").is_some();
    RetryPolicy {
        statuses: &IMDS_RETRY,
        max_attempts: 12,
        budget: (!explicit).then_some(IMDS_BUDGET),
        ..RetryPolicy::default()
    }
}

fn endpoint_url(var: &str) -> Result<url::Url> {
    let raw = env(var).ok_or_else(|| Error::Config(format!("{var} is not set")))?;
    let u = url::Url::parse(raw.trim()).map_err(|e| {
        Error::Config(format!(
            "{var}: '{}' is not a valid URL ({e})",
            one_line(&raw)
        ))
    })?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(Error::Config(format!(
            "{var}: unsupported scheme '{}'",
            u.scheme()
        )));
    }
    Ok(u)
}

impl ManagedIdentity {
    fn request(
        &self,
        profile: &crate::config::Profile,
        resource: &str,
    ) -> Result<(Request, RetryPolicy, String)> {
        let identity = Identity::parse(profile.managed_identity_client_id.as_deref());
        let param = identity.param(&self.0);
        match self.0 {
            Host::Imds => {
                let base = imds_base();
                let mut u = url::Url::parse(&format!("{base}{IMDS_PATH}")).map_err(|e| {
                    Error::Config(format!(
                        "AZURE_POD_IDENTITY_AUTHORITY_HOST: '{}' is not a valid URL ({e})",
                        one_line(&base)
                    ))
                })?;
                u.query_pairs_mut()
                    .append_pair("api-version", IMDS_API_VERSION)
                    .append_pair("resource", resource);
                if let Some((k, v)) = &param {
                    u.query_pairs_mut().append_pair(k, v);
                }
                let shown = redact_url(&u);
                let mut r = Request::get(u.to_string()).header("Metadata", "true");
                r.allow_plain_http = true;
                Ok((r, imds_policy(), shown))
            }
            Host::AppService => {
                let mut u = endpoint_url("IDENTITY_ENDPOINT")?;
                let header = env("IDENTITY_HEADER")
                    .ok_or_else(|| Error::Config("IDENTITY_HEADER is not set".into()))?;
                u.query_pairs_mut()
                    .append_pair("api-version", APP_SERVICE_API_VERSION)
                    .append_pair("resource", resource);
                if let Some((k, v)) = &param {
                    u.query_pairs_mut().append_pair(k, v);
                }
                let shown = redact_url(&u);
                let mut r = Request::get(u.to_string()).header("X-IDENTITY-HEADER", &header);
                r.allow_plain_http = true;
                Ok((r, RetryPolicy::default(), shown))
            }
            Host::Arc => Err(Error::Other(
                "Azure Arc answers through its challenge (sources::managed_identity::arc)".into(),
            )),
            Host::CloudShell => {
                if identity != Identity::System {
                    return Err(Error::Config(
                        "Cloud Shell has only its signed-in user's identity: remove managed_identity_client_id (or AZURE_CLIENT_ID) for this profile".into(),
                    ));
                }
                let u = endpoint_url("MSI_ENDPOINT")?;
                let shown = redact_url(&u);
                let mut r = Request::post_form(
                    u.to_string(),
                    vec![("resource".into(), resource.to_string())],
                )
                .header("Metadata", "true");
                r.allow_plain_http = true;
                Ok((r, RetryPolicy::default(), shown))
            }
        }
    }
}

fn failure(host: &Host, shown: &str, resp: &Response) -> Error {
    let context = format!("managed identity ({}) at {shown}", host.name());
    match crate::azure_error::parse_error(&resp.body, resp.status) {
        Some(e) => Error::Entra { context, entra: e },
        None => {
            // Some hosts answer {"message": "..."} or plain text.
            let msg = serde_json::from_str::<Value>(&resp.body)
                .ok()
                .and_then(|v| {
                    v.get("message")
                        .or_else(|| v.get("Message"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_default();
            let mut m = one_line(&msg);
            if m.chars().count() > 200 {
                m = m.chars().take(200).collect::<String>() + "…";
            }
            let hint = match (host, resp.status) {
                (Host::AppService, 401 | 403) => " (is IDENTITY_HEADER current?)",
                _ => "",
            };
            Error::Other(format!(
                "{context} answered HTTP {}{}{hint}",
                resp.status,
                if m.is_empty() {
                    String::new()
                } else {
                    format!(": {m}")
                }
            ))
        }
    }
}

impl AppSource for ManagedIdentity {
    fn acquire(&self, ctx: &Ctx<'_>, _tenant: &str, scope: &str) -> Result<TokenResponse> {
        let resource = resource_of_scope(scope);
        if resource.is_empty() || resource.contains(char::is_whitespace) {
            return Err(Error::Input(format!(
                "managed identity takes one scope of the form <resource>/.default, not '{}'",
                one_line(scope)
            )));
        }
        if self.0 == Host::Arc {
            return arc::acquire(ctx.http, ctx.profile, &resource);
        }
        let (req, policy, shown) = self.request(ctx.profile, &resource)?;
        let resp = ctx.http.send(&req, &policy)?;
        if !resp.ok() {
            if self.0 == Host::Imds && is_no_identity(resp.status, &resp.body) {
                // `auto` will pass over IMDS from now on (see `detect`).
                let identity = Identity::parse(ctx.profile.managed_identity_client_id.as_deref());
                remember_identity(
                    ctx.cache,
                    &imds_base(),
                    &identity,
                    false,
                    crate::timefmt::now(),
                );
                return Err(Error::Other(format!(
                    "managed identity (IMDS) at {shown}: this machine has no managed identity{} (IMDS answered HTTP 400 Identity not found); assign one to the VM, or sign in with `entra-cred login` and set flow = \"device-code\" (flow = auto now passes over IMDS)",
                    match identity {
                        Identity::System => String::new(),
                        other => format!(" '{}'", other.selector()),
                    }
                )));
            }
            return Err(failure(&self.0, &shown, &resp));
        }
        parse_response(&resp.body, crate::timefmt::now()).map_err(|m| {
            Error::Other(format!(
                "managed identity ({}) at {shown}: {m} (HTTP {})",
                self.0.name(),
                resp.status
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expiry_far_outside_time_is_clamped() {
        // Found by fuzzing (managed_identity_response): a float `expires_on`
        // saturates to i64::MAX; `expires_on - now` must never overflow.
        let t = parse_response(r#"{"access_token":"a","expires_on":1e300}"#, 0).expect("ok");
        assert_eq!(t.expires_on, crate::timefmt::MAX_EXPIRY);
        let t = parse_response(r#"{"access_token":"a","expires_on":"1e300"}"#, 0).expect("ok");
        assert_eq!(t.expires_on, crate::timefmt::MAX_EXPIRY);
    }

    #[test]
    fn expires_on_forms() {
        assert_eq!(parse_expires_on(&json!("1795291150")), Some(1795291150));
        assert_eq!(parse_expires_on(&json!(1795291150)), Some(1795291150));
        // 2026-11-22 01:02:03 UTC
        assert_eq!(
            parse_expires_on(&json!("11/22/2026 1:02:03 AM +00:00")),
            Some(1795309323)
        );
        assert_eq!(
            parse_expires_on(&json!("11/22/2026 1:02:03 PM +00:00")),
            Some(1795309323 + 12 * 3600)
        );
        // the same instant written at +02:00
        assert_eq!(
            parse_expires_on(&json!("11/22/2026 3:02:03 AM +02:00")),
            Some(1795309323)
        );
        assert_eq!(
            parse_expires_on(&json!("01/02/2027 12:00:00 AM +00:00")),
            Some(1798848000)
        );
        assert_eq!(
            parse_expires_on(&json!("11/22/2026 1:02:03 AM")),
            Some(1795309323)
        );
        for bad in [
            json!("soon"),
            json!(""),
            json!(null),
            json!([1]),
            json!("13/40/2026 1:02:03 AM +00:00"),
        ] {
            assert_eq!(parse_expires_on(&bad), None, "{bad}");
        }
    }

    #[test]
    fn responses() {
        let t = parse_response(
            r#"{"access_token":"at","client_id":"c","expires_in":"86399","expires_on":"1795291150","ext_expires_in":"86399","not_before":"1","resource":"https://management.azure.com/","token_type":"Bearer"}"#,
            0,
        )
        .expect("imds");
        assert_eq!(t.expires_on, 1795291150);
        assert_eq!(t.access_token.expose(), "at");
        let t = parse_response(
            r#"{"access_token":"at","expires_on":"11/22/2026 1:02:03 AM +00:00","resource":"r","token_type":"Bearer"}"#,
            0,
        )
        .expect("old host");
        assert_eq!(t.expires_on, 1795309323);
        let t = parse_response(r#"{"access_token":"at","expires_in":"3600"}"#, 100)
            .expect("expires_in only");
        assert_eq!(t.expires_on, 3700);
        for bad in [
            "",
            "garbage",
            "[]",
            "{}",
            r#"{"access_token":""}"#,
            r#"{"access_token":"at"}"#,
        ] {
            assert!(parse_response(bad, 0).is_err(), "{bad}");
        }
    }

    #[test]
    fn scopes_and_identities() {
        assert_eq!(
            resource_of_scope("https://management.azure.com/.default"),
            "https://management.azure.com"
        );
        assert_eq!(
            resource_of_scope("https://management.core.windows.net//.default"),
            "https://management.core.windows.net/"
        );
        assert_eq!(resource_of_scope("api://x"), "api://x");
        assert_eq!(Identity::parse(None), Identity::System);
        assert_eq!(Identity::parse(Some(" ")), Identity::System);
        assert_eq!(
            Identity::parse(Some("abc")),
            Identity::ClientId("abc".into())
        );
        assert_eq!(
            Identity::parse(Some("object_id=o1")),
            Identity::ObjectId("o1".into())
        );
        assert_eq!(
            Identity::parse(Some("/subscriptions/s/x")),
            Identity::ResourceId("/subscriptions/s/x".into())
        );
        assert_eq!(
            Identity::parse(Some("msi_res_id=/subscriptions/s/x")),
            Identity::ResourceId("/subscriptions/s/x".into())
        );
        assert_eq!(
            Identity::ObjectId("o".into()).param(&Host::Imds),
            Some(("object_id", "o".to_string()))
        );
        assert_eq!(
            Identity::ResourceId("r".into()).param(&Host::AppService),
            Some(("mi_res_id", "r".to_string()))
        );
    }

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
