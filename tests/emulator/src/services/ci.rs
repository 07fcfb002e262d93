//! CI OIDC token endpoints, on one listener (`ci`):
//!
//! | path | as | request | answer |
//! |---|---|---|---|
//! | `GET` [`GITHUB_PATH`] | GitHub Actions (`ACTIONS_ID_TOKEN_REQUEST_URL` = [`github_url`]) | `?api-version=2.0[&audience=A]`, header `Authorization: bearer <`[`State::github_request_token`]`>` | `{"count": 1, "value": JWT}` |
//! | `POST` [`PIPELINES_PATH`] | Azure Pipelines (`SYSTEM_OIDCREQUESTURI` = [`pipelines_uri`]) | `?api-version=7.1&serviceConnectionId=ID`, headers `Authorization: Bearer <`[`State::pipelines_access_token`]`>`, `Content-Type: application/json`, `X-TFS-FedAuthRedirect: Suppress` | `{"oidcToken": JWT}` |
//!
//! Each answer is a new JWT (unique `jti`; `aud` the asked audience for GitHub,
//! `api://AzureADTokenExchange` for Pipelines; `exp` = now + [`State::set_ci_token_lifetime`],
//! default [`DEFAULT_LIFETIME`] seconds), recorded in [`State::ci_minted`] and as an issued
//! secret. Entra's token endpoint accepts an assertion whose `iss` is one of these issuers only
//! when it is one of those tokens and has not expired (no clock skew: a client that reuses an old
//! one fails with AADSTS700024); the ones it accepted are in [`State::ci_redeemed`].
//! A wrong request token is HTTP 401 with `{"message": ...}`; for Pipelines a request without
//! `X-TFS-FedAuthRedirect: Suppress` is redirected (302) to a sign-in page, as Azure DevOps does.
//! Counted as `Endpoint::GithubOidc` and `Endpoint::PipelinesOidc`.

use super::Service;
use crate::faults::Endpoint;
use crate::http::{Req, Resp};
use crate::state::{Options, State};
use crate::util::{now_secs, random_token, uuid};
use serde_json::{json, Value};
use std::sync::Arc;

/// The service name (key of `Emulator::url`).
pub const NAME: &str = "ci";
/// GitHub's token path (the query is part of [`github_url`]).
pub const GITHUB_PATH: &str =
    "/github/_apis/distributedtask/hubs/Actions/plans/0d3e5c1a/jobs/1f2a7b9c/idtoken";
/// Azure Pipelines' OIDC request path.
pub const PIPELINES_PATH: &str =
    "/org1/6f1a2b3c/_apis/distributedtask/hubs/build/plans/2c4e6a8b/jobs/3b5d7f9a/oidctoken";
/// `iss` of GitHub Actions tokens.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// `sub` of GitHub Actions tokens (a workflow on `main` of `octo-org/octo-repo`).
pub const GITHUB_SUBJECT: &str = "repo:octo-org/octo-repo:ref:refs/heads/main";
/// GitHub's audience when none is asked.
pub const GITHUB_DEFAULT_AUDIENCE: &str = "https://github.com/octo-org";
/// The Azure DevOps organization id in Pipelines tokens' issuer.
pub const PIPELINES_ORG_ID: &str = "8d0b6f3a-2c1e-4f5d-9a7b-3e6c1d2f4a5b";
/// `aud` of Pipelines tokens.
pub const PIPELINES_AUDIENCE: &str = "api://AzureADTokenExchange";
/// Default lifetime of the minted tokens, seconds.
pub const DEFAULT_LIFETIME: u64 = 5;

/// `iss` of Azure Pipelines tokens.
pub fn pipelines_issuer() -> String {
    format!("https://vstoken.dev.azure.com/{PIPELINES_ORG_ID}")
}

/// `sub` of an Azure Pipelines token for a service connection named `name`.
pub fn pipelines_subject(name: &str) -> String {
    format!("sc://org1/proj/{name}")
}

/// `ACTIONS_ID_TOKEN_REQUEST_URL` for a `ci` listener at `base`.
pub fn github_url(base: &str) -> String {
    format!("{base}{GITHUB_PATH}?api-version=2.0")
}

/// `SYSTEM_OIDCREQUESTURI` for a `ci` listener at `base`.
pub fn pipelines_uri(base: &str) -> String {
    format!("{base}{PIPELINES_PATH}")
}

/// Which CI minted a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    GitHub,
    Pipelines,
}

/// A token an OIDC endpoint issued.
#[derive(Debug, Clone)]
pub struct Minted {
    pub kind: Kind,
    pub token: String,
    pub jti: String,
    pub aud: String,
    pub sub: String,
    pub exp: u64,
}

