//! Entra ID (Azure AD) v2.0 endpoints: token, devicecode, authorize, openid-configuration.
//! The admin API (`/_emulator/...`) shares this listener.

use super::{cae, Service};
use crate::faults::{entra_error_body, Endpoint};
use crate::http::{encode_form, Req, Resp};
use crate::jwt;
use crate::state::{
    audience_of_scope, scp_of_scope, AuthCode, DeviceCodeEntry, Options, Principal, RtStatus,
    State, User,
};
use crate::util::{b64url, guid_from, is_guid, now_secs, random_bytes, random_token};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;

pub const NAME: &str = "entra";

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// `aud` of workload-identity (federated) assertions.
pub const TOKEN_EXCHANGE_AUD: &str = "api://AzureADTokenExchange";
pub const VERIFICATION_URI: &str = "https://microsoft.com/devicelogin";

pub fn start(state: &Arc<State>, opts: &Options) -> std::io::Result<Service> {
    super::serve(NAME, opts.port(NAME), state, handle)
}

/// BASE64URL-no-pad(SHA256(verifier)): the S256 PKCE challenge.
pub fn pkce_s256(verifier: &str) -> String {
    b64url(&Sha256::digest(verifier.as_bytes()))
}

/// Whether `verifier` matches an S256 `challenge`.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    !verifier.is_empty() && pkce_s256(verifier) == challenge
}

fn handle(state: &State, req: &Req) -> Resp {
    if req.path.starts_with("/_emulator/") || req.path == "/_emulator" {
        return super::admin::handle(state, req);
    }
    let seg = req.segments();
    let tenant = seg.first().copied().unwrap_or("");
    let rest: Vec<&str> = seg.iter().skip(1).copied().collect();
    let endpoint = match rest.as_slice() {
        ["oauth2", "v2.0", "token"] => Endpoint::Token,
        ["oauth2", "v2.0", "devicecode"] => Endpoint::DeviceCode,
        ["oauth2", "v2.0", "authorize"] => Endpoint::Authorize,
        ["v2.0", ".well-known", "openid-configuration"] => Endpoint::Discovery,
        _ => return Resp::not_found(&req.path),
    };
    if let Some(r) = state.arrive(endpoint, req) {
        return r;
    }
    if !valid_tenant(tenant) {
        return err(
            req,
            400,
            "invalid_tenant",
            90002,
            &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
        );
    }
    match endpoint {
        Endpoint::Token => token(state, req, tenant),
        Endpoint::DeviceCode => devicecode(state, req),
        Endpoint::Authorize => authorize(state, req),
        _ => discovery(state, tenant),
    }
}

fn valid_tenant(t: &str) -> bool {
    is_guid(t)
        || matches!(t, "organizations" | "common" | "consumers")
        || (t.contains('.')
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'))
}

/// An Entra-shaped error answer.
fn err(req: &Req, status: u16, error: &str, code: u32, msg: &str) -> Resp {
    Resp::json(
        status,
        &entra_error_body(error, code, msg, req.header("client-request-id")),
    )
}

fn missing(req: &Req, name: &str) -> Resp {
    err(
        req,
        400,
        "invalid_request",
        900144,
        &format!("The request body must contain the following parameter: '{name}'."),
    )
}

fn ok(req: &Req, body: Value) -> Resp {
    let mut r = Resp::json(200, &body);
    if let Some(c) = req.header("client-request-id") {
        r = r.with_header("client-request-id", c);
    }
    r.with_header("x-ms-request-id", &crate::util::uuid())
}

fn nonempty<'a>(req: &'a Req, k: &str) -> Option<&'a str> {
    req.param(k).filter(|v| !v.is_empty())
}

// ----- token endpoint --------------------------------------------------------------------------

