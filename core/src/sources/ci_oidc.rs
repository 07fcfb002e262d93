//! What the two CI federation sources ([`super::github_actions`] and
//! [`super::azure_pipelines`]) share: reading their variables, checking their
//! endpoint URL, describing a refusal, and exchanging the OIDC token for an
//! Entra token (`client_credentials` with a jwt-bearer `client_assertion`).
//!
//! The OIDC token is fetched afresh for every Entra request, lives only in a
//! [`Secret`] for the length of that request, and is never cached, written or
//! logged: CI tokens live 5 (GitHub) or 10 (Azure Pipelines) minutes, and a
//! job that outlives one must not fail with AADSTS700024.

use super::{AppSource, ClientAuth, Ctx};
use crate::config::{Profile, DEFAULT_CLIENT_ID};
use crate::entra::TokenResponse;
use crate::error::{one_line, Error, Result};
use crate::http::{redact_url, Response};
use crate::secret::Secret;
use serde_json::Value;

/// A CI federation source: where its job's OIDC token comes from, and where
/// its client and tenant ids are set (for messages). Each request fetches a
/// new OIDC token and exchanges it ([`exchange`]).
pub struct Federation {
    /// The variables the client id comes from.
    pub client_id_vars: &'static str,
    /// The variables the tenant id comes from.
    pub tenant_vars: &'static str,
    /// Fetches a new OIDC token for the profile.
    pub fetch: fn(&Ctx<'_>) -> Result<Secret<String>>,
    /// The sign-in, in messages (`GitHub Actions federated sign-in`).
    pub context: &'static str,
}

impl AppSource for Federation {
    fn acquire(&self, ctx: &Ctx<'_>, tenant: &str, scope: &str) -> Result<TokenResponse> {
        let client_id = client_id(ctx.profile, self.client_id_vars)?;
        check_tenant(tenant, self.tenant_vars)?;
        let assertion = (self.fetch)(ctx)?;
        exchange(ctx, &client_id, tenant, scope, assertion, self.context)
    }
}

/// A variable that must be set: its value, or exit 2 naming it, with `advice`
/// (what to do about it).
pub fn required_var(name: &str, advice: &str) -> Result<String> {
    crate::config::env_var(name)
        .ok_or_else(|| Error::Config(format!("{name} is not set: {advice} (see docs/ci.md)")))
}

/// A secret variable that must be set (the request token, the access token).
pub fn required_secret(name: &str, advice: &str) -> Result<Secret<String>> {
    required_var(name, advice).map(|v| Secret::new(v.trim().to_string()))
}

/// Parses an OIDC endpoint URL from variable `var`: `https`, or `http` on loopback only.
pub fn endpoint(var: &str, raw: &str) -> Result<url::Url> {
    let u = url::Url::parse(raw.trim()).map_err(|e| {
        Error::Config(format!(
            "{var}: '{}' is not a valid URL ({e})",
            one_line(&redact_raw(raw))
        ))
    })?;
    match crate::net::check(&u, false) {
        Ok(()) => Ok(u),
        Err(refusal) => Err(Error::Config(format!(
            "{var}: {}: {}",
            redact_url(&u),
            one_line(&refusal.to_string())
        ))),
    }
}

/// A raw URL without its query (which may carry anything), for a message.
fn redact_raw(raw: &str) -> String {
    raw.split(['?', '#']).next().unwrap_or("").to_string()
}

/// The application's client id, or exit 2 naming where to set it.
pub fn client_id(profile: &Profile, vars: &str) -> Result<String> {
    if profile.client_id == DEFAULT_CLIENT_ID {
        return Err(Error::Config(format!(
            "federation needs the application's client id: set {vars} or client_id in profile '{}'",
            profile.name
        )));
    }
    Ok(profile.client_id.clone())
}

/// An application signs in at one tenant: `organizations`, `common` or
/// `consumers` is exit 2 naming where to set it.
pub fn check_tenant(tenant: &str, vars: &str) -> Result<()> {
    if ["organizations", "common", "consumers"]
        .iter()
        .any(|t| t.eq_ignore_ascii_case(tenant))
    {
        return Err(Error::Config(format!(
            "federation needs the application's tenant id, not '{tenant}': set {vars} or tenant in the profile"
        )));
    }
    Ok(())
}

/// The message of an error answer: JSON `message` (GitHub, Azure DevOps),
/// `error.message` (Azure shape), `error_description`, else the text itself;
/// one line, at most 200 characters.
pub fn refusal_message(body: &str) -> String {
    let from_json = serde_json::from_str::<Value>(body.trim())
        .ok()
        .and_then(|v| {
            let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
            s(v.get("message"))
                .or_else(|| s(v.get("Message")))
                .or_else(|| s(v.get("error").and_then(|e| e.get("message"))))
                .or_else(|| s(v.get("error_description")))
                .or_else(|| s(v.get("error")))
        });
    let text = match from_json {
        Some(m) => m,
        // An HTML page (a sign-in redirect target) says nothing useful.
        None if body.trim_start().starts_with('<') => String::new(),
        None => body.to_string(),
    };
    super::refusal::short(&text)
}

/// One line for an OIDC endpoint that refused: `<what> at <url> answered HTTP <status>: <message><hint>`.
pub fn refused(what: &str, shown: &str, resp: &Response, hint: &str) -> Error {
    let context = format!("{what} at {shown}");
    super::refusal::refused(&context, resp.status, &refusal_message(&resp.body), hint)
}

/// The JWT in an OIDC endpoint's answer: [`refused`] (with `hint(status)`) when the
/// endpoint did not answer with success, else the answer's `field` ([`token_field`]), or
/// one line saying what is wrong with it.
pub fn answer(
    what: &str,
    shown: &str,
    resp: &Response,
    hint: impl Fn(u16) -> &'static str,
    field: &str,
) -> Result<Secret<String>> {
    if !resp.ok() {
        return Err(refused(what, shown, resp, hint(resp.status)));
    }
    token_field(&resp.body, field)
        .map_err(|m| Error::Other(format!("{what} at {shown}: {m} (HTTP {})", resp.status)))
}

/// Reads the JWT from a successful answer's `field` (`value`, `oidcToken`).
pub fn token_field(body: &str, field: &str) -> std::result::Result<Secret<String>, String> {
    let v: Value = serde_json::from_str(body.trim())
        .map_err(|_| "the answer is not valid JSON".to_string())?;
    let t = v
        .get(field)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| format!("the answer has no '{field}'"))?;
    // A JWT is three base64url parts: anything else would only make Entra fail
    // later with a less clear message.
    let parts: Vec<&str> = t.split('.').collect();
    let b64url = |p: &str| {
        p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=')
    };
    if parts.len() != 3
        || parts[..2].iter().any(|p| p.is_empty())
        || !parts.iter().all(|p| b64url(p))
    {
        return Err(format!("the answer's '{field}' is not a JWT"));
    }
    Ok(Secret::new(t.to_string()))
}

