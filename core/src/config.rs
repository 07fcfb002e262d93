//! Profiles and configuration (SPEC.md "Configuration").
//!
//! A profile is resolved from, in order of precedence: command-line flags
//! ([`Overrides`]), the keys written in the chosen `[profiles.NAME]` table of
//! the TOML file, the environment (Azure SDK conventions), built-in defaults.
//!
//! One rule beyond plain precedence keeps a written profile safe from a shell
//! left set up for another program: the environment's *credentials*
//! (`AZURE_CLIENT_SECRET`, `AZURE_CLIENT_CERTIFICATE_PATH`,
//! `AZURE_FEDERATED_TOKEN_FILE`) are used only when the profile does not name
//! a `client_id`, or names the same one as `AZURE_CLIENT_ID`.

use crate::cloud::Cloud;
use crate::error::{one_line, Error, Result};
use crate::paths;
use crate::secret::Secret;
use crate::sources;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The public client id used when none is configured (the Azure CLI's).
pub const DEFAULT_CLIENT_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
/// The tenant used when none is configured.
pub const DEFAULT_TENANT: &str = "organizations";
/// The name of the default profile.
pub const DEFAULT_PROFILE: &str = "default";

/// How a profile gets its tokens (`flow = ...`): `auto`, or the name of a
/// token source in [`crate::sources::REGISTRY`], which is where the names
/// come from. The constants name the flows that code elsewhere singles out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow(&'static str);

#[allow(non_upper_case_globals)] // named as the enum variants they replaced, for their callers
impl Flow {
    /// Pick the first source that applies (SPEC.md order).
    pub const Auto: Flow = Flow("auto");
    /// Device code sign-in (a person enters a code on another device).
    pub const DeviceCode: Flow = Flow(sources::device_code::SOURCE.name());
    /// Browser sign-in (authorization code + PKCE on a loopback redirect).
    pub const Browser: Flow = Flow(sources::browser::SOURCE.name());
    /// Application with a client secret.
    pub const ClientSecret: Flow = Flow(sources::client_secret::SOURCE.name());
    /// Application with a certificate.
    pub const ClientCertificate: Flow = Flow(sources::client_certificate::SOURCE.name());
    /// Federated token file (AKS workload identity, CI OIDC).
    pub const WorkloadIdentity: Flow = Flow(sources::workload_identity::SOURCE.name());
    /// GitHub Actions OIDC token as the client assertion.
    pub const GithubActions: Flow = Flow(sources::github_actions::SOURCE.name());
    /// Azure Pipelines OIDC token (a service connection) as the client assertion.
    pub const AzurePipelines: Flow = Flow(sources::azure_pipelines::SOURCE.name());
    /// Managed identity (App Service, Cloud Shell, Azure Arc, IMDS).
    pub const ManagedIdentity: Flow = Flow(sources::managed_identity::SOURCE.name());
    /// Tokens from `az account get-access-token`.
    pub const AzureCli: Flow = Flow(sources::azure_cli::SOURCE.name());

    /// Every flow: `auto`, then each registered source.
    pub fn all() -> impl Iterator<Item = Flow> {
        std::iter::once(Flow::Auto).chain(sources::REGISTRY.iter().map(|s| Flow(s.name())))
    }

    /// Parses a flow name (`device-code`, ...; `_` is accepted for `-`).
    pub fn parse(s: &str) -> Result<Flow> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        Flow::all().find(|f| f.0 == norm).ok_or_else(|| {
            let names: Vec<_> = Flow::all().map(Flow::name).collect();
            Error::Config(format!(
                "unknown flow '{}' (expected one of: {})",
                one_line(s),
                names.join(", ")
            ))
        })
    }

    /// The flow's name as written in the configuration.
    pub fn name(self) -> &'static str {
        self.0
    }

    /// The source this flow names (`None` for `auto`).
    pub fn source(self) -> Option<&'static sources::Source> {
        sources::Source::named(self.0)
    }

    /// Whether the flow signs in a person (and keeps a refresh token).
    pub fn is_user(self) -> bool {
        self.source().is_some_and(sources::Source::is_person)
    }
}

impl Default for Flow {
    fn default() -> Flow {
        Flow::Auto
    }
}

/// A list of hosts, written as a TOML array or a comma-separated string.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
enum HostList {
    List(Vec<String>),
    Csv(String),
}