fn token(state: &State, req: &Req, tenant: &str) -> Resp {
    if req.method != "POST" {
        return err(
            req,
            400,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests.",
        );
    }
    let Some(grant) = nonempty(req, "grant_type") else {
        return missing(req, "grant_type");
    };
    match grant {
        "client_credentials" => client_credentials(state, req, tenant),
        "refresh_token" => refresh(state, req, tenant),
        DEVICE_CODE_GRANT => device_code_grant(state, req, tenant),
        "authorization_code" => auth_code_grant(state, req, tenant),
        other => err(
            req,
            400,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{other}'."),
        ),
    }
}

fn client_credentials(state: &State, req: &Req, tenant: &str) -> Resp {
    let basic = req.basic();
    let client_id = nonempty(req, "client_id")
        .map(str::to_string)
        .or_else(|| basic.as_ref().map(|(u, _)| u.clone()));
    let Some(client_id) = client_id else {
        return missing(req, "client_id");
    };
    if let Some(assertion) = nonempty(req, "client_assertion") {
        if req.param("client_assertion_type") != Some(JWT_BEARER) {
            return err(
                req,
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_assertion_type'.",
            );
        }
        if let Err((code, msg)) = check_assertion(state, req, &client_id, assertion) {
            return err(req, 401, "invalid_client", code, &msg);
        }
    } else {
        let secret = nonempty(req, "client_secret")
            .map(str::to_string)
            .or_else(|| basic.as_ref().map(|(_, p)| p.clone()));
        let Some(secret) = secret else {
            return err(
                req,
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            );
        };
        let known = state
            .lock()
            .clients
            .get(&client_id)
            .and_then(|c| c.secret.clone());
        match known {
            Some(s) if s == secret => {}
            Some(_) => {
                return err(
                    req,
                    401,
                    "invalid_client",
                    7000215,
                    &format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."),
                )
            }
            None => {
                return err(
                    req,
                    401,
                    "invalid_client",
                    7000215,
                    &format!("Invalid client secret provided. Application with identifier '{client_id}' was not found in the directory or the secret is wrong."),
                )
            }
        }
    }
    let Some(scope) = nonempty(req, "scope") else {
        return missing(req, "scope");
    };
    if !scope.split_whitespace().all(|s| s.ends_with("/.default")) {
        return err(
            req,
            400,
            "invalid_scope",
            1002012,
            &format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
        );
    }
    let tid = state.resolve_tenant(tenant);
    let who = Principal::App {
        client_id: client_id.clone(),
        oid: guid_from(&client_id),
    };
    let asked = cae::requested(req);
    let (at, exp) = state.mint_access_token_with(
        &who,
        &client_id,
        &audience_of_scope(scope),
        &tid,
        None,
        &cae::token_claims(&asked, &asked.acrs),
        cae::lifetime(state, &asked),
    );
    ok(
        req,
        json!({
            "token_type": "Bearer",
            "expires_in": exp,
            "ext_expires_in": exp,
            "access_token": at,
        }),
    )
}

