//! Redeeming a refresh token for an access token to any scope (one sign-in
//! serves every audience). Entra rotates the refresh token on each use; the
//! caller stores the new one every time.

use crate::entra::{EntraClient, TokenResponse};
use crate::error::Result;
use crate::secret::Secret;

/// Scopes added to every user request, so that a refresh token (and an ID
/// token naming the account) come back.
pub const USER_SCOPES: &str = "offline_access openid profile";

/// `scope` plus [`USER_SCOPES`].
pub fn with_user_scopes(scope: &str) -> String {
    format!("{scope} {USER_SCOPES}")
}

/// Redeems `rt` at `tenant` for `scope`.
pub fn redeem(
    entra: &EntraClient<'_>,
    tenant: &str,
    client_id: &str,
    rt: &Secret<String>,
    scope: &str,
) -> Result<TokenResponse> {
    let form = vec![
        ("grant_type".into(), "refresh_token".into()),
        ("client_id".into(), client_id.to_string()),
        ("refresh_token".into(), rt.expose().clone()),
        ("scope".into(), with_user_scopes(scope)),
    ];
    entra.token(tenant, form, "refreshing the token")
}
