//! Token sources: where a token comes from when the cache has none.
//!
//! [`resolve`] picks the source of a profile (its `flow`, or for `auto` the
//! SPEC.md order: client secret or certificate, workload identity, GitHub
//! Actions OIDC, Azure Pipelines OIDC, managed identity, a cached user login,
//! then an interactive sign-in). Resolution is
//! cheap (environment, configuration, one small cache file), because it runs
//! before the cache is asked; anything slow happens in the source itself.

pub mod azure_cli;
pub mod azure_pipelines;
pub mod browser;
pub mod ci_oidc;
pub mod client_certificate;
pub mod client_secret;
pub mod device_code;
pub mod github_actions;
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
    /// A CAE claims challenge the token must satisfy (sources that ask Entra
    /// pass it on through [`Ctx::entra`]; managed identity and the Azure CLI
    /// cannot, and fetch a new token without it).
    pub claims: Option<&'a crate::cae::Claims>,
}

impl<'a> Ctx<'a> {
    /// An Entra client for the profile's authority that carries the claims challenge.
    pub fn entra(&self) -> crate::entra::EntraClient<'a> {
        crate::entra::EntraClient::new(self.http, &self.profile.authority).with_claims(self.claims)
    }
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
    /// GitHub Actions OIDC token.
    GithubActions,
    /// Azure Pipelines OIDC token (service connection).
    AzurePipelines,
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
            Source::GithubActions => "github-actions",
            Source::AzurePipelines => "azure-pipelines",
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
            Source::GithubActions => Some(Box::new(github_actions::GithubActions)),
            Source::AzurePipelines => Some(Box::new(azure_pipelines::AzurePipelines)),
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
        Flow::GithubActions => (Source::GithubActions, "flow = github-actions".into()),
        Flow::AzurePipelines => (Source::AzurePipelines, "flow = azure-pipelines".into()),
        Flow::ManagedIdentity => {
            let host = managed_identity::host_for_flow();
            let at = match host {
                managed_identity::Host::Imds => {
                    format!("IMDS at {}", managed_identity::imds_base())
                }
                managed_identity::Host::AppService => "App Service: IDENTITY_ENDPOINT".into(),
                managed_identity::Host::CloudShell => "Cloud Shell: MSI_ENDPOINT".into(),
                managed_identity::Host::Arc => {
                    "Azure Arc: IDENTITY_ENDPOINT and IMDS_ENDPOINT".into()
                }
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
            } else if let Some(ci) = ci_federation(profile) {
                ci
            } else if let Some((host, why)) = managed_identity::detect(profile, cache) {
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

/// `auto`'s CI federation step: GitHub Actions, then Azure Pipelines, for an
/// application whose client id is configured (a job that may ask for OIDC
/// tokens for another purpose, such as npm provenance, is not taken for one
/// that signs in to Entra with them).
fn ci_federation(profile: &Profile) -> Option<(Source, String)> {
    if profile.client_id_origin == Origin::Default {
        return None;
    }
    if github_actions::present() {
        Some((
            Source::GithubActions,
            format!(
                "auto: a GitHub Actions job that may request OIDC tokens ({}), for client id from {}",
                github_actions::URL_VAR,
                profile.client_id_origin.name()
            ),
        ))
    } else if azure_pipelines::present(profile) {
        Some((
            Source::AzurePipelines,
            format!(
                "auto: an Azure Pipelines job ({}) with a service connection, for client id from {}",
                azure_pipelines::URI_VAR,
                profile.client_id_origin.name()
            ),
        ))
    } else {
        None
    }
}

/// Whether a person can answer a sign-in prompt for a request made with `interaction`.
pub fn person_can_answer(interaction: crate::broker::Interaction) -> bool {
    use crate::broker::Interaction;
    use std::io::IsTerminal;
    match interaction {
        Interaction::Never => false,
        Interaction::Always => true,
        Interaction::IfPossible => std::io::stderr().is_terminal(),
    }
}

/// Whether `profile` can get a token without a person: an application source,
/// or a cached sign-in (its own, or the same person's for the same authority
/// and client at another tenant). No request, except `auto`'s bounded
/// managed identity probe; reads the cache only when the source is a person.
pub fn can_sign_in_without_person(profile: &Profile, cache: &Cache) -> Result<bool> {
    let (source, _) = resolve(profile, cache)?;
    if source.app().is_some() {
        return Ok(true);
    }
    let key = source.session_key(profile);
    if cache
        .load_session(&key)
        .is_some_and(|s| s.refresh_token.is_some())
    {
        return Ok(true);
    }
    Ok(cache.sessions().into_iter().any(|s| {
        s.refresh_token.is_some()
            && s.authority.eq_ignore_ascii_case(&key.authority)
            && s.client_id.eq_ignore_ascii_case(&key.client_id)
    }))
}

/// Exit 3 (with the `entra-cred login` hint) when nothing can sign in without
/// a person and no person can answer: called before a request that would only
/// serve a sign-in (such as Azure Repos tenant discovery), so that none is made.
pub fn require_sign_in_possible(
    profile: &Profile,
    cache: &Cache,
    interaction: crate::broker::Interaction,
) -> Result<()> {
    if person_can_answer(interaction) || can_sign_in_without_person(profile, cache)? {
        return Ok(());
    }
    Err(crate::error::Error::InteractionRequired(
        crate::broker::login_hint(profile),
    ))
}

/// What `entra-cred login` may promise after a sign-in: `None` when the
/// profile's tokens will now come from that sign-in, else why not (`auto`
/// picks another source on this machine first), so that `login` never claims
/// what it cannot back.
pub fn after_sign_in(profile: &Profile, cache: &Cache) -> Result<Option<String>> {
    let (source, why) = resolve(profile, cache)?;
    if matches!(source, Source::User(_)) {
        return Ok(None);
    }
    Ok(Some(format!(
        "profile '{}' takes its tokens from {} on this machine ({why}), not from this sign-in: set flow = \"device-code\" in the profile to use the sign-in",
        profile.name,
        source.name()
    )))
}