#[derive(Default)]
struct CiData {
    lifetime: Option<u64>,
    github_request_token: Option<String>,
    pipelines_access_token: Option<String>,
    /// (service connection id, subject)
    connections: Vec<(String, String)>,
    minted: Vec<Minted>,
    redeemed: Vec<String>,
}

impl State {
    /// The job's `ACTIONS_ID_TOKEN_REQUEST_TOKEN` (made on first use; an issued secret).
    pub fn github_request_token(&self) -> String {
        let (t, new) = self.with_ext(|d: &mut CiData| match &d.github_request_token {
            Some(t) => (t.clone(), false),
            None => {
                let t = format!("ghrt-{}", random_token(32));
                d.github_request_token = Some(t.clone());
                (t, true)
            }
        });
        if new {
            self.add_secret(&t);
        }
        t
    }

    /// The job's `SYSTEM_ACCESSTOKEN` (made on first use; an issued secret).
    pub fn pipelines_access_token(&self) -> String {
        let (t, new) = self.with_ext(|d: &mut CiData| match &d.pipelines_access_token {
            Some(t) => (t.clone(), false),
            None => {
                let t = format!("adoat-{}", random_token(40));
                d.pipelines_access_token = Some(t.clone());
                (t, true)
            }
        });
        if new {
            self.add_secret(&t);
        }
        t
    }

    /// Registers an Azure Pipelines service connection; its tokens' `sub` is
    /// [`pipelines_subject`]`(name)`, which is returned.
    pub fn add_service_connection(&self, id: &str, name: &str) -> String {
        let sub = pipelines_subject(name);
        self.with_ext(|d: &mut CiData| d.connections.push((id.to_string(), sub.clone())));
        sub
    }

    /// Lifetime (seconds) of CI OIDC tokens minted from now on.
    pub fn set_ci_token_lifetime(&self, secs: u64) {
        self.with_ext(|d: &mut CiData| d.lifetime = Some(secs));
    }

    /// Every CI OIDC token minted, oldest first.
    pub fn ci_minted(&self) -> Vec<Minted> {
        self.with_ext(|d: &mut CiData| d.minted.clone())
    }

    /// The CI OIDC tokens Entra's token endpoint accepted as client assertions, in order.
    pub fn ci_redeemed(&self) -> Vec<String> {
        self.with_ext(|d: &mut CiData| d.redeemed.clone())
    }
}

/// Starts the listener.
pub fn start(state: &Arc<State>, opts: &Options) -> std::io::Result<Service> {
    super::serve(NAME, opts.port(NAME), state, handle)
}

fn handle(state: &State, req: &Req) -> Resp {
    let endpoint = match req.path.as_str() {
        GITHUB_PATH => Endpoint::GithubOidc,
        PIPELINES_PATH => Endpoint::PipelinesOidc,
        _ => return Resp::not_found(&req.path),
    };
    if let Some(r) = state.arrive(endpoint, req) {
        return r;
    }
    match endpoint {
        Endpoint::GithubOidc => github(state, req),
        _ => pipelines(state, req),
    }
}

fn message(status: u16, m: &str) -> Resp {
    Resp::json(status, &json!({ "message": m }))
}

/// Azure DevOps' error shape.
fn ado_error(status: u16, type_key: &str, m: &str) -> Resp {
    Resp::json(
        status,
        &json!({"$id": "1", "innerException": null, "message": m,
                "typeName": format!("Microsoft.TeamFoundation.DistributedTask.WebApi.{type_key}, Microsoft.TeamFoundation.DistributedTask.WebApi"),
                "typeKey": type_key, "errorCode": 0, "eventId": 3000}),
    )
}

/// The credential after `scheme ` in the Authorization header (scheme case-insensitive).
fn credential<'a>(req: &'a Req, scheme: &str) -> Option<&'a str> {
    let h = req.header("authorization")?;
    let (s, rest) = h.split_once(' ')?;
    s.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

fn mint(state: &State, kind: Kind, iss: &str, sub: &str, aud: &str, extra: Value) -> String {
    let lifetime = state.with_ext(|d: &mut CiData| d.lifetime.unwrap_or(DEFAULT_LIFETIME));
    let now = now_secs();
    let jti = uuid();
    let mut claims = json!({
        "iss": iss, "sub": sub, "aud": aud, "jti": jti,
        "iat": now, "nbf": now, "exp": now + lifetime,
    });
    if let (Some(c), Value::Object(e)) = (claims.as_object_mut(), extra) {
        c.extend(e);
    }
    let token = state.sign(&claims);
    state.add_secret(&token);
    state.with_ext(|d: &mut CiData| {
        d.minted.push(Minted {
            kind,
            token: token.clone(),
            jti,
            aud: aud.to_string(),
            sub: sub.to_string(),
            exp: now + lifetime,
        })
    });
    token
}

