//! The one host-to-profile router: which service a host belongs to and which
//! profile answers for it. Hosts are served when they carry a built-in suffix
//! of the service (`dev.azure.com`, `*.azurecr.io`, `pkgs.dev.azure.com`, ...),
//! are listed in the service's variable (`ENTRA_CRED_GIT_HOSTS`,
//! `ENTRA_CRED_ACR_HOSTS`, `ENTRA_CRED_ARTIFACTS_HOSTS`), or are listed in a
//! profile's `git_hosts` / `acr_hosts` / `artifacts_hosts` (that profile then
//! answers unless `-p` says otherwise). Decided from configuration and
//! environment only: nothing leaves the machine for a host that is not ours.

use crate::cloud::Cloud;
use crate::config::{env_var, split_hosts, Config, HostKind, Overrides, Profile};
use crate::hostport::HostPort;
use crate::{artifacts, azure_repos, debug, warn, Result};

/// A family of hosts entra-cred serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Azure Repos (git): `dev.azure.com`, `*.visualstudio.com`, `git_hosts`.
    AzureRepos,
    /// Azure Container Registry: `*<suffix>` of each of [`Cloud::ALL`] (`*.azurecr.io`, ...),
    /// `acr_hosts`.
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

    /// Whether `host` (`host[:port]`, or a URL) has one of the service's built-in names:
    /// Azure Repos' and Azure Artifacts' on the https port only, a registry under one of
    /// [`Cloud::ALL`]'s ACR suffixes on any port.
    pub fn is_builtin(self, host: &str) -> bool {
        HostPort::parse(host).is_some_and(|h| self.builtin(&h))
    }

    fn builtin(self, h: &HostPort) -> bool {
        match self {
            Service::AzureRepos => azure_repos::is_builtin(h),
            Service::Acr => Cloud::of_acr_host(&h.host).is_some(),
            Service::Artifacts => artifacts::is_builtin(h),
        }
    }

    /// Whether `host` is built in or named by an entry of `hosts` (`host` or `host:port`; see
    /// [`HostPort::matches`]).
    pub fn serves(self, host: &str, hosts: &[String]) -> bool {
        HostPort::parse(host).is_some_and(|h| self.builtin(&h) || h.listed_in(hosts))
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

    /// Every service's answer for hosts of every kind: built-in names (anchored, with the
    /// services' port rules) and listed ones.
    #[test]
    fn which_hosts_each_service_serves() {
        use Service::{Acr, Artifacts, AzureRepos};
        let listed: Vec<String> = ["git.example", "127.0.0.1:8080", "https://Reg.Example:8443/"]
            .map(String::from)
            .to_vec();
        #[rustfmt::skip]
        let cases: &[(Service, &str, bool, bool)] = &[
            // (service, host, built in, served with `listed`)
            (AzureRepos, "dev.azure.com", true, true),
            (AzureRepos, "Dev.Azure.com:443", true, true),
            (AzureRepos, "dev.azure.com.", true, true),
            (AzureRepos, "dev.azure.com:8080", false, false),
            (AzureRepos, "contoso.visualstudio.com", true, true),
            (AzureRepos, "fab-rikam2.visualstudio.com:443", true, true),
            (AzureRepos, "vs-ssh.visualstudio.com", false, false),
            (AzureRepos, "visualstudio.com", false, false),
            (AzureRepos, ".visualstudio.com", false, false),
            (AzureRepos, "a.b.visualstudio.com", false, false),
            (AzureRepos, "evilvisualstudio.com", false, false),
            (AzureRepos, "dev.azure.com.evil.example", false, false),
            (AzureRepos, "pkgs.dev.azure.com", false, false),
            (AzureRepos, "github.com", false, false),
            (AzureRepos, "git.example", false, true),
            (AzureRepos, "git.example:444", false, true),
            (AzureRepos, "127.0.0.1:8080", false, true),
            (AzureRepos, "127.0.0.1:8081", false, false),
            (AzureRepos, "127.0.0.1", false, false),
            (AzureRepos, "example", false, false),
            (Acr, "myreg.azurecr.io", true, true),
            (Acr, "MyReg.azurecr.io", true, true),
            (Acr, "https://myreg.azurecr.cn/v2/", true, true),
            (Acr, "myreg.azurecr.us:443", true, true),
            (Acr, "a.b.azurecr.io", true, true),
            (Acr, "azurecr.io", false, false),
            (Acr, ".azurecr.io", false, false),
            (Acr, "evilazurecr.io", false, false),
            (Acr, "azurecr.io.evil.com", false, false),
            (Acr, "myreg.azurecr.io.evil.com", false, false),
            (Acr, "myreg.azurecr.io@evil.com", false, false),
            (Acr, "evil.com/myreg.azurecr.io", false, false),
            (Acr, "https://evil.com/?myreg.azurecr.io", false, false),
            (Acr, "myreg.azurecr.com", false, false),
            (Acr, "https://index.docker.io/v1/", false, false),
            (Acr, "reg.example:8443", false, true),
            (Acr, "REG.example:8443/app", false, true),
            (Acr, "reg.example:8444", false, false),
            (Acr, "git.example:5000", false, true),
            (Artifacts, "pkgs.dev.azure.com", true, true),
            (Artifacts, "PKGS.dev.azure.com:443", true, true),
            (Artifacts, "contoso.pkgs.visualstudio.com", true, true),
            (Artifacts, "pkgs.dev.azure.com:8443", false, false),
            (Artifacts, ".pkgs.visualstudio.com", false, false),
            (Artifacts, "a.b.pkgs.visualstudio.com", false, false),
            (Artifacts, "dev.azure.com", false, false),
            (Artifacts, "index.crates.io", false, false),
            (Artifacts, "127.0.0.1:8080", false, true),
            (Artifacts, "git.example:443", false, true),
        ];
        for &(service, host, builtin, served) in cases {
            assert_eq!(service.is_builtin(host), builtin, "{service:?} {host}");
            assert_eq!(service.serves(host, &listed), served, "{service:?} {host}");
            assert_eq!(service.serves(host, &[]), builtin, "{service:?} {host}");
        }
    }
}
