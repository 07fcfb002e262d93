//! Azure Artifacts (Cargo feeds): which index URLs are Azure Artifacts registries, and the
//! tenant a registry names in its `WWW-Authenticate` challenge.

use crate::azure_repos;
use crate::cache::Cache;
use crate::config::Profile;
use crate::hostport::HostPort;
use crate::{debug, net};

/// The Azure DevOps resource's scope: Azure Artifacts takes the same tokens as Azure Repos.
pub const DEVOPS_SCOPE: &str = azure_repos::DEVOPS_SCOPE;

/// Whether `h` is `pkgs.dev.azure.com` or `<org>.pkgs.visualstudio.com` on the https port
/// (443 or none). Asked through [`crate::hosts::Service::Artifacts`].
pub fn is_builtin(h: &HostPort) -> bool {
    let org =
        |org: &str| !org.is_empty() && org.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    h.on_https_port()
        && (h.host == "pkgs.dev.azure.com"
            || h.host
                .strip_suffix(".pkgs.visualstudio.com")
                .is_some_and(org))
}

/// The `host[:port]` of a Cargo index URL (`sparse+https://...`, `https://...`), when a token
/// may be sent to it: `https`, or `http` to a loopback host only. `None` otherwise.
pub fn index_host(index_url: &str) -> Option<String> {
    let raw = index_url.strip_prefix("sparse+").unwrap_or(index_url);
    let u = url::Url::parse(raw).ok()?;
    let host = match u.host()? {
        url::Host::Domain(d) => d.to_ascii_lowercase(),
        url::Host::Ipv4(a) => a.to_string(),
        url::Host::Ipv6(a) => format!("[{a}]"),
    };
    net::check(&u, false).ok()?;
    Some(match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    })
}

/// The tenant named by `authorization_uri=` in the `WWW-Authenticate` lines among the response
/// headers cargo passes (`"WWW-Authenticate: Bearer authorization_uri=..."`).
pub fn tenant_from_headers(headers: &[String]) -> Option<String> {
    let challenges: Vec<String> = headers
        .iter()
        .filter_map(|h| {
            let (name, value) = h.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("www-authenticate")
                .then(|| value.trim().to_string())
        })
        .collect();
    azure_repos::tenant_from_wwwauth(&challenges)
}

/// The organisation of an Azure Artifacts index URL: the subdomain of
/// `<org>.pkgs.visualstudio.com`, else the first path segment (`pkgs.dev.azure.com/<org>/...`).
pub fn organisation(index_url: &str) -> Option<String> {
    let raw = index_url.strip_prefix("sparse+").unwrap_or(index_url);
    let u = url::Url::parse(raw).ok()?;
    let host = u.host_str()?.to_ascii_lowercase();
    let org = match host.strip_suffix(".pkgs.visualstudio.com") {
        Some(org) => org.to_string(),
        None => u.path_segments()?.find(|s| !s.is_empty())?.to_string(),
    };
    let valid = !org.is_empty()
        && org.len() <= 100
        && org
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    valid.then_some(org)
}

/// The tenant to ask at, `None` for the profile's own: the profile's configured tenant, else
/// the registry's challenge (remembered per organisation, for requests that come without it:
/// `logout`, a `publish` in a later cargo run), else the remembered one, else the profile's
/// default (`organizations`).
pub fn tenant_for(
    profile: &Profile,
    index_url: &str,
    headers: &[String],
    cache: &Cache,
) -> Option<String> {
    if azure_repos::profile_tenant_configured(profile) {
        return None;
    }
    let memo = index_host(index_url).zip(organisation(index_url));
    let tenant = match tenant_from_headers(headers) {
        Some(t) => {
            debug!("tenant {t} from the registry's WWW-Authenticate");
            if let Some((host, org)) = &memo {
                if azure_repos::remembered_tenant(cache, host, org).as_deref() != Some(&t) {
                    if let Err(e) = azure_repos::remember_tenant(cache, host, org, &t) {
                        debug!("cannot remember the tenant of '{org}': {e}");
                    }
                }
            }
            t
        }
        None => {
            let (host, org) = memo?;
            azure_repos::remembered_tenant(cache, &host, &org)?
        }
    };
    (!tenant.eq_ignore_ascii_case(&profile.tenant)).then_some(tenant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_hosts() {
        for (url, want) in [
            (
                "sparse+https://pkgs.dev.azure.com/org/_packaging/feed/Cargo/index/",
                Some("pkgs.dev.azure.com"),
            ),
            ("sparse+http://127.0.0.1:8080/x/", Some("127.0.0.1:8080")),
            ("sparse+http://pkgs.dev.azure.com/x/", None),
            ("https://[::1]:9/x", Some("[::1]:9")),
            ("http://[::1]:9/x", Some("[::1]:9")),
            ("git://example/x", None),
            ("not a url", None),
        ] {
            assert_eq!(index_host(url).as_deref(), want, "{url}");
        }
    }

    #[test]
    fn tenant_from_the_challenge() {
        let headers = vec![
            "Content-Type: text/plain".to_string(),
            "www-authenticate: Bearer authorization_uri=https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47, Basic realm=\"x\"".to_string(),
        ];
        assert_eq!(
            tenant_from_headers(&headers).as_deref(),
            Some("72f988bf-86f1-41af-91ab-2d7cd011db47")
        );
        assert_eq!(
            tenant_from_headers(&["Bearer authorization_uri=x".into()]),
            None
        );
        assert_eq!(tenant_from_headers(&[]), None);
    }

    #[test]
    fn organisations() {
        for (url, want) in [
            (
                "sparse+https://pkgs.dev.azure.com/contoso/_packaging/f/Cargo/index/",
                Some("contoso"),
            ),
            (
                "sparse+https://contoso.pkgs.visualstudio.com/_packaging/f/Cargo/index/",
                Some("contoso"),
            ),
            ("sparse+https://pkgs.dev.azure.com/", None),
            ("sparse+https://pkgs.dev.azure.com/a%2Fb/x", None),
        ] {
            assert_eq!(organisation(url).as_deref(), want, "{url}");
        }
    }
}
