//! Application sign-in with a client secret (`client_credentials`).

use super::{Acquire, AppSource, Auto, Ctx, Identity, Source};
use crate::cache::Cache;
use crate::config::Profile;
use crate::entra::TokenResponse;
use crate::error::{Error, Result};

/// `flow = "client-secret"`; first in `auto`'s order when a secret is configured.
pub const SOURCE: Source = Source {
    name: "client-secret",
    identity: Identity::Application,
    auto: Auto::When(applies),
    detail: None,
    acquire: Acquire::App(&ClientSecret),
};

fn applies(p: &Profile, _: &Cache) -> Option<String> {
    p.client_secret.is_some().then(|| {
        format!(
            "a client secret is configured (client id from {})",
            p.client_id_origin.name()
        )
    })
}

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