/// Check a client assertion: its claims, and for clients with registered certificates its
/// signature (see `certs`). Assertions of clients without certificates are checked by claims only.
fn check_assertion(
    state: &State,
    req: &Req,
    client_id: &str,
    assertion: &str,
) -> Result<(), (u32, String)> {
    let bad = |m: &str| {
        (
            700027u32,
            format!("Client assertion failed signature validation. {m}"),
        )
    };
    let (header, claims) = jwt::decode_unverified(assertion).map_err(|e| bad(&e))?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if alg.is_empty() || alg.eq_ignore_ascii_case("none") {
        return Err(bad("The assertion has no signing algorithm."));
    }
    let s = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or("");
    let now = now_secs();
    match claims.get("exp").and_then(Value::as_u64) {
        Some(exp) if exp + 300 > now => {}
        Some(_) => {
            return Err((
                700024,
                "Client assertion is not within its valid time range.".into(),
            ))
        }
        None => return Err(bad("The assertion has no 'exp' claim.")),
    }
    if let Some(nbf) = claims.get("nbf").and_then(Value::as_u64) {
        if nbf > now + 300 {
            return Err((
                700024,
                "Client assertion is not within its valid time range.".into(),
            ));
        }
    }
    let aud_ok = |expected: &[String]| -> bool {
        match claims.get("aud") {
            Some(Value::String(a)) => expected.iter().any(|e| e == a),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .any(|x| expected.iter().any(|e| e == x)),
            _ => false,
        }
    };
    let (iss, sub) = (s("iss"), s("sub"));
    if iss == client_id {
        if sub != client_id {
            return Err(bad(&format!(
                "The 'sub' claim must be the client id '{client_id}'."
            )));
        }
        let certs = state.client_certificates(client_id);
        if !certs.is_empty() {
            super::certs::verify_assertion(&certs, &header, &claims, assertion)?;
        }
        let mut urls = Vec::new();
        if let Some(base) = state.url(NAME) {
            urls.push(format!("{base}{}", req.path));
        }
        if let Some(host) = req.header("host") {
            urls.push(format!("http://{host}{}", req.path));
        }
        if !aud_ok(&urls) {
            return Err((
                700027,
                format!(
                    "Client assertion failed signature validation. The audience claim {:?} does not match the token endpoint {:?}.",
                    claims.get("aud").cloned().unwrap_or(Value::Null),
                    urls.first().cloned().unwrap_or_default()
                ),
            ));
        }
        return Ok(());
    }
    let g = state.lock();
    let fed = g
        .federated
        .iter()
        .any(|f| f.client_id == client_id && f.issuer == iss && f.subject == sub);
    drop(g);
    if !fed {
        return Err((
            700213,
            format!("No matching federated identity record found for presented assertion subject '{sub}'. Please note that the matching is done using a case-sensitive comparison. Check your federated identity credential Subject, Audience and Issuer against the presented assertion."),
        ));
    }
    if !aud_ok(&[TOKEN_EXCHANGE_AUD.to_string()]) {
        return Err((
            700212,
            format!("No matching federated identity record found for presented assertion audience. The audience must be '{TOKEN_EXCHANGE_AUD}'."),
        ));
    }
    super::ci::check_assertion(state, assertion, &claims)?;
    Ok(())
}

/// The answer to a successful user grant. `session_acrs`: the authentication contexts the
/// sign-in satisfied (kept with the new refresh token); `token_acrs`: those the token carries.
#[allow(clippy::too_many_arguments)]
fn user_tokens(
    state: &State,
    req: &Req,
    user: &User,
    client_id: &str,
    tenant: &str,
    scope: &str,
    session_acrs: &[String],
    token_acrs: &[String],
) -> Resp {
    let tid = if is_guid(tenant) {
        tenant.to_ascii_lowercase()
    } else {
        user.home_tenant.clone()
    };
    let asked = cae::requested(req);
    let (at, exp) = state.mint_access_token_with(
        &Principal::User(user.clone()),
        client_id,
        &audience_of_scope(scope),
        &tid,
        Some(&scp_of_scope(scope)),
        &cae::token_claims(&asked, token_acrs),
        cae::lifetime(state, &asked),
    );
    let rt = state.mint_refresh_token(user, client_id);
    cae::set_session_acrs(state, &rt, session_acrs);
    let id = state.mint_id_token(user, client_id, &tid);
    let client_info = b64url(
        json!({"uid": user.oid, "utid": user.home_tenant})
            .to_string()
            .as_bytes(),
    );
    ok(
        req,
        json!({
            "token_type": "Bearer",
            "scope": scope,
            "expires_in": exp,
            "ext_expires_in": exp,
            "access_token": at,
            "refresh_token": rt,
            "id_token": id,
            "client_info": client_info,
        }),
    )
}

