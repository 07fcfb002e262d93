//! Continuous access evaluation in the emulated Entra ID: the `claims` request parameter.
//!
//! - `access_token.xms_cc.values` (client capabilities, `cp1`) become the token's `xms_cc` claim;
//!   with `cp1` and a CAE lifetime set ([`set_cae_token_lifetime`], admin `cae_token_lifetime`)
//!   the token lives that long (real Entra: up to 28 hours).
//! - `access_token.acrs` (`{"essential":true,"value":"c1"}` or `"values":[..]`) asks for
//!   authentication contexts. A sign-in (device code, authorization code: the claims of the
//!   `/devicecode` or `/authorize` request and of the token request) satisfies them: its session
//!   (refresh token, and every rotation of it) holds them and the token carries `acrs`. A refresh
//!   token whose session lacks one answers `interaction_required` (AADSTS50076).
//! - Any other claim (e.g. `nbf` of a revocation challenge) is accepted and met by a new token.

use crate::http::Req;
use crate::state::State;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

#[derive(Default)]
struct Data {
    /// Refresh token -> the authentication contexts its session satisfied.
    session_acrs: HashMap<String, Vec<String>>,
    /// Device code or authorization code -> contexts asked for when it was issued.
    code_acrs: HashMap<String, Vec<String>>,
    /// Lifetime of tokens for clients that declare `cp1` (0: the normal lifetime).
    cae_lifetime: u64,
}

/// What a request's `claims` parameter asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requested {
    /// `access_token.xms_cc.values`.
    pub xms_cc: Vec<String>,
    /// `access_token.acrs.value` / `.values`.
    pub acrs: Vec<String>,
    /// Whether the request carried a `claims` parameter at all.
    pub present: bool,
}

/// A JSON string or array of strings (`aud`, a claims challenge's `values`) as a list.
pub(crate) fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// Reads the `claims` parameter (JSON) of a request (form or query). Unreadable claims count
/// as none (real Entra answers AADSTS90014-ish errors; no test needs them).
pub fn requested(req: &Req) -> Requested {
    let Some(raw) = req.param("claims") else {
        return Requested::default();
    };
    let v: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
    let at = v.get("access_token");
    let xms_cc = strings(
        at.and_then(|a| a.get("xms_cc"))
            .and_then(|x| x.get("values")),
    );
    let acr = at.and_then(|a| a.get("acrs"));
    let mut acrs = strings(acr.and_then(|a| a.get("value")));
    for s in strings(acr.and_then(|a| a.get("values"))) {
        if !acrs.contains(&s) {
            acrs.push(s);
        }
    }
    Requested {
        xms_cc,
        acrs,
        present: true,
    }
}

/// The claims to add to an access token: `xms_cc` and `acrs` (when any).
pub fn token_claims(r: &Requested, acrs: &[String]) -> Value {
    let mut m = Map::new();
    if !r.xms_cc.is_empty() {
        m.insert("xms_cc".into(), json!(r.xms_cc));
    }
    if !acrs.is_empty() {
        m.insert("acrs".into(), json!(acrs));
    }
    Value::Object(m)
}

/// The lifetime of a token for this request: the CAE lifetime when `cp1` is declared and one
/// is set.
pub fn lifetime(state: &State, r: &Requested) -> Option<u64> {
    let l = state.with_ext(|d: &mut Data| d.cae_lifetime);
    (l > 0 && r.xms_cc.iter().any(|c| c == "cp1")).then_some(l)
}

/// Tokens for clients that declare `cp1` live `secs` seconds from now on (0: normal lifetime).
pub fn set_cae_token_lifetime(state: &State, secs: u64) {
    state.with_ext(|d: &mut Data| d.cae_lifetime = secs);
}

/// Remember the contexts asked for when a device or authorization code was issued.
pub fn remember_code_acrs(state: &State, code: &str, acrs: Vec<String>) {
    if !acrs.is_empty() {
        let code = code.to_string();
        state.with_ext(|d: &mut Data| d.code_acrs.insert(code, acrs));
    }
}

/// The contexts a sign-in with `code` satisfies: those of the code plus `more`.
pub fn sign_in_acrs(state: &State, code: &str, more: &[String]) -> Vec<String> {
    let mut all = state.with_ext(|d: &mut Data| d.code_acrs.get(code).cloned().unwrap_or_default());
    for s in more {
        if !all.contains(s) {
            all.push(s.clone());
        }
    }
    all
}

/// The contexts the session of refresh token `rt` satisfied (empty when none or unknown).
pub fn session_acrs(state: &State, rt: &str) -> Vec<String> {
    state.with_ext(|d: &mut Data| d.session_acrs.get(rt).cloned().unwrap_or_default())
}

/// Record the contexts of the session of a newly minted refresh token.
pub fn set_session_acrs(state: &State, rt: &str, acrs: &[String]) {
    if !acrs.is_empty() {
        let (rt, acrs) = (rt.to_string(), acrs.to_vec());
        state.with_ext(|d: &mut Data| d.session_acrs.insert(rt, acrs));
    }
}

/// The contexts in `want` that `have` lacks.
pub fn missing(want: &[String], have: &[String]) -> Vec<String> {
    want.iter().filter(|w| !have.contains(w)).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req_with(claims: &str) -> Req {
        let mut r = Req::default();
        r.form.insert("claims".into(), claims.into());
        r
    }

    #[test]
    fn reads_claims() {
        let r = requested(&req_with(
            r#"{"access_token":{"xms_cc":{"values":["cp1"]},"acrs":{"essential":true,"value":"c1"}}}"#,
        ));
        assert_eq!(r.xms_cc, vec!["cp1"]);
        assert_eq!(r.acrs, vec!["c1"]);
        assert!(r.present);
        let r = requested(&req_with(
            r#"{"access_token":{"acrs":{"values":["c1","c2"]}}}"#,
        ));
        assert_eq!(r.acrs, vec!["c1", "c2"]);
        assert!(r.xms_cc.is_empty());
        assert_eq!(requested(&Req::default()), Requested::default());
        assert_eq!(token_claims(&r, &r.acrs), json!({"acrs": ["c1", "c2"]}));
        assert_eq!(missing(&r.acrs, &["c2".to_string()]), vec!["c1"]);
    }
}
