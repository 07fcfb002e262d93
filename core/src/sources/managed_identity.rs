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
//!
//! One file per concern: `detect` (which host, for `auto`: [`detect()`]),
//! `probe` (the plain-TCP IMDS probes and their memo), `identity` (which identity),
//! `imds`, `app_service`, `cloud_shell` and [`arc`] (each host's request),
//! `response` (reading the answer). This file keeps the source itself.

mod app_service;
pub mod arc;
mod cloud_shell;
mod detect;
mod identity;
mod imds;
mod probe;
mod response;

pub use app_service::APP_SERVICE_API_VERSION;
pub use detect::{detect, host_for_flow};
pub use identity::{resource_of_scope, Identity};
pub use imds::{imds_base, DEFAULT_IMDS, IMDS_API_VERSION, IMDS_BUDGET, IMDS_PATH};
pub use probe::{
    is_no_identity, probe_identity, probe_imds, probe_path, remember_identity, IdentityProbe,
    Probe, IDENTITY_PROBE_TIMEOUT, IDENTITY_TTL_ABSENT, PROBE_RESOURCE, PROBE_TIMEOUT,
    PROBE_TTL_ABSENT, PROBE_TTL_FOUND,
};
pub use response::{parse_expires_on, parse_response};

use super::{AppSource, Auto, Ctx, Source};
use crate::cache::Cache;
use crate::config::Profile;
use crate::entra::TokenResponse;
use crate::error::{one_line, Error, Result};
use crate::http::{Request, Response, RetryPolicy};
use serde_json::Value;

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

/// `flow = "managed-identity"`; `auto` picks it when [`detect`] finds a host.
/// Its sessions are the identity's (`managed-identity:<id>`, or
/// `managed-identity:system` for the system-assigned one), whatever the profile's client.
pub const SOURCE: Source =
    Source::application("managed-identity", Auto::When(applies), &ManagedIdentity)
        .keyed(super::Identity::Own(session_id))
        .detailed(forced_host);

fn session_id(p: &Profile) -> String {
    p.managed_identity_client_id
        .clone()
        .unwrap_or_else(|| "system".to_string())
}

fn applies(p: &Profile, cache: &Cache) -> Option<String> {
    detect(p, cache).map(|(_, why)| why)
}

/// Which host `flow = managed-identity` uses here, for its reason.
fn forced_host() -> String {
    match host_for_flow() {
        Host::Imds => format!("IMDS at {}", imds_base()),
        Host::AppService => "App Service: IDENTITY_ENDPOINT".into(),
        Host::CloudShell => "Cloud Shell: MSI_ENDPOINT".into(),
        Host::Arc => "Azure Arc: IDENTITY_ENDPOINT and IMDS_ENDPOINT".into(),
    }
}

/// The managed identity source. The host is the environment's, else IMDS
/// ([`host_for_flow`]): what `auto`'s [`detect`] found, when it found one.
pub struct ManagedIdentity;

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

/// A `GET` token request to the local endpoint `u` for `resource` (`api-version`, `resource`,
/// the identity's parameter if any) with the header `name: value`, and the URL to show.
fn token_get(
    mut u: url::Url,
    api_version: &str,
    resource: &str,
    param: Option<(&'static str, String)>,
    (name, value): (&str, &str),
) -> (Request, String) {
    u.query_pairs_mut()
        .append_pair("api-version", api_version)
        .append_pair("resource", resource);
    if let Some((k, v)) = &param {
        u.query_pairs_mut().append_pair(k, v);
    }
    let mut r = Request::get(u.to_string()).header(name, value);
    r.allow_plain_http = true;
    (r, crate::http::redact_url(&u))
}

impl ManagedIdentity {
    fn request(
        host: &Host,
        profile: &Profile,
        resource: &str,
    ) -> Result<(Request, RetryPolicy, String)> {
        let identity = Identity::parse(profile.managed_identity_client_id.as_deref());
        let param = identity.param(host);
        match host {
            Host::Imds => imds::request(resource, param),
            Host::AppService => app_service::request(resource, param),
            Host::Arc => Err(Error::Other(
                "Azure Arc answers through its challenge (sources::managed_identity::arc)".into(),
            )),
            Host::CloudShell => cloud_shell::request(resource, &identity),
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
            let hint = match (host, resp.status) {
                (Host::AppService, 401 | 403) => " (is IDENTITY_HEADER current?)",
                _ => "",
            };
            super::refusal::refused(&context, resp.status, &msg, hint)
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
        let host = host_for_flow();
        if host == Host::Arc {
            return arc::acquire(ctx.http, ctx.profile, &resource);
        }
        let (req, policy, shown) = ManagedIdentity::request(&host, ctx.profile, &resource)?;
        let resp = ctx.http.send(&req, &policy)?;
        if !resp.ok() {
            if host == Host::Imds && is_no_identity(resp.status, &resp.body) {
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
            return Err(failure(&host, &shown, &resp));
        }
        parse_response(&resp.body, crate::timefmt::now()).map_err(|m| {
            Error::Other(format!(
                "managed identity ({}) at {shown}: {m} (HTTP {})",
                host.name(),
                resp.status
            ))
        })
    }
}