impl HostList {
    fn into_vec(self) -> Vec<String> {
        match self {
            HostList::List(v) => v.iter().flat_map(|s| split_hosts(s)).collect(),
            HostList::Csv(s) => split_hosts(&s),
        }
    }
}

/// Splits `a.example, b.example:8080` into lower-case host entries.
pub fn split_hosts(s: &str) -> Vec<String> {
    s.split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect()
}

/// One `[profiles.NAME]` table as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    tenant: Option<String>,
    client_id: Option<String>,
    flow: Option<String>,
    authority: Option<String>,
    cloud: Option<String>,
    client_secret: Option<String>,
    certificate: Option<PathBuf>,
    federated_token_file: Option<PathBuf>,
    managed_identity_client_id: Option<String>,
    git_hosts: Option<HostList>,
    acr_hosts: Option<HostList>,
    acr_scope: Option<String>,
    artifacts_hosts: Option<HostList>,
    server_id: Option<String>,
    service_connection_id: Option<String>,
    federated_audience: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    profiles: BTreeMap<String, ProfileFile>,
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--profile` / `-p`.
    pub profile: Option<String>,
    /// `--tenant`.
    pub tenant: Option<String>,
    /// `--client-id`.
    pub client_id: Option<String>,
    /// `--flow`.
    pub flow: Option<Flow>,
}

/// Where a resolved value came from (shown by `entra-cred status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A command-line flag.
    Flag,
    /// The configuration file.
    File,
    /// An environment variable.
    Env,
    /// The built-in default.
    Default,
}

impl Origin {
    /// A word for people.
    pub fn name(self) -> &'static str {
        match self {
            Origin::Flag => "flag",
            Origin::File => "config file",
            Origin::Env => "environment",
            Origin::Default => "default",
        }
    }
}

/// A fully resolved profile: everything a token source needs.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The profile's name.
    pub name: String,
    /// Whether the profile exists as a table in the file.
    pub in_file: bool,
    /// Tenant id or name (`organizations` by default).
    pub tenant: String,
    /// Where [`Profile::tenant`] came from.
    pub tenant_origin: Origin,
    /// Application (client) id.
    pub client_id: String,
    /// Where [`Profile::client_id`] came from.
    pub client_id_origin: Origin,
    /// The configured flow (`auto` by default).
    pub flow: Flow,
    /// Authority base URL without a trailing slash, validated.
    pub authority: String,
    /// The cloud.
    pub cloud: Cloud,
    /// Client secret (profile, else `AZURE_CLIENT_SECRET`).
    pub client_secret: Option<Secret<String>>,
    /// Certificate path (profile, else `AZURE_CLIENT_CERTIFICATE_PATH`).
    pub certificate: Option<PathBuf>,
    /// `AZURE_CLIENT_CERTIFICATE_PASSWORD`.
    pub certificate_password: Option<Secret<String>>,
    /// Whether to send the certificate chain (`x5c`): `AZURE_CLIENT_SEND_CERTIFICATE_CHAIN`.
    pub send_certificate_chain: bool,
    /// Federated token file (profile, else `AZURE_FEDERATED_TOKEN_FILE`).
    pub federated_token_file: Option<PathBuf>,
    /// User-assigned managed identity client id (profile, else `AZURE_CLIENT_ID`
    /// when the managed-identity flow is chosen).
    pub managed_identity_client_id: Option<String>,
    /// Extra Azure Repos hosts (profile, plus `ENTRA_CRED_GIT_HOSTS`).
    pub git_hosts: Vec<String>,
    /// Extra registry hosts (profile, plus `ENTRA_CRED_ACR_HOSTS`).
    pub acr_hosts: Vec<String>,
    /// Scope used for the ACR exchange (default `https://containerregistry.azure.net/.default`).
    pub acr_scope: Option<String>,
    /// AKS server application id.
    pub server_id: Option<String>,
    /// Azure Pipelines service connection id (profile, else
    /// `AZURESUBSCRIPTION_SERVICE_CONNECTION_ID`).
    pub service_connection_id: Option<String>,
    /// Audience of CI OIDC tokens (default [`DEFAULT_FEDERATED_AUDIENCE`]).
    pub federated_audience: String,
    /// Extra Azure Artifacts hosts (profile, plus `ENTRA_CRED_ARTIFACTS_HOSTS`).
    pub artifacts_hosts: Vec<String>,
}

