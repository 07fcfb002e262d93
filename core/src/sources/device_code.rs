//! Device code sign-in: the message goes to stderr, and polling needs no
//! terminal (stdin may be closed).

use super::{Auto, Source};
use crate::entra::{EntraClient, TokenOutcome, TokenResponse};
use crate::error::{Error, Result};
use std::time::{Duration, Instant};

/// `flow = "device-code"`: a person, and `auto`'s last resort (the cached
/// sign-in, or a device code sign-in when a person can answer).
pub const SOURCE: Source = Source::person(
    "device-code",
    Auto::Otherwise("no application credentials and no managed identity (App Service, Cloud Shell or IMDS); the signed-in user (device code sign-in when needed)"),
    sign_in,
);

/// Signs a person in with a device code, polling at Entra's interval
/// (`slow_down` adds 5 seconds) until the code is used, declined or expires.
pub fn sign_in(
    entra: &EntraClient<'_>,
    tenant: &str,
    client_id: &str,
    scope: &str,
) -> Result<TokenResponse> {
    let dc = entra.device_code(
        tenant,
        client_id,
        &super::refresh_token::with_user_scopes(scope),
    )?;
    eprintln!("{}", dc.message);
    let deadline = Instant::now() + Duration::from_secs(dc.expires_in as u64);
    let mut interval = dc.interval;
    loop {
        std::thread::sleep(Duration::from_secs(interval));
        if Instant::now() >= deadline {
            return Err(Error::InteractionRequired(
                "the device code expired before the sign-in was completed: run `entra-cred login` again".into(),
            ));
        }
        let form = vec![
            (
                "grant_type".into(),
                "urn:ietf:params:oauth:grant-type:device_code".into(),
            ),
            ("client_id".into(), client_id.to_string()),
            ("device_code".into(), dc.device_code.expose().clone()),
        ];
        match entra.token_outcome(tenant, form)? {
            TokenOutcome::Token(t) => return Ok(t),
            TokenOutcome::Error(e) => match e.error.as_str() {
                "authorization_pending" => continue,
                "slow_down" => interval += 5,
                "authorization_declined" => {
                    return Err(Error::Entra {
                        context: "device code sign-in was declined".into(),
                        entra: e,
                    })
                }
                "expired_token" | "code_expired" => {
                    return Err(Error::InteractionRequired(format!(
                        "the device code expired before the sign-in was completed ({}): run `entra-cred login` again",
                        e.aadsts().unwrap_or_else(|| e.error.clone())
                    )))
                }
                _ => return Err(Error::from_entra("device code sign-in", e)),
            },
        }
    }
}