/// Exchanges `assertion` for an access token for `scope` at `tenant`.
pub fn exchange(
    ctx: &Ctx<'_>,
    client_id: &str,
    tenant: &str,
    scope: &str,
    assertion: Secret<String>,
    context: &str,
) -> Result<TokenResponse> {
    let form =
        super::client_credentials(client_id, ClientAuth::Assertion(assertion.expose()), scope);
    ctx.entra()
        .token(tenant, form, context)
        .map_err(|e| match e {
            Error::Entra { context, entra }
                if matches!(entra.code, Some(700211..=700213)) =>
            {
                Error::Entra {
                    context: format!(
                        "{context} (check the federated credential's issuer, subject and audience; see docs/ci.md)"
                    ),
                    entra,
                }
            }
            other => other,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_https_or_loopback() {
        assert!(endpoint(
            "V",
            "https://pipelines.actions.githubusercontent.com/x?api-version=2.0"
        )
        .is_ok());
        assert!(endpoint("V", "http://127.0.0.1:8/x").is_ok());
        assert!(endpoint("V", "http://localhost:8/x").is_ok());
        let e = endpoint("V", "http://example.com/x?sig=secret").expect_err("plain http");
        assert_eq!(e.exit_code(), 2);
        let m = e.to_string();
        assert!(m.contains("V:") && m.contains("loopback"), "{m}");
        assert!(!m.contains("secret"), "{m}");
        let e = endpoint("V", "not a url?token=secret").expect_err("invalid");
        assert!(!e.to_string().contains("secret"), "{e}");
        assert!(endpoint("V", "file:///etc/passwd").is_err());
    }

    #[test]
    fn tenants() {
        assert!(check_tenant("3c0b1f5e-8d2a-4a57-9f3e-0b7c1d2e4a6f", "V").is_ok());
        assert!(check_tenant("contoso.onmicrosoft.com", "V").is_ok());
        let e = check_tenant("Organizations", "AZURE_TENANT_ID").expect_err("multi-tenant");
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("AZURE_TENANT_ID"), "{e}");
    }

    #[test]
    fn refusal_messages() {
        assert_eq!(
            refusal_message(
                r#"{"message":"Unable to get ACTIONS_ID_TOKEN_REQUEST_URL env variable"}"#
            ),
            "Unable to get ACTIONS_ID_TOKEN_REQUEST_URL env variable"
        );
        assert_eq!(
            refusal_message(
                r#"{"$id":"1","innerException":null,"message":"The service connection\r\ndoes not exist","typeName":"x"}"#
            ),
            "The service connection does not exist"
        );
        assert_eq!(
            refusal_message(r#"{"error":{"code":"X","message":"m"}}"#),
            "m"
        );
        assert_eq!(refusal_message("<html><body>sign in</body></html>"), "");
        assert_eq!(refusal_message("plain\ntext"), "plain text");
        assert_eq!(refusal_message(&"x".repeat(500)).chars().count(), 201);
    }

    #[test]
    fn token_fields() {
        let ok = token_field(r#"{"count":1,"value":"aa.bb.cc"}"#, "value").expect("jwt");
        assert_eq!(ok.expose(), "aa.bb.cc");
        assert!(token_field(r#"{"oidcToken":"aa.bb.cc"}"#, "value").is_err());
        assert!(token_field(r#"{"value":""}"#, "value").is_err());
        assert!(token_field(r#"{"value":"not a jwt"}"#, "value").is_err());
        assert!(token_field(r#"{"value":"a.b"}"#, "value").is_err());
        assert!(token_field(r#"{"value":"a.b.c\nd"}"#, "value").is_err());
        assert!(token_field("<html>", "value").is_err());
        assert!(token_field(r#"{"value":7}"#, "value").is_err());
    }
}