/// The audience Entra expects in federated assertions.
pub const DEFAULT_FEDERATED_AUDIENCE: &str = "api://AzureADTokenExchange";

/// The parsed configuration file (possibly absent).
#[derive(Debug, Default)]
pub struct Config {
    path: Option<PathBuf>,
    file: FileConfig,
}

/// Reads a variable, treating empty as unset.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Config {
    /// Loads the configuration file from its standard place. A missing file is
    /// an empty configuration; an unreadable or invalid one is exit 2.
    pub fn load() -> Result<Config> {
        match paths::config_file() {
            Some(p) => Config::load_from(&p),
            None => Ok(Config::default()),
        }
    }

    /// Loads a configuration file from `path`.
    pub fn load_from(path: &Path) -> Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Config {
                    path: Some(path.to_path_buf()),
                    file: FileConfig::default(),
                })
            }
            Err(e) => {
                return Err(Error::Config(format!(
                    "cannot read {}: {e}",
                    path.display()
                )))
            }
        };
        let file =
            Config::parse(&text).map_err(|m| Error::Config(format!("{}: {m}", path.display())))?;
        Ok(Config {
            path: Some(path.to_path_buf()),
            file,
        })
    }

    fn parse(text: &str) -> std::result::Result<FileConfig, String> {
        toml::from_str::<FileConfig>(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            match line {
                Some(l) => format!("line {l}: {}", one_line(e.message())),
                None => one_line(e.message()),
            }
        })
    }

    /// Parses configuration text (for tests and fuzzing).
    pub fn from_toml(text: &str) -> Result<Config> {
        let file = Config::parse(text).map_err(Error::Config)?;
        Ok(Config { path: None, file })
    }

    /// The file this configuration was read from.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The names of the profiles in the file (plus `default`, which always exists).
    pub fn profile_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.file.profiles.keys().cloned().collect();
        if !names.iter().any(|n| n == DEFAULT_PROFILE) {
            names.insert(0, DEFAULT_PROFILE.to_string());
        }
        names
    }

    /// The name of the profile to use: the flag, else `ENTRA_CRED_PROFILE`,
    /// else `default`. The second value says whether it was named explicitly.
    pub fn chosen_name(overrides: &Overrides) -> (String, bool) {
        if let Some(p) = overrides.profile.as_deref().filter(|p| !p.is_empty()) {
            return (p.to_string(), true);
        }
        if let Some(p) = env_var("ENTRA_CRED_PROFILE") {
            return (p, true);
        }
        (DEFAULT_PROFILE.to_string(), false)
    }

    /// The first profile in the file whose `git_hosts` (`acr_hosts`, `artifacts_hosts`) lists
    /// `host` (`host` or `host:port`, compared as [`crate::hostport::HostPort::matches`] says).
    pub fn profile_for_host(&self, host: &str, kind: HostKind) -> Option<String> {
        let host = crate::hostport::HostPort::parse(host)?;
        self.file.profiles.iter().find_map(|(name, p)| {
            let list = match kind {
                HostKind::Git => p.git_hosts.clone(),
                HostKind::Acr => p.acr_hosts.clone(),
                HostKind::Artifacts => p.artifacts_hosts.clone(),
            }?;
            host.listed_in(&list.into_vec()).then(|| name.clone())
        })
    }

    /// Resolves the chosen profile with the process environment.
    pub fn profile(&self, overrides: &Overrides) -> Result<Profile> {
        self.profile_with_env(overrides, &env_var)
    }

    /// Resolves the chosen profile with `env` as the environment.
    pub fn profile_with_env(
        &self,
        overrides: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Profile> {
        let (name, explicit) = match overrides.profile.as_deref().filter(|p| !p.is_empty()) {
            Some(p) => (p.to_string(), true),
            None => match env("ENTRA_CRED_PROFILE") {
                Some(p) => (p, true),
                None => (DEFAULT_PROFILE.to_string(), false),
            },
        };
        let table = self.file.profiles.get(&name);
        if table.is_none() && explicit && name != DEFAULT_PROFILE {
            return Err(Error::ProfileNotFound(name));
        }
        let f = table.cloned().unwrap_or_default();
        let ctx = |key: &str| format!("profile '{name}': {key}");

        // Values with precedence flag > file > env > default.
        let pick = |flag: Option<&String>, file: Option<&String>, env_name: &str| {
            if let Some(v) = flag.filter(|v| !v.trim().is_empty()) {
                Some((v.trim().to_string(), Origin::Flag))
            } else if let Some(v) = file.filter(|v| !v.trim().is_empty()) {
                Some((v.trim().to_string(), Origin::File))
            } else {
                env(env_name).map(|v| (v.trim().to_string(), Origin::Env))
            }
        };

        // In Azure Pipelines (a service connection's task), tenant and client id may come
        // from AZURESUBSCRIPTION_*, after AZURE_*, when the flow is azure-pipelines or auto.
        let pipelines_ids = match overrides
            .flow
            .or_else(|| f.flow.as_deref().and_then(|s| Flow::parse(s).ok()))
        {
            Some(Flow::AzurePipelines) => true,
            None | Some(Flow::Auto) => env("SYSTEM_OIDCREQUESTURI").is_some(),
            Some(_) => false,
        };
        let pipelines_env = |name: &str| {
            pipelines_ids
                .then(|| env(name))
                .flatten()
                .map(|v| (v.trim().to_string(), Origin::Env))
        };

        let (tenant, tenant_origin) = pick(
            overrides.tenant.as_ref(),
            f.tenant.as_ref(),
            "AZURE_TENANT_ID",
        )
        .or_else(|| pipelines_env("AZURESUBSCRIPTION_TENANT_ID"))
        .unwrap_or_else(|| (DEFAULT_TENANT.to_string(), Origin::Default));
        validate_id(&tenant).map_err(|m| Error::Config(format!("{}: {m}", ctx("tenant"))))?;

        let picked_client_id = pick(
            overrides.client_id.as_ref(),
            f.client_id.as_ref(),
            "AZURE_CLIENT_ID",
        );
        let client_id_from_pipelines = picked_client_id.is_none();
        let (client_id, client_id_origin) = picked_client_id
            .or_else(|| pipelines_env("AZURESUBSCRIPTION_CLIENT_ID"))
            .unwrap_or_else(|| (DEFAULT_CLIENT_ID.to_string(), Origin::Default));
        let client_id_from_pipelines =
            client_id_from_pipelines && client_id_origin != Origin::Default;
        validate_id(&client_id).map_err(|m| Error::Config(format!("{}: {m}", ctx("client_id"))))?;

        let flow = match (overrides.flow, f.flow.as_deref()) {
            (Some(fl), _) => fl,
            (None, Some(s)) => Flow::parse(s).map_err(|e| match e {
                Error::Config(m) => Error::Config(format!("{}: {m}", ctx("flow"))),
                other => other,
            })?,
            (None, None) => Flow::Auto,
        };

        let cloud = match f.cloud.as_deref() {
            Some(c) => Cloud::parse(c).ok_or_else(|| {
                Error::Config(format!(
                    "{}: unknown cloud '{}' (expected {})",
                    ctx("cloud"),
                    one_line(c),
                    Cloud::names_shown()
                ))
            })?,
            None => Cloud::Public,
        };
        let (authority_raw, authority_key) = if let Some(a) = f.authority.as_ref() {
            (a.clone(), ctx("authority"))
        } else if f.cloud.is_some() {
            (cloud.authority().to_string(), ctx("cloud"))
        } else if let Some(a) = env("AZURE_AUTHORITY_HOST") {
            (a, "AZURE_AUTHORITY_HOST".to_string())
        } else {
            (cloud.authority().to_string(), "authority".to_string())
        };
        let authority = validate_authority(&authority_raw)
            .map_err(|m| Error::Config(format!("{authority_key}: {m}")))?;

        // Environment credentials only for the application they were meant for.
        let env_creds_apply = match (&f.client_id, env("AZURE_CLIENT_ID")) {
            (None, _) => true,
            (Some(file_id), Some(env_id)) => file_id.trim() == env_id.trim(),
            (Some(_), None) => false,
        } && overrides
            .client_id
            .as_ref()
            .is_none_or(|flag_id| env("AZURE_CLIENT_ID").as_deref() == Some(flag_id.as_str()));
        let env_cred = |n: &str| if env_creds_apply { env(n) } else { None };

        let client_secret = f
            .client_secret
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| env_cred("AZURE_CLIENT_SECRET"))
            .map(Secret::new);
        let certificate = f
            .certificate
            .clone()
            .or_else(|| env_cred("AZURE_CLIENT_CERTIFICATE_PATH").map(PathBuf::from));
        let certificate_password = env("AZURE_CLIENT_CERTIFICATE_PASSWORD").map(Secret::new);
        let send_certificate_chain = matches!(
            env("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN")
                .map(|v| v.to_ascii_lowercase())
                .as_deref(),
            Some("1") | Some("true")
        );
        let federated_token_file = f
            .federated_token_file
            .clone()
            .or_else(|| env_cred("AZURE_FEDERATED_TOKEN_FILE").map(PathBuf::from));
        // A forced managed-identity flow takes the profile's client id; under `auto`
        // only AZURE_CLIENT_ID does (the Azure SDK convention), never a client id
        // written for a user sign-in.
        let managed_identity_client_id = f.managed_identity_client_id.clone().or_else(|| {
            ((flow == Flow::ManagedIdentity && client_id_origin != Origin::Default)
                || (flow == Flow::Auto
                    && client_id_origin == Origin::Env
                    && !client_id_from_pipelines))
                .then(|| client_id.clone())
        });

        // A host list: the file's, then the variable's.
        let hosts = |file: &Option<HostList>, var: &str| {
            let mut list = file.clone().map(HostList::into_vec).unwrap_or_default();
            list.extend(env(var).map(|s| split_hosts(&s)).unwrap_or_default());
            list
        };
        let git_hosts = hosts(&f.git_hosts, "ENTRA_CRED_GIT_HOSTS");
        let acr_hosts = hosts(&f.acr_hosts, "ENTRA_CRED_ACR_HOSTS");
        let artifacts_hosts = hosts(&f.artifacts_hosts, "ENTRA_CRED_ARTIFACTS_HOSTS");

        Ok(Profile {
            name,
            in_file: table.is_some(),
            tenant,
            tenant_origin,
            client_id,
            client_id_origin,
            flow,
            authority,
            cloud,
            client_secret,
            certificate,
            certificate_password,
            send_certificate_chain,
            federated_token_file,
            managed_identity_client_id,
            git_hosts,
            acr_hosts,
            acr_scope: f.acr_scope.clone().filter(|s| !s.trim().is_empty()),
            server_id: f.server_id.clone().filter(|s| !s.trim().is_empty()),
            service_connection_id: f
                .service_connection_id
                .clone()
                .filter(|s| !s.trim().is_empty())
                .or_else(|| env("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID"))
                .map(|s| s.trim().to_string()),
            federated_audience: f
                .federated_audience
                .clone()
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|| DEFAULT_FEDERATED_AUDIENCE.to_string()),
            artifacts_hosts,
        })
    }
}

