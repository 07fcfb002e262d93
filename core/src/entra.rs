//! The Microsoft Entra ID v2.0 client: the token and device code endpoints,
//! their answers, and Entra errors as data (the bodies are read by [`crate::azure_error`]).

use crate::cae::Claims;
use crate::error::{one_line, EntraError, Error, Result};
use crate::http::{redact_url, Http, Request, RetryPolicy};
use crate::secret::Secret;
use serde_json::Value;

use crate::azure_error::parse_error;
use crate::json::number;

/// A successful token answer.
#[derive(Debug, Clone)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: Secret<String>,
    /// A (rotated) refresh token, for user sign-ins.
    pub refresh_token: Option<Secret<String>>,
    /// The ID token, when `openid` was asked.
    pub id_token: Option<Secret<String>>,
    /// Expiry, POSIX seconds.
    pub expires_on: i64,
    /// `Bearer`.
    pub token_type: String,
    /// The granted scopes, space separated.
    pub scope: String,
}

fn string(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Parses a successful token answer. `now` turns `expires_in` into `expires_on`.
pub fn parse_token_response(body: &str, now: i64) -> std::result::Result<TokenResponse, String> {
    let v: Value = serde_json::from_str(body.trim())
        .map_err(|_| "the answer is not valid JSON".to_string())?;
    let obj = v.as_object().ok_or("the answer is not a JSON object")?;
    let access_token = string(obj.get("access_token")).ok_or("the answer has no access_token")?;
    let expires_on = match (number(obj.get("expires_on")), number(obj.get("expires_in"))) {
        (Some(on), _) if on > 1_000_000_000 => on,
        // A token that is expired when it arrives is an error, never success.
        (_, Some(inn)) if inn <= 0 => {
            return Err(format!(
                "the answer's expires_in is {inn}: the token is already expired"
            ))
        }
        (_, Some(inn)) if (0..=10 * 365 * 86400).contains(&inn) => now + inn,
        _ => {
            // No usable expiry: read the token's own `exp`.
            crate::jwt::decode(&access_token)
                .and_then(|d| d.secs("exp"))
                .ok_or("the answer has no expires_in")?
        }
    };
    let expires_on = crate::timefmt::clamp_expiry(expires_on);
    Ok(TokenResponse {
        access_token: Secret::new(access_token),
        refresh_token: string(obj.get("refresh_token")).map(Secret::new),
        id_token: string(obj.get("id_token")).map(Secret::new),
        expires_on,
        token_type: string(obj.get("token_type")).unwrap_or_else(|| "Bearer".into()),
        scope: string(obj.get("scope")).unwrap_or_default(),
    })
}

/// The answer of `/devicecode`.
#[derive(Debug, Clone)]
pub struct DeviceCode {
    /// The secret code polled with.
    pub device_code: Secret<String>,
    /// The code the person types.
    pub user_code: String,
    /// Where to type it.
    pub verification_uri: String,
    /// Seconds until the code expires.
    pub expires_in: i64,
    /// Seconds between polls.
    pub interval: u64,
    /// Entra's message for the person.
    pub message: String,
}

/// Parses a `/devicecode` answer.
pub fn parse_device_code(body: &str) -> std::result::Result<DeviceCode, String> {
    let v: Value = serde_json::from_str(body.trim())
        .map_err(|_| "the answer is not valid JSON".to_string())?;
    let obj = v.as_object().ok_or("the answer is not a JSON object")?;
    let device_code = string(obj.get("device_code")).ok_or("the answer has no device_code")?;
    let user_code = string(obj.get("user_code")).ok_or("the answer has no user_code")?;
    let verification_uri = string(obj.get("verification_uri"))
        .or_else(|| string(obj.get("verification_url")))
        .ok_or("the answer has no verification_uri")?;
    let expires_in = number(obj.get("expires_in")).unwrap_or(900).clamp(1, 3600);
    let interval = number(obj.get("interval")).unwrap_or(5).clamp(1, 60) as u64;
    let message = string(obj.get("message")).unwrap_or_else(|| {
        format!("To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate.")
    });
    Ok(DeviceCode {
        device_code: Secret::new(device_code),
        user_code: one_line(&user_code),
        verification_uri: one_line(&verification_uri),
        expires_in,
        interval,
        message: one_line(&message),
    })
}

/// The outcome of one token request: a token, or Entra's error (which the
/// device code poller needs to see as data).
pub enum TokenOutcome {
    /// Success.
    Token(TokenResponse),
    /// An error answer from Entra.
    Error(EntraError),
}

/// A client for one authority (`https://login.microsoftonline.com`).
///
/// Every request it makes to the token and devicecode endpoints carries the
/// `claims` parameter of [`crate::cae::request_claims`]: the `cp1` capability
/// (unless `ENTRA_CRED_CAE=0`) merged with the claims challenge given to
/// [`EntraClient::with_claims`].
pub struct EntraClient<'a> {
    http: &'a Http,
    authority: &'a str,
    claims: Option<&'a Claims>,
}

