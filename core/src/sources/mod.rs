//! Token sources: where a token comes from when the cache has none.
//!
//! [`resolve`] picks the source of a profile (its `flow`, or for `auto` the
//! SPEC.md order: client secret or certificate, workload identity, managed
//! identity, a cached user login, then an interactive sign-in). Resolution is
//! cheap (environment, configuration, one small cache file), because it runs
//! before the cache is asked; anything slow happens in the source itself.

pub mod azure_cli;
pub mod browser;
pub mod client_certificate;
pub mod client_secret;
pub mod device_code;
pub mod managed_identity;
pub mod refresh_token;
pub mod workload_identity;

use crate::cache::{Cache, SessionKey};
use crate::config::{Flow, Origin, Profile};
use crate::entra::TokenResponse;
use crate::error::Result;
use crate::http::Http;

/// Everything a source needs to make a request.
pub struct Ctx<'a> {
    /// The lazily built HTTP client.
    pub http: &'a Http,
    /// The resolved profile.
    pub profile: &'a Profile,
    /// The cache (for sources that keep state, e.g. the IMDS probe result).
    pub cache: &'a Cache,
}

/// A source that obtains tokens without a person and without a refresh
/// token: each call gets a new access token for `scope` at `tenant`.
pub trait AppSource {
    /// Fetches an access token.
    fn acquire(&self, ctx: &Ctx<'_>, tenant: &str, scope: &str) -> Result<TokenResponse>;
}

/// The resolved source of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Application with a client secret.
    ClientSecret,
    /// Application with a certificate.
    ClientCertificate,
    /// Federated token file.
    WorkloadIdentity,
    /// Managed identity on the given host kind.
    ManagedIdentity(managed_identity::Host),
    /// The Azure CLI's tokens.
    AzureCli,
    /// A person: the cached refresh token, and a sign-in with `flow`
    /// (device code or browser) when there is none and a person can answer.
    User(Flow),
}

impl Source {
    /// The source's name (as a `flow` value).
    pub fn name(&self) -> &'static str {
        match self {
            Source::ClientSecret => "client-secret",
            Source::ClientCertificate => "client-certificate",
            Source::WorkloadIdentity => "workload-identity",
            Source::ManagedIdentity(_) => "managed-identity",
            Source::AzureCli => "azure-cli",
            Source::User(f) => f.name(),
        }
    }

    /// The client id this source's tokens are cached under. It names the
    /// identity that obtains them, so that no other kind of credential is
    /// ever served them (SPEC.md "Token cache"): a person's sign-in keeps the
    /// bare client id; every application credential kind is prefixed with
    /// its name (`client-secret:<id>`, ...).
    pub fn session_client_id(&self, profile: &Profile) -> String {
        match self {
            Source::ManagedIdentity(_) => format!(
                "managed-identity:{}",
                profile
                    .managed_identity_client_id
                    .as_deref()
                    .unwrap_or("system")
            ),
            Source::AzureCli => "azure-cli".to_string(),
            Source::User(_) => profile.client_id.clone(),
            other => format!("{}:{}", other.name(), profile.client_id),
        }
    }

    /// The session key of this source for `profile`.
    pub fn session_key(&self, profile: &Profile) -> SessionKey {
        SessionKey {
            authority: profile.authority.clone(),
            tenant: profile.tenant.clone(),
            client_id: self.session_client_id(profile),
        }
    }

    /// The implementation of an application source (`None` for [`Source::User`]).
    pub fn app(&self) -> Option<Box<dyn AppSource>> {
        match self {
            Source::ClientSecret => Some(Box::new(client_secret::ClientSecret)),
            Source::ClientCertificate => Some(Box::new(client_certificate::ClientCertificate)),
            Source::WorkloadIdentity => Some(Box::new(workload_identity::WorkloadIdentity)),
            Source::ManagedIdentity(h) => {
                Some(Box::new(managed_identity::ManagedIdentity(h.clone())))
            }
            Source::AzureCli => Some(Box::new(azure_cli::AzureCli)),
            Source::User(_) => None,
        }
    }
}

/// Picks the source of `profile`, with the reason (for `entra-cred status`).
pub fn resolve(profile: &Profile, cache: &Cache) -> Result<(Source, String)> {
    let origin = |o: Origin| o.name();
    Ok(match profile.flow {
        Flow::DeviceCode => (Source::User(Flow::DeviceCode), "flow = device-code".into()),
        Flow::Browser => (Source::User(Flow::Browser), "flow = browser".into()),
        Flow::ClientSecret => (Source::ClientSecret, "flow = client-secret".into()),
        Flow::ClientCertificate => (
            Source::ClientCertificate,
            "flow = client-certificate".into(),
        ),
        Flow::WorkloadIdentity => (Source::WorkloadIdentity, "flow = workload-identity".into()),
        Flow::ManagedIdentity => {
            let host = managed_identity::host_for_flow();
            let at = match host {
                managed_identity::Host::Imds => {
                    format!("IMDS at {}", managed_identity::imds_base())
                }
                managed_identity::Host::AppService => "App Service: IDENTITY_ENDPOINT".into(),
                managed_identity::Host::CloudShell => "Cloud Shell: MSI_ENDPOINT".into(),
            };
            (
                Source::ManagedIdentity(host),
                format!("flow = managed-identity ({at})"),
            )
        }
        Flow::AzureCli => (Source::AzureCli, "flow = azure-cli".into()),
        Flow::Auto => {
            if profile.client_secret.is_some() {
                (
                    Source::ClientSecret,
                    format!(
                        "auto: a client secret is configured (client id from {})",
                        origin(profile.client_id_origin)
                    ),
                )
            } else if let Some(cert) = &profile.certificate {
                (
                    Source::ClientCertificate,
                    format!(
                        "auto: a client certificate is configured ({})",
                        cert.display()
                    ),
                )
            } else if let Some(file) = &profile.federated_token_file {
                (
                    Source::WorkloadIdentity,
                    format!(
                        "auto: a federated token file is configured ({})",
                        file.display()
                    ),
                )
            } else if let Some((host, why)) = managed_identity::detect(cache) {
                (Source::ManagedIdentity(host), format!("auto: {why}"))
            } else {
                // No file read here: this runs on every cache hit.
                (
                    Source::User(Flow::DeviceCode),
                    "auto: no application credentials and no managed identity (App Service, Cloud Shell or IMDS); the signed-in user (device code sign-in when needed)".into(),
                )
            }
        }
    })
}