fn github(state: &State, req: &Req) -> Resp {
    if req.method != "GET" {
        return message(
            405,
            "The requested resource does not support http method 'POST'.",
        );
    }
    match credential(req, "bearer") {
        Some(t) if t == state.github_request_token() => {}
        _ => {
            return message(
                401,
                "TF400813: Resource not available for anonymous access. Client authentication required.",
            )
        }
    }
    if req.query.get("api-version").map(String::as_str) != Some("2.0") {
        return message(
            400,
            "The api-version query parameter (2.0) is missing or wrong.",
        );
    }
    let aud = req
        .query
        .get("audience")
        .filter(|a| !a.is_empty())
        .cloned()
        .unwrap_or_else(|| GITHUB_DEFAULT_AUDIENCE.to_string());
    let token = mint(
        state,
        Kind::GitHub,
        GITHUB_ISSUER,
        GITHUB_SUBJECT,
        &aud,
        json!({"repository": "octo-org/octo-repo", "ref": "refs/heads/main",
               "repository_owner": "octo-org", "event_name": "push",
               "runner_environment": "github-hosted"}),
    );
    Resp::json(200, &json!({"count": 1, "value": token}))
}

fn pipelines(state: &State, req: &Req) -> Resp {
    if req.method != "POST" {
        return ado_error(
            405,
            "HttpMethodNotSupportedException",
            "The requested resource does not support http method 'GET'.",
        );
    }
    let authorized = credential(req, "Bearer") == Some(state.pipelines_access_token().as_str());
    if req.header("x-tfs-fedauthredirect") != Some("Suppress") {
        // Azure DevOps sends a client without this header to a sign-in page.
        return Resp::redirect(
            "https://spsprodweu5.vssps.visualstudio.com/_signin?realm=dev.azure.com",
        )
        .with_header("X-TFS-FedAuthRealm", "https://app.vssps.visualstudio.com/");
    }
    if !authorized {
        return ado_error(
            401,
            "UnauthorizedRequestException",
            "TF400813: The user '' is not authorized to access this resource.",
        );
    }
    let ct = req.header("content-type").unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("application/json") {
        return ado_error(
            415,
            "UnsupportedMediaTypeException",
            "The request's Content-Type must be application/json.",
        );
    }
    match req.query.get("api-version").map(String::as_str) {
        Some("7.1") | Some("7.1-preview.1") => {}
        _ => {
            return ado_error(
                400,
                "VssVersionNotSpecifiedException",
                "No api-version was supplied for the POST request. The version must be supplied either as part of the Accept header (e.g. \"application/json; api-version=1.0\") or as a query parameter (e.g. \"?api-version=1.0\").",
            )
        }
    }
    let Some(id) = req
        .query
        .get("serviceConnectionId")
        .filter(|i| !i.is_empty())
    else {
        return ado_error(
            400,
            "ArgumentNullException",
            "Value cannot be null. Parameter name: serviceConnectionId",
        );
    };
    let sub = state.with_ext(|d: &mut CiData| {
        d.connections
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(id))
            .map(|(_, s)| s.clone())
    });
    let Some(sub) = sub else {
        return ado_error(
            400,
            "ServiceEndpointNotFoundException",
            &format!("Service connection {id} was not found or this pipeline is not authorized to use it."),
        );
    };
    let token = mint(
        state,
        Kind::Pipelines,
        &pipelines_issuer(),
        &sub,
        PIPELINES_AUDIENCE,
        json!({"oidc-extension.service_connection_id": id}),
    );
    Resp::json(200, &json!({ "oidcToken": token }))
}

