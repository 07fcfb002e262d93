//! Azure Pipelines OIDC federation through a service connection
//! (`flow = "azure-pipelines"`).
//!
//! For every Entra request:
//! `POST $SYSTEM_OIDCREQUESTURI?api-version=7.1&serviceConnectionId=<id>` with
//! `Authorization: Bearer $SYSTEM_ACCESSTOKEN`, `Content-Type: application/json`
//! and `X-TFS-FedAuthRedirect: Suppress` (without it a refused token is a
//! redirect to a sign-in page instead of a 401); the answer's `oidcToken` (about
//! 10 minutes' life) is sent to Entra as the client assertion.
//!
//! The service connection id comes from the profile's `service_connection_id`,
//! else `AZURESUBSCRIPTION_SERVICE_CONNECTION_ID` (set by the AzureCLI@2 and
//! AzurePowerShell@5 tasks, like `AZURESUBSCRIPTION_CLIENT_ID` and
//! `AZURESUBSCRIPTION_TENANT_ID`, which the configuration reads).

use super::ci_oidc::{self, Federation};
use super::{Auto, Ctx, Source};
use crate::cache::Cache;
use crate::config::Profile;
use crate::error::{Error, Result};
use crate::http::{redact_url, Method, Request, RetryPolicy};
use crate::secret::Secret;

/// The variable with the OIDC request URI (predefined in every job).
pub const URI_VAR: &str = "SYSTEM_OIDCREQUESTURI";
/// The job's access token (mapped explicitly: `env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)`).
pub const TOKEN_VAR: &str = "SYSTEM_ACCESSTOKEN";
/// The service connection id variable.
pub const CONNECTION_VAR: &str = "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID";
/// The API version of the OIDC token request.
pub const API_VERSION: &str = "7.1";

/// `flow = "azure-pipelines"`; `auto` picks it in a pipeline job with a
/// service connection, for a configured client id.
pub const SOURCE: Source = Source::application("azure-pipelines", Auto::When(applies), &JOB);

/// The Azure Pipelines source.
const JOB: Federation = Federation {
    client_id_vars: "AZURESUBSCRIPTION_CLIENT_ID (or AZURE_CLIENT_ID)",
    tenant_vars: "AZURESUBSCRIPTION_TENANT_ID (or AZURE_TENANT_ID)",
    fetch,
    context: "Azure Pipelines federated sign-in",
};

/// Whether `auto` should use Azure Pipelines: a pipeline job
/// (`SYSTEM_OIDCREQUESTURI`) with a service connection to use.
pub fn present(profile: &Profile) -> bool {
    crate::config::env_var(URI_VAR).is_some() && profile.service_connection_id.is_some()
}

fn applies(p: &Profile, _: &Cache) -> Option<String> {
    (super::client_id_configured(p) && present(p)).then(|| {
        format!(
            "an Azure Pipelines job ({URI_VAR}) with a service connection, for client id from {}",
            p.client_id_origin.name()
        )
    })
}

/// `$SYSTEM_OIDCREQUESTURI?api-version=7.1&serviceConnectionId=<id>`.
pub fn token_url(raw: &str, connection: &str) -> Result<url::Url> {
    let mut u = ci_oidc::endpoint(URI_VAR, raw)?;
    u.query_pairs_mut()
        .append_pair("api-version", API_VERSION)
        .append_pair("serviceConnectionId", connection);
    Ok(u)
}

/// Fetches a new Azure Pipelines OIDC token for the profile's service connection.
pub fn fetch(ctx: &Ctx<'_>) -> Result<Secret<String>> {
    let raw = ci_oidc::required_var(
        URI_VAR,
        "Azure Pipelines federation needs it; the agent sets it in every pipeline job",
    )?;
    let connection = ctx.profile.service_connection_id.clone().ok_or_else(|| {
        Error::Config(format!(
            "{CONNECTION_VAR} is not set: Azure Pipelines federation needs the service connection's id (set it, or service_connection_id in profile '{}'; see docs/ci.md)",
            ctx.profile.name
        ))
    })?;
    let access_token = ci_oidc::required_secret(
        TOKEN_VAR,
        "Azure Pipelines federation needs it; map it in the step: `env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)`",
    )?;
    let u = token_url(&raw, &connection)?;
    let shown = redact_url(&u);
    let mut req = Request::get(u.to_string())
        .header(
            "Authorization",
            &format!("Bearer {}", access_token.expose()),
        )
        .header("Content-Type", "application/json")
        .header("X-TFS-FedAuthRedirect", "Suppress")
        .header("Accept", "application/json");
    req.method = Method::Post;
    let resp = ctx.http.send(&req, &RetryPolicy::default())?;
    let hint = |status| match status {
        401 | 203 | 302 => " (is SYSTEM_ACCESSTOKEN this job's $(System.AccessToken)?)",
        400 | 404 => " (check the service connection id and that this pipeline may use it)",
        _ => "",
    };
    let token = ci_oidc::answer(
        "the Azure Pipelines OIDC endpoint",
        &shown,
        &resp,
        hint,
        "oidcToken",
    )?;
    crate::debug!("Azure Pipelines: a new OIDC token for the service connection");
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_url() {
        let u = token_url(
            "https://dev.azure.com/org/6f1a/_apis/distributedtask/hubs/build/plans/p/jobs/j/oidctoken",
            "3f2b0c1d-0000-4000-8000-000000000001",
        )
        .expect("url");
        assert_eq!(
            u.as_str(),
            "https://dev.azure.com/org/6f1a/_apis/distributedtask/hubs/build/plans/p/jobs/j/oidctoken?api-version=7.1&serviceConnectionId=3f2b0c1d-0000-4000-8000-000000000001"
        );
        // A connection id cannot smuggle in another parameter.
        let u = token_url("http://127.0.0.1:1/o", "x&api-version=1").expect("url");
        assert_eq!(
            u.query(),
            Some("api-version=7.1&serviceConnectionId=x%26api-version%3D1")
        );
        assert_eq!(
            token_url("http://10.0.0.1/o", "x")
                .expect_err("http")
                .exit_code(),
            2
        );
    }
}
