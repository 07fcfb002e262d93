//! Managed identity: App Service / Functions, Cloud Shell, IMDS.
//! (Implemented with the non-interactive sources issue.)

use super::{AppSource, Ctx};
use crate::cache::Cache;
use crate::entra::TokenResponse;
use crate::error::{Error, Result};

/// Which managed identity endpoint serves this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`.
    AppService,
    /// `MSI_ENDPOINT`.
    CloudShell,
    /// The instance metadata service.
    Imds,
}

/// The host to use when `flow = managed-identity` is forced.
pub fn host_for_flow() -> Host {
    if std::env::var_os("IDENTITY_ENDPOINT").is_some()
        && std::env::var_os("IDENTITY_HEADER").is_some()
    {
        Host::AppService
    } else if std::env::var_os("MSI_ENDPOINT").is_some() {
        Host::CloudShell
    } else {
        Host::Imds
    }
}

/// Whether a managed identity is available, cheaply (for `auto`).
pub fn detect(_cache: &Cache) -> Option<(Host, String)> {
    None
}

/// The managed identity source.
pub struct ManagedIdentity(pub Host);

impl AppSource for ManagedIdentity {
    fn acquire(&self, _ctx: &Ctx<'_>, _tenant: &str, _scope: &str) -> Result<TokenResponse> {
        Err(Error::Config(
            "the managed-identity flow is not available in this build yet".into(),
        ))
    }
}
