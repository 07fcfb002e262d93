//! App Service / Functions: `IDENTITY_ENDPOINT` with the `X-IDENTITY-HEADER` secret.

use super::{endpoint_url, env, token_get};
use crate::error::{Error, Result};
use crate::http::{Request, RetryPolicy};

/// App Service API version.
pub const APP_SERVICE_API_VERSION: &str = "2019-08-01";

/// The token request for `resource` (the identity `param` names, if any), its
/// retry policy and the URL to show.
pub(super) fn request(
    resource: &str,
    param: Option<(&'static str, String)>,
) -> Result<(Request, RetryPolicy, String)> {
    let u = endpoint_url("IDENTITY_ENDPOINT")?;
    let header =
        env("IDENTITY_HEADER").ok_or_else(|| Error::Config("IDENTITY_HEADER is not set".into()))?;
    let header = ("X-IDENTITY-HEADER", header.as_str());
    let (r, shown) = token_get(u, APP_SERVICE_API_VERSION, resource, param, header);
    Ok((r, RetryPolicy::default(), shown))
}
