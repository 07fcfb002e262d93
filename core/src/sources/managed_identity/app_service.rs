//! App Service / Functions: `IDENTITY_ENDPOINT` with the `X-IDENTITY-HEADER` secret.

use super::{endpoint_url, env};
use crate::error::{Error, Result};
use crate::http::{redact_url, Request, RetryPolicy};

/// App Service API version.
pub const APP_SERVICE_API_VERSION: &str = "2019-08-01";

/// The token request for `resource` (the identity `param` names, if any), its
/// retry policy and the URL to show.
pub(super) fn request(
    resource: &str,
    param: Option<(&'static str, String)>,
) -> Result<(Request, RetryPolicy, String)> {
    let mut u = endpoint_url("IDENTITY_ENDPOINT")?;
    let header =
        env("IDENTITY_HEADER").ok_or_else(|| Error::Config("IDENTITY_HEADER is not set".into()))?;
    u.query_pairs_mut()
        .append_pair("api-version", APP_SERVICE_API_VERSION)
        .append_pair("resource", resource);
    if let Some((k, v)) = &param {
        u.query_pairs_mut().append_pair(k, v);
    }
    let shown = redact_url(&u);
    let mut r = Request::get(u.to_string()).header("X-IDENTITY-HEADER", &header);
    r.allow_plain_http = true;
    Ok((r, RetryPolicy::default(), shown))
}