impl<'a> EntraClient<'a> {
    /// A client; `authority` has been validated by the configuration.
    pub fn new(http: &'a Http, authority: &'a str) -> Self {
        EntraClient {
            http,
            authority,
            claims: None,
        }
    }

    /// The same client, asking for tokens that satisfy a claims challenge.
    pub fn with_claims(mut self, claims: Option<&'a Claims>) -> Self {
        self.claims = claims;
        self
    }

    /// The `claims` parameter every request carries (`None`: none to send).
    /// Reads `ENTRA_CRED_CAE` (a bad value is exit 2).
    pub fn claims_param(&self) -> Result<Option<String>> {
        Ok(crate::cae::request_claims(
            self.claims,
            crate::cae::declared()?,
        ))
    }

    /// `form` plus the `claims` parameter (replacing any the caller put there).
    fn with_claims_param(&self, mut form: Vec<(String, String)>) -> Result<Vec<(String, String)>> {
        form.retain(|(k, _)| k != "claims");
        if let Some(c) = self.claims_param()? {
            form.push(("claims".to_string(), c));
        }
        Ok(form)
    }

    /// `{authority}/{tenant}/oauth2/v2.0/token`.
    pub fn token_url(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/token", self.authority)
    }

    /// `{authority}/{tenant}/oauth2/v2.0/authorize`.
    pub fn authorize_url(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/authorize", self.authority)
    }

    /// POSTs a token request (with the `claims` parameter) and returns the
    /// token or Entra's error.
    pub fn token_outcome(&self, tenant: &str, form: Vec<(String, String)>) -> Result<TokenOutcome> {
        let form = self.with_claims_param(form)?;
        let url = self.token_url(tenant);
        let resp = self
            .http
            .send(&Request::post_form(&url, form), &RetryPolicy::default())?;
        let shown = url::Url::parse(&url)
            .map(|u| redact_url(&u))
            .unwrap_or_default();
        if resp.ok() {
            return parse_token_response(&resp.body, crate::timefmt::now())
                .map(TokenOutcome::Token)
                .map_err(|m| Error::Other(format!("{shown}: {m} (HTTP {})", resp.status)));
        }
        match parse_error(&resp.body, resp.status) {
            Some(e) => Ok(TokenOutcome::Error(e)),
            None => Err(Error::Other(format!(
                "{shown} answered HTTP {} without an Entra error; check the authority (AZURE_AUTHORITY_HOST)",
                resp.status
            ))),
        }
    }

    /// POSTs a token request; an Entra error becomes an [`Error`] described by `context`.
    pub fn token(
        &self,
        tenant: &str,
        form: Vec<(String, String)>,
        context: &str,
    ) -> Result<TokenResponse> {
        match self.token_outcome(tenant, form)? {
            TokenOutcome::Token(t) => Ok(t),
            TokenOutcome::Error(e) => Err(Error::from_entra(context, e)),
        }
    }

    /// Starts a device code sign-in.
    pub fn device_code(&self, tenant: &str, client_id: &str, scope: &str) -> Result<DeviceCode> {
        let url = format!("{}/{tenant}/oauth2/v2.0/devicecode", self.authority);
        let form = self.with_claims_param(vec![
            ("client_id".to_string(), client_id.to_string()),
            ("scope".to_string(), scope.to_string()),
        ])?;
        let resp = self
            .http
            .send(&Request::post_form(&url, form), &RetryPolicy::default())?;
        if resp.ok() {
            return parse_device_code(&resp.body)
                .map_err(|m| Error::Other(format!("starting the device code sign-in: {m}")));
        }
        match parse_error(&resp.body, resp.status) {
            Some(e) => Err(Error::from_entra("starting the device code sign-in", e)),
            None => Err(Error::Other(format!(
                "starting the device code sign-in: HTTP {} without an Entra error; check the authority",
                resp.status
            ))),
        }
    }
}

