//! Application sign-in with a certificate (signed client assertion).
//! (Implemented with the non-interactive sources issue.)

use super::{AppSource, Ctx};
use crate::entra::TokenResponse;
use crate::error::{Error, Result};

/// The client certificate source.
pub struct ClientCertificate;

impl AppSource for ClientCertificate {
    fn acquire(&self, _ctx: &Ctx<'_>, _tenant: &str, _scope: &str) -> Result<TokenResponse> {
        Err(Error::Config(
            "the client-certificate flow is not available in this build yet".into(),
        ))
    }
}
