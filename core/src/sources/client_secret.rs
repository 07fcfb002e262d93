//! Application sign-in with a client secret (`client_credentials`).

use super::{AppSource, Auto, ClientAuth, Ctx, Source};
use crate::cache::Cache;
use crate::config::Profile;
use crate::entra::TokenResponse;
use crate::error::Result;

/// `flow = "client-secret"`; first in `auto`'s order when a secret is configured.
pub const SOURCE: Source = Source::application("client-secret", Auto::When(applies), &ClientSecret);

fn applies(p: &Profile, _: &Cache) -> Option<String> {
    let from = p.client_id_origin.name();
    p.client_secret
        .as_ref()
        .map(|_| format!("a client secret is configured (client id from {from})"))
}

/// The client secret source.
pub struct ClientSecret;

impl AppSource for ClientSecret {
    fn acquire(&self, ctx: &Ctx<'_>, tenant: &str, scope: &str) -> Result<TokenResponse> {
        let p = ctx.profile;
        let secret = super::required(
            p.client_secret.as_ref(),
            p,
            "the client-secret flow",
            "secret",
            "AZURE_CLIENT_SECRET",
        )?;
        let client_id = super::application_client_id(p, "client-secret")?;
        let form = super::client_credentials(client_id, ClientAuth::Secret(secret), scope);
        ctx.entra().token(tenant, form, "client secret sign-in")
    }
}
