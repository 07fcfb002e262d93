//! Cloud Shell: `POST $MSI_ENDPOINT`, only the signed-in user's identity.

use super::{endpoint_url, Identity};
use crate::error::{Error, Result};
use crate::http::{redact_url, Request, RetryPolicy};

/// The token request for `resource` (Cloud Shell has no user-assigned
/// identities: any other `identity` is refused), its retry policy and the URL to show.
pub(super) fn request(
    resource: &str,
    identity: &Identity,
) -> Result<(Request, RetryPolicy, String)> {
    if *identity != Identity::System {
        return Err(Error::Config(
                "Cloud Shell has only its signed-in user's identity: remove managed_identity_client_id (or AZURE_CLIENT_ID) for this profile".into(),
            ));
    }
    let u = endpoint_url("MSI_ENDPOINT")?;
    let shown = redact_url(&u);
    let mut r = Request::post_form(
        u.to_string(),
        vec![("resource".into(), resource.to_string())],
    )
    .header("Metadata", "true");
    r.allow_plain_http = true;
    Ok((r, RetryPolicy::default(), shown))
}
