//! The one host-to-profile router: which service a host belongs to and which
//! profile answers for it. Hosts are served when they carry a built-in suffix
//! of the service (`dev.azure.com`, `*.azurecr.io`, `pkgs.dev.azure.com`, ...),
//! are listed in the service's variable (`ENTRA_CRED_GIT_HOSTS`,
//! `ENTRA_CRED_ACR_HOSTS`, `ENTRA_CRED_ARTIFACTS_HOSTS`), or are listed in a
//! profile's `git_hosts` / `acr_hosts` / `artifacts_hosts` (that profile then
//! answers unless `-p` says otherwise). Decided from configuration and
//! environment only: nothing leaves the machine for a host that is not ours.

use crate::config::{env_var, split_hosts, Config, HostKind, Overrides, Profile};
use crate::protocol::docker;
use crate::{azure_repos, debug, warn, Result};

/// A family of hosts entra-cred serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Azure Repos (git): `dev.azure.com`, `*.visualstudio.com`, `git_hosts`.
    AzureRepos,
    /// Azure Container Registry: `*.azurecr.io|cn|us`, `acr_hosts`.
    Acr,
    /// Azure Artifacts (Cargo feeds): `pkgs.dev.azure.com`, `*.pkgs.visualstudio.com`,
    /// `artifacts_hosts`.
    Artifacts,
}

impl Service {
    /// The variable listing extra hosts of this service.
    pub fn env_var(self) -> &'static str {
        match self {
            Service::AzureRepos => "ENTRA_CRED_GIT_HOSTS",
            Service::Acr => "ENTRA_CRED_ACR_HOSTS",
            Service::Artifacts => "ENTRA_CRED_ARTIFACTS_HOSTS",
        }
    }

    /// The profile key listing extra hosts of this service.
    pub fn host_kind(self) -> HostKind {
        match self {
            Service::AzureRepos => HostKind::Git,
            Service::Acr => HostKind::Acr,
            Service::Artifacts => HostKind::Artifacts,
        }
    }

    /// Whether `host` (`host[:port]`) has one of the service's built-in names.
    pub fn is_builtin(self, host: &str) -> bool {
        match self {
            Service::AzureRepos => azure_repos::is_builtin_host(host),
            Service::Acr => docker::normalize(host).is_some_and(|r| r.has_acr_suffix()),
            Service::Artifacts => crate::artifacts::is_builtin_host(host),
        }
    }

    /// Whether `host` is built in or named by an entry of `hosts` (`host` or `host:port`).
    pub fn serves(self, host: &str, hosts: &[String]) -> bool {
        match self {
            Service::Acr => docker::normalize(host).is_some_and(|r| r.is_served(hosts)),
            Service::AzureRepos | Service::Artifacts => {
                self.is_builtin(host) || azure_repos::host_listed(host, hosts)
            }
        }
    }

    /// The chosen profile's own list for this service (file plus variable).
    pub fn profile_hosts(self, p: &Profile) -> &[String] {
        match self {
            Service::AzureRepos => &p.git_hosts,
            Service::Acr => &p.acr_hosts,
            Service::Artifacts => &p.artifacts_hosts,
        }
    }

    /// Whether a host listed only by another profile is refused when `-p` chooses a profile
    /// that does not list it (docker's rule; git answers with the chosen profile).
    fn chosen_profile_must_list(self) -> bool {
        self == Service::Acr
    }
}

/// The profile that answers for `host`, or `None` when the host is not ours (the caller then
/// gives its protocol's "not mine" answer). `flag` is `-p` as given.
///
/// A configuration file that cannot be read fails the call only for hosts known to be ours
/// (built in or in the variable): other hosts must keep working with the tool's other helpers.
pub fn route(service: Service, host: &str, flag: Option<&str>) -> Result<Option<Profile>> {
    let env_hosts = env_var(service.env_var())
        .map(|s| split_hosts(&s))
        .unwrap_or_default();
    let ours_anyway = service.serves(host, &env_hosts);
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) if !ours_anyway => {
            warn!("{e}");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let listed_by = config.profile_for_host(host, service.host_kind());
    if !ours_anyway && listed_by.is_none() {
        debug!("{host} is not a host entra-cred serves for {service:?}");
        return Ok(None);
    }
    let profile = config.profile(&Overrides {
        profile: flag
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .or(listed_by),
        ..Overrides::default()
    })?;
    if service.chosen_profile_must_list() && !service.serves(host, service.profile_hosts(&profile))
    {
        debug!("{host} is not served by profile '{}'", profile.name);
        return Ok(None);
    }
    Ok(Some(profile))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_names() {
        assert!(Service::AzureRepos.is_builtin("dev.azure.com"));
        assert!(!Service::AzureRepos.is_builtin("pkgs.dev.azure.com"));
        assert!(Service::Acr.is_builtin("MyReg.azurecr.io"));
        assert!(!Service::Acr.is_builtin("azurecr.io"));
        assert!(Service::Artifacts.is_builtin("pkgs.dev.azure.com"));
        assert!(Service::Artifacts.is_builtin("contoso.pkgs.visualstudio.com"));
        assert!(!Service::Artifacts.is_builtin("dev.azure.com"));
        assert!(!Service::Artifacts.is_builtin("index.crates.io"));
    }

    #[test]
    fn listed_hosts() {
        let l = vec!["127.0.0.1:8080".to_string(), "feeds.example".to_string()];
        assert!(Service::Artifacts.serves("127.0.0.1:8080", &l));
        assert!(!Service::Artifacts.serves("127.0.0.1:8081", &l));
        assert!(Service::Artifacts.serves("feeds.example:443", &l));
        assert!(Service::Acr.serves("feeds.example:5000", &l));
        assert!(!Service::Acr.serves("other.example", &l));
    }
}