fn refresh(state: &State, req: &Req, tenant: &str) -> Resp {
    let Some(rt) = nonempty(req, "refresh_token") else {
        return missing(req, "refresh_token");
    };
    let Some(client_id) = nonempty(req, "client_id") else {
        return missing(req, "client_id");
    };
    let scope = nonempty(req, "scope").unwrap_or("openid profile offline_access");
    let asked = cae::requested(req);
    let session_acrs = cae::session_acrs(state, rt);
    let lacking = cae::missing(&asked.acrs, &session_acrs);
    if !lacking.is_empty() && state.lock().refresh_tokens.contains_key(rt) {
        return err(
            req,
            400,
            "interaction_required",
            50076,
            &format!("Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access this resource (authentication context {}).", lacking.join(", ")),
        );
    }
    let user = {
        let mut g = state.lock();
        let grace = g.cfg.refresh_token_grace;
        let Some(entry) = g.refresh_tokens.get_mut(rt) else {
            drop(g);
            return expired_rt(req);
        };
        let in_grace = entry.status == RtStatus::Rotated
            && now_secs().saturating_sub(entry.rotated_at) < grace;
        match entry.status {
            RtStatus::Active => {}
            RtStatus::Rotated if in_grace => {}
            RtStatus::Revoked => {
                drop(g);
                return err(
                    req,
                    400,
                    "invalid_grant",
                    50173,
                    "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.",
                );
            }
            RtStatus::Rotated | RtStatus::Expired => {
                drop(g);
                return expired_rt(req);
            }
        }
        if entry.client_id != client_id {
            drop(g);
            return err(
                req,
                400,
                "invalid_grant",
                70000,
                "Provided grant is invalid or malformed: the refresh token was issued to a different client.",
            );
        }
        if entry.status == RtStatus::Active {
            entry.status = RtStatus::Rotated;
            entry.rotated_at = now_secs();
        }
        entry.user.clone()
    };
    user_tokens(
        state,
        req,
        &user,
        client_id,
        tenant,
        scope,
        &session_acrs,
        &asked.acrs,
    )
}

fn expired_rt(req: &Req) -> Resp {
    err(
        req,
        400,
        "invalid_grant",
        700082,
        "The refresh token has expired due to inactivity. The token was issued and was inactive for 90.00:00:00.",
    )
}

fn device_code_grant(state: &State, req: &Req, tenant: &str) -> Resp {
    let Some(code) = nonempty(req, "device_code") else {
        return missing(req, "device_code");
    };
    let Some(client_id) = nonempty(req, "client_id") else {
        return missing(req, "client_id");
    };
    enum Outcome {
        Ok(String),
        Pending,
        SlowDown,
        Declined,
        Expired,
        Invalid,
    }
    let outcome = {
        let mut g = state.lock();
        match g.device_codes.get_mut(code) {
            None => Outcome::Invalid,
            Some(d) if d.client_id != client_id || d.redeemed => Outcome::Invalid,
            Some(d) => {
                let polls = d.polls;
                d.polls += 1;
                let out = if now_secs() >= d.expires_at {
                    Outcome::Expired
                } else if d.approved {
                    Outcome::Ok(d.scope.clone())
                } else {
                    use crate::state::DeviceApproval::*;
                    match d.policy {
                        AfterPolls(n) if polls >= n => Outcome::Ok(d.scope.clone()),
                        AfterPolls(_) | Never => Outcome::Pending,
                        Decline => Outcome::Declined,
                        Expire => Outcome::Expired,
                        SlowDownThenApprove if polls == 0 => Outcome::SlowDown,
                        SlowDownThenApprove => Outcome::Ok(d.scope.clone()),
                    }
                };
                if matches!(out, Outcome::Ok(_)) {
                    d.redeemed = true;
                }
                out
            }
        }
    };
    match outcome {
        Outcome::Ok(scope) => {
            let user = state.user();
            let acrs = cae::sign_in_acrs(state, code, &cae::requested(req).acrs);
            user_tokens(state, req, &user, client_id, tenant, &scope, &acrs, &acrs)
        }
        Outcome::Pending => err(
            req,
            400,
            "authorization_pending",
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        ),
        Outcome::SlowDown => err(
            req,
            400,
            "slow_down",
            70016,
            "OAuth 2.0 device flow error. Polling too fast: slow down (increase the interval by 5 seconds).",
        ),
        Outcome::Declined => err(
            req,
            400,
            "authorization_declined",
            70000,
            "The user has declined to authorize the application.",
        ),
        Outcome::Expired => err(
            req,
            400,
            "expired_token",
            70020,
            "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
        ),
        Outcome::Invalid => err(
            req,
            400,
            "invalid_grant",
            70000,
            "The provided value for the input parameter 'device_code' is not valid.",
        ),
    }
}

