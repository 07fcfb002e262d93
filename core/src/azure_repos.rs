//! Azure Repos: which hosts are served, organisations, and tenant discovery.
//!
//! The pure parts (host matching, organisation, `WWW-Authenticate` and
//! `X-VSS-ResourceTenant` parsing) are plain functions; [`tenant_for`] ties
//! them to the cache (the per-organisation memo, one small file read) and,
//! only when nothing else says, to one unauthenticated `HEAD`.

use crate::cache::{file, Cache};
use crate::config::{Origin, Profile, DEFAULT_TENANT};
use crate::error::Result;
use crate::hostport::{bare_host, HostPort};
use crate::http::{Http, Request, RetryPolicy};
use crate::protocol::git::GitRequest;
use crate::{debug, info};
use serde::{Deserialize, Serialize};

/// The Azure DevOps application.
pub const DEVOPS_RESOURCE: &str = "499b84ac-1321-427f-aa17-267ca6975798";
/// The scope of the tokens handed to git.
pub const DEVOPS_SCOPE: &str = "499b84ac-1321-427f-aa17-267ca6975798/.default";
/// The cache kind of the tenant memo (`<cache>/azure-repos/<hash>.json`).
pub const MEMO_KIND: &str = "azure-repos";
/// `X-VSS-ResourceTenant` of an organisation not backed by Entra ID.
const ZERO_GUID: &str = "00000000-0000-0000-0000-000000000000";

/// Whether `h` is `dev.azure.com` or `<org>.visualstudio.com` on the https port (443 or
/// none). Asked through [`crate::hosts::Service::AzureRepos`].
pub fn is_builtin(h: &HostPort) -> bool {
    h.on_https_port() && (h.host == "dev.azure.com" || visualstudio_org(&h.host).is_some())
}

/// The organisation of `<org>.visualstudio.com`.
fn visualstudio_org(host: &str) -> Option<&str> {
    let org = host.strip_suffix(".visualstudio.com")?;
    // One DNS label (letters, digits, `-`): nothing else can name an organisation.
    let label = org.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    (!org.is_empty() && label && org != "vs-ssh").then_some(org)
}

/// Whether git may send credentials for `host` over `protocol`: `https`
/// everywhere, `http` only to loopback hosts.
pub fn protocol_allowed(protocol: &str, host: &str) -> bool {
    crate::net::check_parts(protocol, bare_host(host), false).is_ok()
}

/// The organisation of a request: the subdomain of `*.visualstudio.com`,
/// else the first segment of `path`. On `dev.azure.com` without `path`
/// (no `credential.useHttpPath`), the user name of an
/// `https://<org>@dev.azure.com/...` clone URL, when it looks like one.
pub fn organisation(host: &str, path: Option<&str>, username: Option<&str>) -> Option<String> {
    let host = host.to_ascii_lowercase();
    if let Some(org) = visualstudio_org(bare_host(&host)) {
        return Some(org.to_string());
    }
    let valid = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && s != "."
            && s != ".."
    };
    if let Some(first) = path.and_then(|p| p.split('/').find(|s| !s.is_empty())) {
        return valid(first).then(|| first.to_string());
    }
    if bare_host(&host) == "dev.azure.com" {
        return username.filter(|u| valid(u)).map(str::to_string);
    }
    None
}

/// A tenant id or name fit to become a URL path segment.
fn valid_tenant(t: &str) -> bool {
    // Not `.` or `..`: a dot segment would move the authority's path (fuzz: git_tenant).
    !t.is_empty()
        && t.chars().any(|c| c != '.')
        && t.len() <= 256
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// Normalises a discovered tenant: the all-zero GUID (an organisation not
/// backed by Entra ID) becomes `organizations`.
fn normalise_tenant(t: &str) -> Option<String> {
    let t = t.trim().to_ascii_lowercase();
    if t == ZERO_GUID {
        return Some(DEFAULT_TENANT.to_string());
    }
    valid_tenant(&t).then_some(t)
}

/// The tenant in `Bearer authorization_uri=https://login.microsoftonline.com/<tid>`
/// among git's `wwwauth[]` lines (the first path segment of the URI).
pub fn tenant_from_wwwauth(wwwauth: &[String]) -> Option<String> {
    wwwauth.iter().find_map(|h| {
        let (scheme, params) = h.trim().split_once(char::is_whitespace)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        params.split(',').find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            if !k.trim().eq_ignore_ascii_case("authorization_uri") {
                return None;
            }
            let v = v.trim().trim_matches('"');
            let u = url::Url::parse(v).ok()?;
            let seg = u.path_segments()?.find(|s| !s.is_empty())?;
            normalise_tenant(seg)
        })
    })
}

