//! Tokens from the Azure CLI (`az account get-access-token`).
//! (Implemented with the non-interactive sources issue.)

use super::{AppSource, Ctx};
use crate::entra::TokenResponse;
use crate::error::{Error, Result};

/// The Azure CLI source.
pub struct AzureCli;

impl AppSource for AzureCli {
    fn acquire(&self, _ctx: &Ctx<'_>, _tenant: &str, _scope: &str) -> Result<TokenResponse> {
        Err(Error::Config(
            "the azure-cli flow is not available in this build yet".into(),
        ))
    }
}