/// Test doubles for the modules that get tokens from Entra (ACR, STS, the engine).
#[cfg(test)]
pub(crate) mod testing {
    use crate::config::{Config, Overrides, Profile};
    use crate::http::{Http, Request, Response};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// An unsigned JWT with these claims (fuzz-found expiry cases).
    pub(crate) fn unsigned_jwt(claims: &str) -> String {
        use base64::Engine;
        let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", e(r#"{"alg":"none"}"#), e(claims))
    }

    /// Profile `name` of the configuration `toml`, the environment left out.
    pub(crate) fn profile(toml: &str, name: &str) -> Profile {
        let o = Overrides {
            profile: Some(name.into()),
            ..Overrides::default()
        };
        Config::from_toml(toml)
            .expect("config")
            .profile_with_env(&o, &|_| None)
            .expect("profile")
    }

    /// An application's profile (client secret): its tokens need no person.
    pub(crate) fn app_profile() -> Profile {
        profile(
            "[profiles.app]\ntenant = \"t1\"\nclient_id = \"c1\"\nflow = \"client-secret\"\nclient_secret = \"s\"\n",
            "app",
        )
    }

    /// A fake network with a call budget of `budget`: Entra's token endpoint
    /// answers every request with a new access token `token-<n>` (counted in
    /// `tokens`); `service` answers every other request.
    pub(crate) fn fake_network(
        budget: Duration,
        tokens: Arc<AtomicUsize>,
        service: impl Fn(&Request) -> Response + Send + Sync + 'static,
    ) -> Http {
        Http::with_transport(
            budget,
            Box::new(move |req: &Request, url: &url::Url, _left: Duration| {
                Ok(if url.path().ends_with("/oauth2/v2.0/token") {
                    let n = tokens.fetch_add(1, Ordering::SeqCst);
                    Response {
                        status: 200,
                        headers: Vec::new(),
                        body: format!(
                            r#"{{"token_type":"Bearer","expires_in":3600,"access_token":"token-{n}"}}"#
                        ),
                    }
                } else {
                    service(req)
                })
            }),
        )
        .with_failure_memory(None)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::unsigned_jwt as jwt_with;
    use super::*;

    #[test]
    fn expiry_far_outside_time_is_clamped() {
        // A JWT `exp` of i64::MIN would make `expires_on - now` overflow (a
        // panic in debug builds, "fresh forever" in release ones).
        let body = format!(
            r#"{{"access_token":"{}"}}"#,
            jwt_with(r#"{"exp":-9223372036854775808}"#)
        );
        assert_eq!(parse_token_response(&body, 5).expect("ok").expires_on, 0);
        let t = parse_token_response(r#"{"access_token":"a","expires_on":1e300}"#, 5).expect("ok");
        assert_eq!(t.expires_on, crate::timefmt::MAX_EXPIRY);
    }

    #[test]
    fn parses_token_answers() {
        let t = parse_token_response(
            r#"{"token_type":"Bearer","scope":"s","expires_in":3599,"access_token":"a","refresh_token":"r"}"#,
            1000,
        )
        .expect("parses");
        assert_eq!(t.expires_on, 4599);
        assert_eq!(t.access_token.expose(), "a");
        assert!(t.refresh_token.is_some());
        let t =
            parse_token_response(r#"{"access_token":"a","expires_in":"3600"}"#, 0).expect("string");
        assert_eq!(t.expires_on, 3600);
        assert!(parse_token_response(r#"{"access_tok"#, 0).is_err());
        assert!(parse_token_response(r#"{"expires_in":1}"#, 0).is_err());
        assert!(parse_token_response(r#"{"access_token":"a"}"#, 0).is_err());
        for bad in ["0", "-5", "\"-1\""] {
            let body = format!(r#"{{"access_token":"a","expires_in":{bad}}}"#);
            assert!(parse_token_response(&body, 0).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_device_code() {
        let d = parse_device_code(r#"{"device_code":"d","user_code":"ABCD","verification_uri":"https://microsoft.com/devicelogin","expires_in":900,"interval":5,"message":"To sign in..."}"#)
            .expect("parses");
        assert_eq!(d.interval, 5);
        assert_eq!(d.user_code, "ABCD");
        assert!(parse_device_code("{}").is_err());
    }
}