/// The tenant in an `X-VSS-ResourceTenant` header (a GUID; all zeros means
/// `organizations`; a comma-separated list takes its first entry).
pub fn tenant_from_resource_header(v: &str) -> Option<String> {
    normalise_tenant(v.split(',').next()?.trim())
}

/// The URL of the unauthenticated discovery `HEAD`: `<protocol>://<host>/<org>`,
/// or `https://<org>.visualstudio.com/` where the host names the organisation.
pub fn discovery_url(protocol: &str, host: &str, org: &str) -> String {
    if visualstudio_org(bare_host(&host.to_ascii_lowercase())).is_some() {
        format!("{protocol}://{host}/")
    } else {
        format!("{protocol}://{host}/{org}")
    }
}

/// The remembered tenant of one organisation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantMemo {
    /// `host[:port]`.
    pub host: String,
    /// The organisation.
    pub org: String,
    /// The tenant (`organizations` for an organisation not backed by Entra ID).
    pub tenant: String,
    /// When it was discovered (POSIX seconds).
    pub discovered_at: i64,
}

fn memo_name(host: &str, org: &str) -> String {
    format!("{}/{}", host.to_ascii_lowercase(), org.to_ascii_lowercase())
}

/// The remembered tenant of `org` on `host` (one file read).
pub fn remembered_tenant(cache: &Cache, host: &str, org: &str) -> Option<String> {
    let m: TenantMemo = file::read_json(&cache.state_path(MEMO_KIND, &memo_name(host, org)))?;
    (m.host.eq_ignore_ascii_case(host) && m.org.eq_ignore_ascii_case(org))
        .then_some(m.tenant)
        .filter(|t| valid_tenant(t))
}

/// Remembers the tenant of `org` on `host`.
pub fn remember_tenant(cache: &Cache, host: &str, org: &str, tenant: &str) -> Result<()> {
    let memo = TenantMemo {
        host: host.to_ascii_lowercase(),
        org: org.to_string(),
        tenant: tenant.to_string(),
        discovered_at: crate::timefmt::now(),
    };
    file::ensure_private_dir(cache.dir())?;
    file::write_json(&cache.state_path(MEMO_KIND, &memo_name(host, org)), &memo)
}

/// Forgets the remembered tenant of `org` on `host`.
pub fn forget_tenant(cache: &Cache, host: &str, org: &str) {
    let _ = std::fs::remove_file(cache.state_path(MEMO_KIND, &memo_name(host, org)));
}

/// Asks the server: an unauthenticated `HEAD`, reading `X-VSS-ResourceTenant`
/// (or, failing that, the `Bearer authorization_uri` of a 401).
pub fn discover_tenant(
    http: &Http,
    protocol: &str,
    host: &str,
    org: &str,
) -> Result<Option<String>> {
    let url = discovery_url(protocol, host, org);
    let resp = http.send(&Request::head(url), &RetryPolicy::default())?;
    let from_header = resp
        .header("x-vss-resourcetenant")
        .and_then(tenant_from_resource_header);
    let found = from_header.or_else(|| {
        let www: Vec<String> = resp
            .headers
            .iter()
            .filter(|(k, _)| k == "www-authenticate")
            .map(|(_, v)| v.clone())
            .collect();
        tenant_from_wwwauth(&www)
    });
    debug!(
        "tenant discovery for organisation '{org}' on {host}: HTTP {} -> {}",
        resp.status,
        found.as_deref().unwrap_or("none")
    );
    Ok(found)
}

