//! IMDS (VMs, scale sets, AKS nodes): where it is and the token request to it.

use super::env;
use crate::error::{one_line, Error, Result};
use crate::http::{Request, RetryPolicy};
use std::time::Duration;

/// The IMDS base URL when `AZURE_POD_IDENTITY_AUTHORITY_HOST` is unset.
pub const DEFAULT_IMDS: &str = "http://169.254.169.254";
/// The IMDS token path.
pub const IMDS_PATH: &str = "/metadata/identity/oauth2/token";
/// IMDS API version.
pub const IMDS_API_VERSION: &str = "2018-02-01";
/// IMDS budget when `ENTRA_CRED_HTTP_TIMEOUT` is unset.
pub const IMDS_BUDGET: Duration = Duration::from_secs(75);

/// Statuses IMDS is retried on.
static IMDS_RETRY: [u16; 15] = [
    404, 410, 429, 500, 501, 502, 503, 504, 505, 506, 507, 508, 509, 510, 511,
];

/// The IMDS base URL (`AZURE_POD_IDENTITY_AUTHORITY_HOST`, else the link-local address).
pub fn imds_base() -> String {
    env("AZURE_POD_IDENTITY_AUTHORITY_HOST")
        .unwrap_or_else(|| DEFAULT_IMDS.to_string())
        .trim()
        .trim_end_matches('/')
        .to_string()
}

fn imds_policy() -> RetryPolicy {
    let explicit = env("ENTRA_CRED_HTTP_TIMEOUT").is_some();
    RetryPolicy {
        statuses: &IMDS_RETRY,
        max_attempts: 12,
        budget: (!explicit).then_some(IMDS_BUDGET),
        ..RetryPolicy::default()
    }
}

/// The token request for `resource` (the identity `param` names, if any), its
/// retry policy and the URL to show.
pub(super) fn request(
    resource: &str,
    param: Option<(&'static str, String)>,
) -> Result<(Request, RetryPolicy, String)> {
    let base = imds_base();
    let u = url::Url::parse(&format!("{base}{IMDS_PATH}")).map_err(|e| {
        Error::Config(format!(
            "AZURE_POD_IDENTITY_AUTHORITY_HOST: '{}' is not a valid URL ({e})",
            one_line(&base)
        ))
    })?;
    let metadata = ("Metadata", "true");
    let (r, shown) = super::token_get(u, IMDS_API_VERSION, resource, param, metadata);
    Ok((r, imds_policy(), shown))
}