fn auth_code_grant(state: &State, req: &Req, tenant: &str) -> Resp {
    let Some(code) = nonempty(req, "code") else {
        return missing(req, "code");
    };
    let Some(client_id) = nonempty(req, "client_id") else {
        return missing(req, "client_id");
    };
    let Some(redirect_uri) = nonempty(req, "redirect_uri") else {
        return missing(req, "redirect_uri");
    };
    let verifier = req.param("code_verifier").unwrap_or("");
    let checked: Result<String, (u32, &str)> = {
        let mut g = state.lock();
        match g.auth_codes.get_mut(code) {
            None => Err((70000, "The provided value for the 'code' parameter is not valid.")),
            Some(c) if c.redeemed => Err((54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")),
            Some(c) if now_secs() >= c.expires_at => Err((70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")),
            Some(c) if c.client_id != client_id => Err((70000, "The provided value for the 'code' parameter is not valid: it was issued to a different client.")),
            Some(c) if c.redirect_uri != redirect_uri => Err((500112, "The reply address does not match the reply address provided when requesting Authorization code.")),
            Some(c) if !pkce_matches(verifier, &c.code_challenge) => Err((501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")),
            Some(c) => {
                c.redeemed = true;
                Ok(c.scope.clone())
            }
        }
    };
    match checked {
        Ok(scope) => {
            let user = state.user();
            let acrs = cae::sign_in_acrs(state, code, &cae::requested(req).acrs);
            user_tokens(state, req, &user, client_id, tenant, &scope, &acrs, &acrs)
        }
        Err((code, msg)) => err(req, 400, "invalid_grant", code, msg),
    }
}

// ----- devicecode & authorize -------------------------------------------------------------------

fn devicecode(state: &State, req: &Req) -> Resp {
    if req.method != "POST" {
        return err(
            req,
            400,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests.",
        );
    }
    let Some(client_id) = nonempty(req, "client_id") else {
        return missing(req, "client_id");
    };
    let Some(scope) = nonempty(req, "scope") else {
        return missing(req, "scope");
    };
    let device_code = format!("DAQABAAEAAAD{}", random_token(96));
    let r = random_bytes(8);
    let letters: String = r[..4].iter().map(|b| (b'A' + b % 26) as char).collect();
    let digits: String = r[4..].iter().map(|b| (b'0' + b % 10) as char).collect();
    let user_code = format!("{letters}-{digits}");
    let (interval, lifetime) = {
        let mut g = state.lock();
        let (interval, lifetime, policy) = (
            g.cfg.device_interval,
            g.cfg.device_code_lifetime,
            g.cfg.device_approval,
        );
        g.device_codes.insert(
            device_code.clone(),
            DeviceCodeEntry {
                client_id: client_id.into(),
                scope: scope.into(),
                policy,
                polls: 0,
                approved: false,
                redeemed: false,
                expires_at: now_secs() + lifetime,
            },
        );
        (interval, lifetime)
    };
    cae::remember_code_acrs(state, &device_code, cae::requested(req).acrs);
    ok(
        req,
        json!({
            "user_code": user_code,
            "device_code": device_code,
            "verification_uri": VERIFICATION_URI,
            "expires_in": lifetime,
            "interval": interval,
            "message": format!("To sign in, use a web browser to open the page {VERIFICATION_URI} and enter the code {user_code} to authenticate."),
        }),
    )
}

fn authorize(state: &State, req: &Req) -> Resp {
    let bad_page = |msg: &str| {
        Resp::new(
            400,
            "text/html; charset=utf-8",
            format!("<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body><p>{msg}</p></body></html>"),
        )
    };
    let Some(client_id) = nonempty(req, "client_id") else {
        return bad_page(
            "AADSTS900144: The request body must contain the following parameter: 'client_id'.",
        );
    };
    let Some(redirect_uri) = nonempty(req, "redirect_uri") else {
        return bad_page(
            "AADSTS900144: The request body must contain the following parameter: 'redirect_uri'.",
        );
    };
    let state_param = req.param("state");
    let redirect = |pairs: Vec<(&str, &str)>| {
        let mut all = pairs;
        if let Some(s) = state_param {
            all.push(("state", s));
        }
        let sep = if redirect_uri.contains('?') { '&' } else { '?' };
        Resp::redirect(&format!("{redirect_uri}{sep}{}", encode_form(all)))
    };
    let fail =
        |error: &str, desc: &str| redirect(vec![("error", error), ("error_description", desc)]);
    if req.param("response_type") != Some("code") {
        return fail(
            "unsupported_response_type",
            "AADSTS700054: response_type 'code' is required for this flow.",
        );
    }
    let Some(challenge) = nonempty(req, "code_challenge") else {
        return fail(
            "invalid_request",
            "AADSTS9002325: Proof Key for Code Exchange is required for cross-origin authorization code redemption.",
        );
    };
    if req.param("code_challenge_method") != Some("S256") {
        return fail(
            "invalid_request",
            "AADSTS501491: Invalid code_challenge_method: only 'S256' is supported.",
        );
    }
    let scope = nonempty(req, "scope").unwrap_or("openid profile offline_access");
    let code = format!("1.AXoA{}", random_token(64));
    state.lock().auth_codes.insert(
        code.clone(),
        AuthCode {
            client_id: client_id.into(),
            redirect_uri: redirect_uri.into(),
            code_challenge: challenge.into(),
            scope: scope.into(),
            redeemed: false,
            expires_at: now_secs() + 600,
        },
    );
    state.add_secret(&code);
    cae::remember_code_acrs(state, &code, cae::requested(req).acrs);
    redirect(vec![("code", &code)])
}

fn discovery(state: &State, tenant: &str) -> Resp {
    let base = state.url(NAME).unwrap_or_default();
    let tid = state.resolve_tenant(tenant);
    Resp::json(
        200,
        &json!({
            "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
            "authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/authorize"),
            "device_authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/devicecode"),
            "issuer": format!("https://login.microsoftonline.com/{tid}/v2.0"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "code_challenge_methods_supported": ["S256"],
            "tenant_region_scope": "WW",
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce() {
        // RFC 7636 appendix B.
        let v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(pkce_s256(v), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert!(pkce_matches(
            v,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches(
            "other",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches("", ""));
    }

    fn form(pairs: &[(&str, &str)]) -> Req {
        let body = encode_form(pairs.iter().copied());
        Req {
            method: "POST".into(),
            path: "/organizations/oauth2/v2.0/token".into(),
            form: crate::http::parse_form(body.as_bytes()),
            body: body.into_bytes(),
            ..Req::default()
        }
    }

    fn body(r: &Resp) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    #[test]
    fn refresh_token_rotation_and_revocation() {
        let st = State::new(&Options::default());
        let user = st.user();
        let rt1 = st.mint_refresh_token(&user, "app");
        let grant = |rt: &str, client: &str| {
            handle(
                &st,
                &form(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", client),
                    ("refresh_token", rt),
                    (
                        "scope",
                        "https://management.azure.com/.default offline_access",
                    ),
                ]),
            )
        };
        let r = grant(&rt1, "app");
        assert_eq!(r.status, 200);
        let b = body(&r);
        let rt2 = b["refresh_token"].as_str().unwrap().to_string();
        assert_ne!(rt1, rt2);
        let at = b["access_token"].as_str().unwrap();
        let c = st
            .verify_access_token(at, "https://management.azure.com", Some(&user.home_tenant))
            .unwrap();
        assert_eq!(c.upn.as_deref(), Some("alice@contoso.example"));
        // the rotated token no longer works
        let r = grant(&rt1, "app");
        assert_eq!(r.status, 400);
        assert_eq!(body(&r)["error"], "invalid_grant");
        assert_eq!(body(&r)["error_codes"][0], 700082);
        assert!(body(&r)["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS700082: The refresh token has expired due to inactivity"));
        // wrong client
        assert_eq!(grant(&rt2, "other").status, 400);
        // revocation
        st.revoke_refresh_tokens();
        let r = grant(&rt2, "app");
        assert_eq!(body(&r)["error_codes"][0], 50173);
        assert_eq!(st.count_grant("refresh_token"), 4);
        assert_eq!(grant("garbage", "app").status, 400);
    }

    #[test]
    fn rotated_refresh_token_grace() {
        let st = State::new(&Options {
            refresh_token_grace: 60,
            ..Options::default()
        });
        let user = st.user();
        let rt1 = st.mint_refresh_token(&user, "app");
        let grant = |rt: &str| {
            handle(
                &st,
                &form(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", "app"),
                    ("refresh_token", rt),
                    ("scope", "https://management.azure.com/.default"),
                ]),
            )
        };
        let r = grant(&rt1);
        assert_eq!(r.status, 200);
        let rt2 = body(&r)["refresh_token"].as_str().unwrap().to_string();
        // Inside the grace period the previous token still works (a client killed before it
        // stored rt2 is not signed out), and the newest one counts as the active one.
        assert_eq!(grant(&rt1).status, 200);
        assert_eq!(grant(&rt2).status, 200);
        st.set_refresh_token_grace(0);
        assert_eq!(body(&grant(&rt1))["error_codes"][0], 700082);
        st.set_refresh_token_grace(60);
        st.revoke_refresh_tokens();
        assert_eq!(body(&grant(&rt1))["error_codes"][0], 50173);
    }

    #[test]
    fn auth_code_with_pkce() {
        let st = State::new(&Options::default());
        let verifier = "a-verifier-that-is-long-enough-for-pkce-0123456789";
        let challenge = pkce_s256(verifier);
        let q = encode_form([
            ("client_id", "app"),
            ("response_type", "code"),
            ("redirect_uri", "http://localhost:1234"),
            ("scope", "openid offline_access x/.default"),
            ("state", "s1"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]);
        let req = Req {
            method: "GET".into(),
            path: "/common/oauth2/v2.0/authorize".into(),
            query: crate::http::parse_form(q.as_bytes()),
            ..Req::default()
        };
        let r = handle(&st, &req);
        assert_eq!(r.status, 302);
        let loc = &r.headers.iter().find(|(k, _)| k == "Location").unwrap().1;
        let (base, qs) = loc.split_once('?').unwrap();
        assert_eq!(base, "http://localhost:1234");
        let q = crate::http::parse_form(qs.as_bytes());
        assert_eq!(q["state"], "s1");
        let code = q["code"].clone();
        let redeem = |v: &str, uri: &str| {
            handle(
                &st,
                &form(&[
                    ("grant_type", "authorization_code"),
                    ("client_id", "app"),
                    ("code", &code),
                    ("redirect_uri", uri),
                    ("code_verifier", v),
                ]),
            )
        };
        let r = redeem("wrong", "http://localhost:1234");
        assert_eq!(body(&r)["error_codes"][0], 501481);
        assert_eq!(redeem(verifier, "http://localhost:9").status, 400);
        let r = redeem(verifier, "http://localhost:1234");
        assert_eq!(r.status, 200);
        assert!(body(&r)["id_token"].is_string());
        // single use
        assert_eq!(
            body(&redeem(verifier, "http://localhost:1234"))["error_codes"][0],
            54005
        );
    }
}