/// Whether the profile names its tenant on purpose (not the multi-tenant default).
pub fn profile_tenant_configured(profile: &Profile) -> bool {
    profile.tenant_origin != Origin::Default
        && !matches!(
            profile.tenant.to_ascii_lowercase().as_str(),
            "organizations" | "common"
        )
}

/// How far [`tenant_for`] may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovery {
    /// Use the network (`get`).
    Allowed,
    /// Use the network (`get`) only when a token could then be had: when
    /// nothing can sign in without a person and no person can answer (the
    /// interaction given), exit 3 at once instead, without any request.
    IfSignInPossible(crate::broker::Interaction),
    /// Profile, `wwwauth[]` and memo only (`erase`).
    Offline,
}

/// The tenant to ask for a token at, `None` for the profile's own:
/// the profile's configured tenant, else `authorization_uri=` from git's
/// `wwwauth[]`, else the memo of the organisation, else (when allowed) an
/// unauthenticated `HEAD` whose answer is remembered.
pub fn tenant_for(
    profile: &Profile,
    req: &GitRequest,
    cache: &Cache,
    http: &Http,
    discovery: Discovery,
) -> Result<Option<String>> {
    if profile_tenant_configured(profile) {
        return Ok(None);
    }
    let pick = |t: String| (!t.eq_ignore_ascii_case(&profile.tenant)).then_some(t);
    if let Some(t) = tenant_from_wwwauth(&req.wwwauth) {
        debug!("tenant {t} from the server's WWW-Authenticate");
        return Ok(pick(t));
    }
    let (Some(host), Some(protocol)) = (req.host.as_deref(), req.protocol.as_deref()) else {
        return Ok(None);
    };
    let Some(org) = organisation(host, req.path.as_deref(), req.username.as_deref()) else {
        info!(
            "no organisation for {host}: git sent no path (set `git config --global credential.https://{host}.useHttpPath true`); using the profile's tenant"
        );
        return Ok(None);
    };
    if let Some(t) = remembered_tenant(cache, host, &org) {
        return Ok(pick(t));
    }
    match discovery {
        Discovery::Offline => return Ok(None),
        Discovery::IfSignInPossible(interaction) => {
            crate::sources::require_sign_in_possible(profile, cache, interaction)?
        }
        Discovery::Allowed => {}
    }
    match discover_tenant(http, protocol, host, &org)? {
        Some(t) => {
            if let Err(e) = remember_tenant(cache, host, &org, &t) {
                debug!("cannot remember the tenant of '{org}': {e}");
            }
            Ok(pick(t))
        }
        None => {
            info!("{host} did not name the tenant of organisation '{org}'; using the profile's tenant");
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols() {
        assert!(protocol_allowed("https", "dev.azure.com"));
        assert!(!protocol_allowed("http", "dev.azure.com"));
        assert!(protocol_allowed("http", "127.0.0.1:8080"));
        assert!(protocol_allowed("http", "localhost"));
        assert!(protocol_allowed("http", "[::1]:9"));
        assert!(!protocol_allowed("ssh", "dev.azure.com"));
        assert!(!protocol_allowed("", "dev.azure.com"));
    }

    #[test]
    fn organisations() {
        assert_eq!(
            organisation("dev.azure.com", Some("contoso/p/_git/r"), None).as_deref(),
            Some("contoso")
        );
        assert_eq!(
            organisation("dev.azure.com", None, Some("contoso")).as_deref(),
            Some("contoso")
        );
        assert_eq!(organisation("dev.azure.com", None, Some("a@b.c")), None);
        assert_eq!(organisation("dev.azure.com", None, None), None);
        assert_eq!(
            organisation("fabrikam.visualstudio.com", Some("x/_git/r"), None).as_deref(),
            Some("fabrikam")
        );
        assert_eq!(
            organisation("127.0.0.1:9", Some("/org1/p/_git/r"), None).as_deref(),
            Some("org1")
        );
        assert_eq!(organisation("127.0.0.1:9", None, Some("org")), None);
        assert_eq!(organisation("dev.azure.com", Some("../x"), None), None);
        assert_eq!(organisation("dev.azure.com", Some("a b/x"), None), None);
        // Fuzz (git_tenant): the subdomain must be one DNS label to name an
        // organisation (and to make the host a built-in one).
        for host in [
            "?12\0-contoso.visualstudio.com",
            "a b.visualstudio.com",
            "x/y.visualstudio.com",
        ] {
            assert_eq!(organisation(host, None, None), None, "{host:?}");
            assert!(visualstudio_org(host).is_none(), "{host:?}");
        }
    }

    #[test]
    fn wwwauth() {
        let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            tenant_from_wwwauth(&w(&[
                "Basic realm=\"x\"",
                "Bearer authorization_uri=https://login.microsoftonline.com/72F988BF-86f1-41af-91ab-2d7cd011db47"
            ]))
            .as_deref(),
            Some("72f988bf-86f1-41af-91ab-2d7cd011db47")
        );
        assert_eq!(
            tenant_from_wwwauth(&w(&[
                "Bearer realm=\"\", authorization_uri=\"http://127.0.0.1:5/t1/\""
            ]))
            .as_deref(),
            Some("t1")
        );
        assert_eq!(
            tenant_from_wwwauth(&w(&[
                "Bearer authorization_uri=https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000"
            ]))
            .as_deref(),
            Some("organizations")
        );
        assert_eq!(
            tenant_from_wwwauth(&w(&["Basic realm=x", "TFS-Federated"])),
            None
        );
        assert_eq!(
            tenant_from_wwwauth(&w(&["Bearer authorization_uri=nonsense"])),
            None
        );
        assert_eq!(
            tenant_from_wwwauth(&w(&["Bearer authorization_uri=https://h/"])),
            None
        );
        assert_eq!(
            tenant_from_wwwauth(&w(&["Bearer authorization_uri=https://h/a%20b"])),
            None
        );
        assert_eq!(tenant_from_wwwauth(&w(&["", "Bearer", "Bearer ,,="])), None);
        // Fuzz (git_tenant): dot segments are no tenant.
        for t in [".", "..", "..."] {
            assert_eq!(tenant_from_resource_header(t), None, "{t}");
            let h = format!("Bearer authorization_uri=https://h/{t}/x");
            assert_ne!(tenant_from_wwwauth(&w(&[&h])).as_deref(), Some(t));
        }
        assert_eq!(tenant_from_resource_header("a.b").as_deref(), Some("a.b"));
    }

    #[test]
    fn resource_header() {
        assert_eq!(
            tenant_from_resource_header("72f988bf-86f1-41af-91ab-2d7cd011db47").as_deref(),
            Some("72f988bf-86f1-41af-91ab-2d7cd011db47")
        );
        assert_eq!(
            tenant_from_resource_header(ZERO_GUID).as_deref(),
            Some("organizations")
        );
        assert_eq!(tenant_from_resource_header("a/b"), None);
        assert_eq!(tenant_from_resource_header(""), None);
    }

    #[test]
    fn discovery_urls() {
        assert_eq!(
            discovery_url("https", "dev.azure.com", "contoso"),
            "https://dev.azure.com/contoso"
        );
        assert_eq!(
            discovery_url("https", "contoso.visualstudio.com", "contoso"),
            "https://contoso.visualstudio.com/"
        );
        assert_eq!(
            discovery_url("http", "127.0.0.1:9", "o"),
            "http://127.0.0.1:9/o"
        );
    }

    #[test]
    fn memo_roundtrip() {
        let d = tempfile::tempdir().expect("tempdir");
        let c = Cache::at(d.path().join("c"));
        assert_eq!(remembered_tenant(&c, "dev.azure.com", "contoso"), None);
        remember_tenant(&c, "dev.azure.com", "contoso", "t1").expect("write");
        assert_eq!(
            remembered_tenant(&c, "Dev.Azure.com", "contoso").as_deref(),
            Some("t1")
        );
        assert_eq!(remembered_tenant(&c, "dev.azure.com", "other"), None);
        forget_tenant(&c, "dev.azure.com", "contoso");
        assert_eq!(remembered_tenant(&c, "dev.azure.com", "contoso"), None);
    }
}
