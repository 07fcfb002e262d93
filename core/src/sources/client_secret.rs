//! Application sign-in with a client secret (`client_credentials`).

use super::{AppSource, Ctx};
use crate::entra::TokenResponse;
use crate::error::{Error, Result};

/// The client secret source.
pub struct ClientSecret;

impl AppSource for ClientSecret {
    fn acquire(&self, ctx: &Ctx<'_>, tenant: &str, scope: &str) -> Result<TokenResponse> {
        let p = ctx.profile;
        let secret = p.client_secret.as_ref().ok_or_else(|| {
            Error::Config(format!(
                "profile '{}' uses the client-secret flow but no secret is set (AZURE_CLIENT_SECRET)",
                p.name
            ))
        })?;
        if p.client_id == crate::config::DEFAULT_CLIENT_ID {
            return Err(Error::Config(
                "the client-secret flow needs the application's client id (AZURE_CLIENT_ID or client_id)".into(),
            ));
        }
        let form = vec![
            ("grant_type".into(), "client_credentials".into()),
            ("client_id".into(), p.client_id.clone()),
            ("client_secret".into(), secret.expose().clone()),
            ("scope".into(), scope.to_string()),
        ];
        ctx.entra().token(tenant, form, "client secret sign-in")
    }
}