/// Entra's check of a client assertion from a CI OIDC endpoint (by `iss`): it must be one this
/// emulator minted and not have expired (no clock skew allowed). Other assertions: `Ok`.
pub(crate) fn check_assertion(
    state: &State,
    assertion: &str,
    claims: &Value,
) -> Result<(), (u32, String)> {
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
    if iss != GITHUB_ISSUER && iss != pipelines_issuer() {
        return Ok(());
    }
    let minted =
        state.with_ext(|d: &mut CiData| d.minted.iter().find(|m| m.token == assertion).cloned());
    let Some(m) = minted else {
        return Err((
            700027,
            format!("Client assertion failed signature validation. The assertion claims issuer '{iss}' but was not issued by it."),
        ));
    };
    let now = now_secs();
    if now >= m.exp {
        return Err((
            700024,
            format!("Client assertion is not within its valid time range. Current time: {now}, expiry time of assertion {}.", m.exp),
        ));
    }
    state.with_ext(|d: &mut CiData| d.redeemed.push(assertion.to_string()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path_and_query: &str, headers: &[(&str, &str)]) -> Req {
        let (path, q) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        Req {
            method: method.into(),
            path: path.into(),
            query: crate::http::parse_form(q.as_bytes()),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
                .collect(),
            ..Req::default()
        }
    }

    fn value(r: &Resp, k: &str) -> String {
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        v[k].as_str().unwrap_or("").to_string()
    }

    #[test]
    fn github_endpoint() {
        let st = State::new(&Options::default());
        let rt = st.github_request_token();
        let auth = format!("bearer {rt}");
        let url = format!("{GITHUB_PATH}?api-version=2.0&audience=api://AzureADTokenExchange");
        let r = handle(&st, &req("GET", &url, &[("Authorization", &auth)]));
        assert_eq!(r.status, 200);
        let t = value(&r, "value");
        let (_, claims) = crate::jwt::decode_unverified(&t).unwrap();
        assert_eq!(claims["aud"], "api://AzureADTokenExchange");
        assert_eq!(claims["iss"], GITHUB_ISSUER);
        let r2 = handle(&st, &req("GET", &url, &[("Authorization", &auth)]));
        let m = st.ci_minted();
        assert_eq!(m.len(), 2);
        assert_ne!(m[0].jti, m[1].jti);
        assert_eq!(value(&r2, "value"), m[1].token);
        assert!(check_assertion(&st, &t, &claims).is_ok());
        assert_eq!(st.ci_redeemed(), vec![t.clone()]);
        // forged (not minted here) and expired ones are refused
        let forged = st.sign(&claims);
        assert_eq!(
            check_assertion(&st, &format!("{forged}x"), &claims)
                .unwrap_err()
                .0,
            700027
        );
        st.set_ci_token_lifetime(0);
        let r = handle(&st, &req("GET", &url, &[("Authorization", &auth)]));
        let old = value(&r, "value");
        let (_, c) = crate::jwt::decode_unverified(&old).unwrap();
        assert_eq!(check_assertion(&st, &old, &c).unwrap_err().0, 700024);
        for (m, u, h) in [
            ("GET", url.as_str(), "bearer wrong"),
            ("POST", url.as_str(), auth.as_str()),
            ("GET", GITHUB_PATH, auth.as_str()),
        ] {
            assert_ne!(
                handle(&st, &req(m, u, &[("Authorization", h)])).status,
                200,
                "{m} {u}"
            );
        }
        assert_eq!(st.count(Endpoint::GithubOidc), 6);
    }

    #[test]
    fn pipelines_endpoint() {
        let st = State::new(&Options::default());
        let at = st.pipelines_access_token();
        let sub = st.add_service_connection("sc-1", "conn");
        let auth = format!("Bearer {at}");
        let url = format!("{PIPELINES_PATH}?api-version=7.1&serviceConnectionId=sc-1");
        let good = [
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
            ("X-TFS-FedAuthRedirect", "Suppress"),
        ];
        let r = handle(&st, &req("POST", &url, &good));
        assert_eq!(r.status, 200);
        let (_, claims) = crate::jwt::decode_unverified(&value(&r, "oidcToken")).unwrap();
        assert_eq!(claims["sub"], sub.as_str());
        assert_eq!(claims["aud"], PIPELINES_AUDIENCE);
        assert_eq!(handle(&st, &req("GET", &url, &good)).status, 405);
        assert_eq!(handle(&st, &req("POST", &url, &good[..2])).status, 302);
        let bad_auth = [good[1], good[2], ("Authorization", "Bearer nope")];
        assert_eq!(handle(&st, &req("POST", &url, &bad_auth)).status, 401);
        let no_ct = [good[0], good[2]];
        assert_eq!(handle(&st, &req("POST", &url, &no_ct)).status, 415);
        let other = format!("{PIPELINES_PATH}?api-version=7.1&serviceConnectionId=sc-2");
        let r = handle(&st, &req("POST", &other, &good));
        assert_eq!(r.status, 400);
        assert!(value(&r, "message").contains("sc-2"));
        let no_version = format!("{PIPELINES_PATH}?serviceConnectionId=sc-1");
        assert_eq!(handle(&st, &req("POST", &no_version, &good)).status, 400);
    }
}
