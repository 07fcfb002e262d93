//! GitHub Actions OIDC federation (`flow = "github-actions"`).
//!
//! For every Entra request: `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=<aud>`
//! with `Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`; the answer's
//! `value` is a JWT (about 5 minutes' life) sent to Entra as the client
//! assertion. GitHub sets both variables in a job whose workflow grants
//! `permissions: id-token: write`.

use super::ci_oidc::{self, Federation};
use super::{Auto, Ctx, Source};
use crate::cache::Cache;
use crate::config::Profile;
use crate::error::Result;
use crate::http::{redact_url, Request, RetryPolicy};
use crate::secret::Secret;

/// The variable with the OIDC token URL (it already carries a query).
pub const URL_VAR: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
/// The variable with the bearer token for that URL.
pub const TOKEN_VAR: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";

/// `flow = "github-actions"`; `auto` picks it in such a job for a configured client id.
pub const SOURCE: Source = Source::application("github-actions", Auto::When(applies), &JOB);

/// The GitHub Actions source.
const JOB: Federation = Federation {
    client_id_vars: "AZURE_CLIENT_ID",
    tenant_vars: "AZURE_TENANT_ID",
    fetch: |ctx| fetch(ctx, &ctx.profile.federated_audience),
    context: "GitHub Actions federated sign-in",
};

/// Whether this looks like a GitHub Actions job that may ask for OIDC tokens
/// (for `auto`: either variable set; the other one missing is then reported).
pub fn present() -> bool {
    crate::config::env_var(URL_VAR).is_some() || crate::config::env_var(TOKEN_VAR).is_some()
}

fn applies(p: &Profile, _: &Cache) -> Option<String> {
    (super::client_id_configured(p) && present()).then(|| {
        format!(
            "a GitHub Actions job that may request OIDC tokens ({URL_VAR}), for client id from {}",
            p.client_id_origin.name()
        )
    })
}

/// `$ACTIONS_ID_TOKEN_REQUEST_URL` with `audience=<audience>` appended.
pub fn token_url(raw: &str, audience: &str) -> Result<url::Url> {
    let mut u = ci_oidc::endpoint(URL_VAR, raw)?;
    u.query_pairs_mut().append_pair("audience", audience);
    Ok(u)
}

/// Fetches a new GitHub Actions OIDC token for `audience`.
pub fn fetch(ctx: &Ctx<'_>, audience: &str) -> Result<Secret<String>> {
    const WHAT: &str =
        "GitHub Actions federation needs it; GitHub sets it when the workflow or job grants `permissions: id-token: write`";
    let raw = ci_oidc::required_var(URL_VAR, WHAT)?;
    let request_token = ci_oidc::required_secret(TOKEN_VAR, WHAT)?;
    let u = token_url(&raw, audience)?;
    let shown = redact_url(&u);
    let req = Request::get(u.to_string())
        .header(
            "Authorization",
            &format!("bearer {}", request_token.expose()),
        )
        .header("Accept", "application/json");
    let resp = ctx.http.send(&req, &RetryPolicy::default())?;
    let hint = |status| {
        match status {
        401 | 403 => " (the job's ACTIONS_ID_TOKEN_REQUEST_TOKEN is not accepted: does the workflow grant `permissions: id-token: write`?)",
        _ => "",
    }
    };
    let token = ci_oidc::answer(
        "the GitHub Actions OIDC endpoint",
        &shown,
        &resp,
        hint,
        "value",
    )?;
    crate::debug!("GitHub Actions: a new OIDC token for {audience}");
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_is_appended_to_the_query() {
        let u = token_url(
            "https://pipelines.actions.githubusercontent.com/abc/idtoken?api-version=2.0",
            "api://AzureADTokenExchange",
        )
        .expect("url");
        assert_eq!(
            u.as_str(),
            "https://pipelines.actions.githubusercontent.com/abc/idtoken?api-version=2.0&audience=api%3A%2F%2FAzureADTokenExchange"
        );
        let u = token_url("http://127.0.0.1:9/idtoken", "a b").expect("url");
        assert_eq!(u.query(), Some("audience=a+b"));
        assert_eq!(
            token_url("http://runner.example/x", "a")
                .expect_err("http")
                .exit_code(),
            2
        );
    }
}