/// Which host list [`Config::profile_for_host`] searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// `git_hosts`.
    Git,
    /// `acr_hosts`.
    Acr,
    /// `artifacts_hosts`.
    Artifacts,
}

/// A tenant or client id: letters, digits, `.`, `-`, `_` only (it becomes a URL path segment).
fn validate_id(v: &str) -> std::result::Result<(), String> {
    if v.is_empty() || v.len() > 256 {
        return Err("must not be empty".into());
    }
    if !v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(format!("'{}' is not a valid id", one_line(v)));
    }
    Ok(())
}

pub use crate::net::is_loopback_host;

/// Checks an authority URL: `https://`, or `http://` on loopback only.
/// Returns it without a trailing slash.
pub fn validate_authority(raw: &str) -> std::result::Result<String, String> {
    let url = url::Url::parse(raw.trim())
        .map_err(|e| format!("'{}' is not a valid URL ({e})", one_line(raw)))?;
    url.host_str()
        .ok_or_else(|| format!("'{}' has no host", one_line(raw)))?;
    match crate::net::check(&url, false) {
        Ok(()) => {}
        Err(crate::net::Refusal::PlainHttp(_)) => {
            return Err(format!(
                "'{}' uses plain http, which is allowed only for loopback hosts; use https",
                one_line(raw)
            ))
        }
        Err(_) => {
            return Err(format!(
                "unsupported scheme '{}' in '{}'",
                url.scheme(),
                one_line(raw)
            ))
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "'{}' must not have a query or fragment",
            one_line(raw)
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| m.get(k).cloned()
    }

    #[test]
    fn empty_config_uses_env_and_defaults() {
        let c = Config::default();
        let p = c
            .profile_with_env(&Overrides::default(), &env_of(&[]))
            .expect("profile");
        assert_eq!(p.name, "default");
        assert_eq!(p.tenant, "organizations");
        assert_eq!(p.client_id, DEFAULT_CLIENT_ID);
        assert_eq!(p.flow, Flow::Auto);
        assert_eq!(p.authority, "https://login.microsoftonline.com");
        let p = c
            .profile_with_env(
                &Overrides::default(),
                &env_of(&[
                    ("AZURE_TENANT_ID", "t1"),
                    ("AZURE_CLIENT_ID", "c1"),
                    ("AZURE_CLIENT_SECRET", "s"),
                ]),
            )
            .expect("profile");
        assert_eq!((p.tenant.as_str(), p.client_id.as_str()), ("t1", "c1"));
        assert!(p.client_secret.is_some());
    }

    #[test]
    fn precedence_flag_file_env_default() {
        let c = Config::from_toml(
            "[profiles.work]\ntenant = \"file-t\"\nclient_id = \"file-c\"\nflow = \"device-code\"\n",
        )
        .expect("parses");
        let env = env_of(&[
            ("AZURE_TENANT_ID", "env-t"),
            ("AZURE_CLIENT_ID", "env-c"),
            ("AZURE_CLIENT_SECRET", "s"),
        ]);
        let o = Overrides {
            profile: Some("work".into()),
            ..Default::default()
        };
        let p = c.profile_with_env(&o, &env).expect("profile");
        assert_eq!(p.tenant, "file-t");
        assert_eq!(p.client_id, "file-c");
        assert_eq!(p.flow, Flow::DeviceCode);
        // The env secret belongs to another app: not used with this profile.
        assert!(p.client_secret.is_none());
        let o = Overrides {
            profile: Some("work".into()),
            tenant: Some("flag-t".into()),
            flow: Some(Flow::Browser),
            ..Default::default()
        };
        let p = c.profile_with_env(&o, &env).expect("profile");
        assert_eq!(p.tenant, "flag-t");
        assert_eq!(p.flow, Flow::Browser);
    }

    #[test]
    fn named_profile_must_exist() {
        let c = Config::from_toml("[profiles.a]\n").expect("parses");
        let o = Overrides {
            profile: Some("b".into()),
            ..Default::default()
        };
        let e = c.profile_with_env(&o, &env_of(&[])).expect_err("missing");
        assert_eq!(e.exit_code(), 2);
        let e = c.profile_with_env(
            &Overrides::default(),
            &env_of(&[("ENTRA_CRED_PROFILE", "zz")]),
        );
        assert_eq!(e.expect_err("missing").exit_code(), 2);
        // `default` always exists, even when not written.
        assert!(c
            .profile_with_env(&Overrides::default(), &env_of(&[]))
            .is_ok());
    }

    #[test]
    fn invalid_files_are_config_errors() {
        for bad in [
            "[profiles.a]\ntennant = \"x\"\n",
            "[profile.a]\n",
            "[profiles.a\n",
            "[profiles.a]\nflow = \"magic\"\n",
        ] {
            let r = Config::from_toml(bad).and_then(|c| {
                c.profile_with_env(
                    &Overrides {
                        profile: Some("a".into()),
                        ..Default::default()
                    },
                    &env_of(&[]),
                )
            });
            let e = r.expect_err(bad);
            assert_eq!(e.exit_code(), 2, "{bad}");
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }

    #[test]
    fn authority_rules() {
        assert_eq!(
            validate_authority("https://login.microsoftonline.com/").as_deref(),
            Ok("https://login.microsoftonline.com")
        );
        assert!(validate_authority("http://127.0.0.1:8080").is_ok());
        assert!(validate_authority("http://127.1.2.3:8080").is_ok());
        assert!(validate_authority("http://localhost:1").is_ok());
        assert!(validate_authority("http://[::1]:1").is_ok());
        assert!(validate_authority("http://login.microsoftonline.com").is_err());
        assert!(validate_authority("http://10.0.0.1").is_err());
        assert!(validate_authority("http://localhost.evil.example").is_err());
        assert!(validate_authority("ftp://x").is_err());
        let c = Config::default();
        let e = c
            .profile_with_env(
                &Overrides::default(),
                &env_of(&[("AZURE_AUTHORITY_HOST", "http://example.com")]),
            )
            .expect_err("refused");
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn cloud_sets_authority_over_env() {
        let c = Config::from_toml("[profiles.default]\ncloud = \"usgov\"\n").expect("parses");
        let p = c
            .profile_with_env(
                &Overrides::default(),
                &env_of(&[("AZURE_AUTHORITY_HOST", "http://127.0.0.1:1")]),
            )
            .expect("profile");
        assert_eq!(p.authority, "https://login.microsoftonline.us");
    }

    #[test]
    fn cloud_and_authority_precedence() {
        let c = Config::from_toml(
            "[profiles.cn]\ncloud = \"china\"\n[profiles.both]\ncloud = \"usgov\"\nauthority = \"http://127.0.0.1:7\"\n[profiles.bad]\ncloud = \"mars\"\n",
        )
        .expect("parses");
        let named = |n: &str| Overrides {
            profile: Some(n.into()),
            ..Default::default()
        };
        let env = env_of(&[("AZURE_AUTHORITY_HOST", "http://127.0.0.1:1")]);
        let p = c.profile_with_env(&named("cn"), &env).expect("cn");
        assert_eq!(p.authority, "https://login.chinacloudapi.cn");
        assert_eq!(
            p.cloud.arm_scope(),
            "https://management.chinacloudapi.cn/.default"
        );
        assert_eq!(p.cloud.acr_suffix(), ".azurecr.cn");
        // an authority written in the profile wins over its cloud's
        let p = c.profile_with_env(&named("both"), &env).expect("both");
        assert_eq!(
            (p.authority.as_str(), p.cloud),
            ("http://127.0.0.1:7", Cloud::UsGov)
        );
        // no cloud key: the environment's authority, the public cloud's audiences
        let p = c
            .profile_with_env(&Overrides::default(), &env)
            .expect("default");
        assert_eq!(
            (p.authority.as_str(), p.cloud),
            ("http://127.0.0.1:1", Cloud::Public)
        );
        let e = c.profile_with_env(&named("bad"), &env).expect_err("mars");
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("public, usgov or china"), "{e}");
    }

    #[test]
    fn managed_identity_client_id_sources() {
        let c = Config::from_toml(
            "[profiles.mi]\nflow = \"managed-identity\"\nclient_id = \"file-c\"\n[profiles.user]\nclient_id = \"public-c\"\n[profiles.ua]\nmanaged_identity_client_id = \"object_id=o1\"\n",
        )
        .expect("parses");
        let named = |n: &str| Overrides {
            profile: Some(n.into()),
            ..Default::default()
        };
        let env = env_of(&[("AZURE_CLIENT_ID", "env-c")]);
        let mi = |n: &str, e: &dyn Fn(&str) -> Option<String>| {
            c.profile_with_env(&named(n), e)
                .expect("profile")
                .managed_identity_client_id
        };
        // forced flow: the profile's client id
        assert_eq!(mi("mi", &env).as_deref(), Some("file-c"));
        // auto: AZURE_CLIENT_ID (Azure SDK convention), never a file client id for users
        assert_eq!(mi("default", &env).as_deref(), Some("env-c"));
        assert_eq!(mi("user", &env), None);
        assert_eq!(mi("default", &env_of(&[])), None);
        // the explicit key wins
        assert_eq!(mi("ua", &env).as_deref(), Some("object_id=o1"));
    }

    #[test]
    fn hosts_from_file_and_env() {
        let c = Config::from_toml(
            "[profiles.ado]\ngit_hosts = [\"Git.Example:8443\"]\n[profiles.acr]\nacr_hosts = \"r1.example, r2.example\"\n",
        )
        .expect("parses");
        assert_eq!(
            c.profile_for_host("git.example:8443", HostKind::Git)
                .as_deref(),
            Some("ado")
        );
        assert_eq!(
            c.profile_for_host("r2.example:5000", HostKind::Acr)
                .as_deref(),
            Some("acr")
        );
        assert_eq!(c.profile_for_host("r3.example", HostKind::Acr), None);
        let o = Overrides {
            profile: Some("acr".into()),
            ..Default::default()
        };
        let p = c
            .profile_with_env(&o, &env_of(&[("ENTRA_CRED_ACR_HOSTS", "x.example")]))
            .expect("p");
        assert_eq!(p.acr_hosts, vec!["r1.example", "r2.example", "x.example"]);
    }

    #[test]
    fn ipv6_hosts_are_split_at_their_port() {
        let c =
            Config::from_toml("[profiles.v6]\ngit_hosts = [\"[::1]\", \"[2001:db8::1]:8443\"]\n")
                .expect("parses");
        let git = |h: &str| c.profile_for_host(h, HostKind::Git);
        assert_eq!(git("[::1]:8080").as_deref(), Some("v6"));
        assert_eq!(git("[2001:db8::1]:8443").as_deref(), Some("v6"));
        assert_eq!(git("[2001:db8::1]:8444"), None);
        assert_eq!(git("[::2]:8080"), None);
    }

    #[test]
    fn ci_federation_keys_and_pipelines_ids() {
        let c = Config::from_toml(
            "[profiles.gh]\nfederated_audience = \"api://AzureADTokenExchangeUSGov\"\n[profiles.ado]\nservice_connection_id = \"sc-file\"\n[profiles.other]\nflow = \"device-code\"\n",
        )
        .expect("parses");
        let named = |n: &str| Overrides {
            profile: Some(n.into()),
            ..Default::default()
        };
        let p = c.profile_with_env(&named("gh"), &env_of(&[])).expect("gh");
        assert_eq!(p.federated_audience, "api://AzureADTokenExchangeUSGov");
        assert_eq!(p.service_connection_id, None);
        let pipeline = env_of(&[
            (
                "SYSTEM_OIDCREQUESTURI",
                "https://dev.azure.com/o/p/_apis/x/oidctoken",
            ),
            ("AZURESUBSCRIPTION_CLIENT_ID", "sub-client"),
            ("AZURESUBSCRIPTION_TENANT_ID", "sub-tenant"),
            ("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID", "sc-env"),
        ]);
        let p = c
            .profile_with_env(&Overrides::default(), &pipeline)
            .expect("default");
        assert_eq!(p.federated_audience, DEFAULT_FEDERATED_AUDIENCE);
        assert_eq!(
            (p.client_id.as_str(), p.tenant.as_str()),
            ("sub-client", "sub-tenant")
        );
        assert_eq!(p.client_id_origin, Origin::Env);
        assert_eq!(p.service_connection_id.as_deref(), Some("sc-env"));
        // not a managed identity's client id
        assert_eq!(p.managed_identity_client_id, None);
        // the profile's key wins over the variable
        let p = c.profile_with_env(&named("ado"), &pipeline).expect("ado");
        assert_eq!(p.service_connection_id.as_deref(), Some("sc-file"));
        // AZURE_* wins over AZURESUBSCRIPTION_*
        let p = c
            .profile_with_env(
                &Overrides::default(),
                &env_of(&[
                    ("SYSTEM_OIDCREQUESTURI", "https://x.example/o"),
                    ("AZURESUBSCRIPTION_CLIENT_ID", "sub-client"),
                    ("AZURE_CLIENT_ID", "azure-client"),
                ]),
            )
            .expect("p");
        assert_eq!(p.client_id, "azure-client");
        // another flow, or no pipeline: not used
        let p = c
            .profile_with_env(&named("other"), &pipeline)
            .expect("other");
        assert_eq!(p.client_id, DEFAULT_CLIENT_ID);
        let p = c
            .profile_with_env(
                &Overrides::default(),
                &env_of(&[("AZURESUBSCRIPTION_CLIENT_ID", "sub-client")]),
            )
            .expect("p");
        assert_eq!(p.client_id, DEFAULT_CLIENT_ID);
        let forced = Overrides {
            flow: Some(Flow::AzurePipelines),
            ..Default::default()
        };
        let p = c
            .profile_with_env(
                &forced,
                &env_of(&[("AZURESUBSCRIPTION_CLIENT_ID", "sub-client")]),
            )
            .expect("p");
        assert_eq!(p.client_id, "sub-client");
        assert_eq!(
            Flow::parse("github_actions").expect("flow"),
            Flow::GithubActions
        );
        assert_eq!(Flow::AzurePipelines.name(), "azure-pipelines");
    }

    #[test]
    fn ids_are_validated() {
        let c = Config::from_toml("[profiles.default]\ntenant = \"../../evil\"\n").expect("parses");
        assert_eq!(
            c.profile_with_env(&Overrides::default(), &env_of(&[]))
                .expect_err("bad")
                .exit_code(),
            2
        );
    }
}
