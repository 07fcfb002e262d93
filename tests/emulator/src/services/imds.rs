//! Managed identity endpoints, all on one listener:
//!
//! | path | as | request |
//! |---|---|---|
//! | `GET /metadata/identity/oauth2/token` | IMDS (`AZURE_POD_IDENTITY_AUTHORITY_HOST` = the base URL) | `api-version=2018-02-01&resource=R[&client_id=|object_id=|msi_res_id=]`, header `Metadata: true` |
//! | `GET /msi/token` | App Service (`IDENTITY_ENDPOINT` = [`app_service_url`]) | `api-version=2019-08-01&resource=R[&client_id=|principal_id=|mi_res_id=]`, header `X-IDENTITY-HEADER` = [`State::identity_header`] |
//! | `POST /cloudshell/token` | Cloud Shell (`MSI_ENDPOINT` = [`cloud_shell_url`]) | form `resource=R`, header `Metadata: true` |
//!
//! The system-assigned identity is [`SYSTEM_CLIENT_ID`]; user-assigned ones are
//! registered with [`State::add_managed_identity`] (unknown ones: 400 `Identity not
//! found`). Tokens are the emulator's access tokens (`aud` = the resource, `appid` = the
//! identity's client id, `idtyp` `app`). Answers carry `expires_on` as POSIX seconds in a
//! string, or with [`State::set_managed_identity_date_expiry`] as an old host's date
//! (`11/22/2026 1:02:03 AM +00:00`). Counted as `Endpoint::Imds`, `AppService`, `CloudShell`.
//! [`State::set_imds_without_identity`] makes a VM without a managed identity (400 `Identity
//! not found` for the system-assigned one). Cloud Shell serves only [`CLOUD_SHELL_AUDIENCES`]
//! and answers any other resource with its own error shape, 400
//! `{"error": {"code": "AudienceNotSupported", "message": ...}}`.

use super::Service;
use crate::faults::Endpoint;
use crate::http::{Req, Resp};
use crate::state::{Options, Principal, State};
use crate::util::{guid_from, now_secs, random_token};
use serde_json::json;
use std::sync::Arc;

/// The service name (key of `Emulator::url`).
pub const NAME: &str = "imds";
/// IMDS token path.
pub const IMDS_PATH: &str = "/metadata/identity/oauth2/token";
/// App Service token path.
pub const APP_SERVICE_PATH: &str = "/msi/token";
/// Cloud Shell token path.
pub const CLOUD_SHELL_PATH: &str = "/cloudshell/token";
/// The audiences Cloud Shell issues tokens for (others: 400 `AudienceNotSupported`).
pub const CLOUD_SHELL_AUDIENCES: [&str; 8] = [
    "https://management.core.windows.net/",
    "https://management.azure.com/",
    "https://graph.microsoft.com/",
    "https://vault.azure.net",
    "https://storage.azure.com/",
    "https://database.windows.net/",
    "499b84ac-1321-427f-aa17-267ca6975798",
    "https://ossrdbms-aad.database.windows.net",
];

/// Client id of the system-assigned identity.
pub const SYSTEM_CLIENT_ID: &str = "5a0e5d1c-9c3b-4f2e-8a71-3d6b2c1f0e9a";

/// A user-assigned identity.
#[derive(Debug, Clone)]
pub struct UserAssigned {
    pub client_id: String,
    pub object_id: String,
    pub resource_id: String,
}

#[derive(Default)]
struct MiData {
    identities: Vec<UserAssigned>,
    header: Option<String>,
    date_expiry: bool,
    /// A VM without a system-assigned identity: IMDS answers 400 `Identity not found`.
    no_system_identity: bool,
}

impl State {
    /// Register a user-assigned identity (object id and resource id derived from the client id
    /// when `None`). Returns it.
    pub fn add_managed_identity(
        &self,
        client_id: &str,
        object_id: Option<&str>,
        resource_id: Option<&str>,
    ) -> UserAssigned {
        let ua = UserAssigned {
            client_id: client_id.to_string(),
            object_id: object_id
                .map(str::to_string)
                .unwrap_or_else(|| guid_from(&format!("oid:{client_id}"))),
            resource_id: resource_id.map(str::to_string).unwrap_or_else(|| {
                format!("/subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{client_id}")
            }),
        };
        self.with_ext(|d: &mut MiData| d.identities.push(ua.clone()));
        ua
    }

    /// The secret App Service expects in `X-IDENTITY-HEADER` (`IDENTITY_HEADER`).
    pub fn identity_header(&self) -> String {
        self.with_ext(|d: &mut MiData| {
            d.header
                .get_or_insert_with(|| format!("ih-{}", random_token(24)))
                .clone()
        })
    }

    /// A VM without a (system-assigned) managed identity: IMDS answers a request that names no
    /// user-assigned identity with 400 `Identity not found`, as Azure does.
    pub fn set_imds_without_identity(&self, on: bool) {
        self.with_ext(|d: &mut MiData| d.no_system_identity = on);
    }

    /// Answer `expires_on` as a date (`11/22/2026 1:02:03 AM +00:00`) like old hosts.
    pub fn set_managed_identity_date_expiry(&self, on: bool) {
        self.with_ext(|d: &mut MiData| d.date_expiry = on);
    }
}

/// `IDENTITY_ENDPOINT` for an emulator whose IMDS listener is at `base`.
pub fn app_service_url(base: &str) -> String {
    format!("{base}{APP_SERVICE_PATH}")
}

/// `MSI_ENDPOINT` for an emulator whose IMDS listener is at `base`.
pub fn cloud_shell_url(base: &str) -> String {
    format!("{base}{CLOUD_SHELL_PATH}")
}

/// Starts the listener.
pub fn start(state: &Arc<State>, opts: &Options) -> std::io::Result<Service> {
    super::serve(NAME, opts.port(NAME), state, handle)
}

fn handle(state: &State, req: &Req) -> Resp {
    let endpoint = match req.path.as_str() {
        IMDS_PATH => Endpoint::Imds,
        APP_SERVICE_PATH => Endpoint::AppService,
        CLOUD_SHELL_PATH => Endpoint::CloudShell,
        _ => return Resp::not_found(&req.path),
    };
    if let Some(r) = state.arrive(endpoint, req) {
        return r;
    }
    match endpoint {
        Endpoint::Imds => imds(state, req),
        Endpoint::AppService => app_service(state, req),
        _ => cloud_shell(state, req),
    }
}

fn bad(status: u16, desc: &str) -> Resp {
    Resp::json(
        status,
        &json!({"error": "invalid_request", "error_description": desc}),
    )
}

/// Which identity a request names: `(client_id, object_id)`, or an error answer.
fn identity(state: &State, req: &Req, keys: [&str; 3]) -> Result<(String, String), Resp> {
    let given: Vec<(usize, &str)> = keys
        .iter()
        .enumerate()
        .filter_map(|(i, k)| req.query.get(*k).map(|v| (i, v.as_str())))
        .collect();
    match given.as_slice() {
        [] if state.with_ext(|d: &mut MiData| d.no_system_identity) => {
            Err(bad(400, "Identity not found"))
        }
        [] => Ok((
            SYSTEM_CLIENT_ID.to_string(),
            guid_from(&format!("oid:{SYSTEM_CLIENT_ID}")),
        )),
        [(i, v)] => {
            let found = state.with_ext(|d: &mut MiData| {
                d.identities
                    .iter()
                    .find(|u| match i {
                        0 => u.client_id.eq_ignore_ascii_case(v),
                        1 => u.object_id.eq_ignore_ascii_case(v),
                        _ => u.resource_id.eq_ignore_ascii_case(v),
                    })
                    .cloned()
            });
            match found {
                Some(u) => Ok((u.client_id, u.object_id)),
                None => Err(bad(400, "Identity not found")),
            }
        }
        _ => Err(bad(
            400,
            "Only one of client_id, object_id or msi_res_id may be given",
        )),
    }
}

/// Mint a token and build the answer; `all_strings` as IMDS does.
fn answer(state: &State, client_id: &str, oid: &str, resource: &str) -> Resp {
    let who = Principal::App {
        client_id: client_id.to_string(),
        oid: oid.to_string(),
    };
    let tid = state.resolve_tenant("organizations");
    let aud = resource.trim_end_matches('/');
    let (at, lifetime) = state.mint_access_token(&who, client_id, aud, &tid, None);
    let now = now_secs();
    let exp = now + lifetime;
    let date = state.with_ext(|d: &mut MiData| d.date_expiry);
    let expires_on = if date {
        old_host_date(exp)
    } else {
        exp.to_string()
    };
    Resp::json(
        200,
        &json!({
            "access_token": at,
            "client_id": client_id,
            "expires_in": lifetime.to_string(),
            "expires_on": expires_on,
            "ext_expires_in": lifetime.to_string(),
            "not_before": now.to_string(),
            "resource": resource,
            "token_type": "Bearer",
        }),
    )
}

fn resource(req: &Req) -> Result<String, Resp> {
    match req.param("resource").filter(|r| !r.is_empty()) {
        Some(r) => Ok(r.to_string()),
        None => Err(bad(400, "Required query variable 'resource' is missing")),
    }
}

fn imds(state: &State, req: &Req) -> Resp {
    if req.method != "GET" {
        return bad(405, "IMDS token requests must be GET");
    }
    if req.header("metadata") != Some("true") {
        return bad(400, "Required metadata header not specified");
    }
    match req.query.get("api-version").map(String::as_str) {
        Some("2018-02-01") => {}
        Some(_) => return bad(400, "Invalid version"),
        None => return bad(400, "Required query variable 'api-version' is missing"),
    }
    let resource = match resource(req) {
        Ok(r) => r,
        Err(r) => return r,
    };
    match identity(state, req, ["client_id", "object_id", "msi_res_id"]) {
        Ok((c, o)) => answer(state, &c, &o, &resource),
        Err(r) => r,
    }
}

fn app_service(state: &State, req: &Req) -> Resp {
    if req.method != "GET" {
        return bad(405, "token requests must be GET");
    }
    if req.header("x-identity-header") != Some(state.identity_header().as_str()) {
        return Resp::json(
            401,
            &json!({"statusCode": 401, "message": "Unauthorized: the X-IDENTITY-HEADER is missing or does not match."}),
        );
    }
    if req.query.get("api-version").map(String::as_str) != Some("2019-08-01") {
        return Resp::json(
            400,
            &json!({"statusCode": 400, "message": "Invalid or missing api-version; expected 2019-08-01."}),
        );
    }
    let resource = match resource(req) {
        Ok(r) => r,
        Err(r) => return r,
    };
    match identity(state, req, ["client_id", "principal_id", "mi_res_id"]) {
        Ok((c, o)) => answer(state, &c, &o, &resource),
        Err(r) => r,
    }
}

fn cloud_shell(state: &State, req: &Req) -> Resp {
    if req.method != "POST" {
        return bad(405, "Cloud Shell token requests must be POST");
    }
    if req.header("metadata") != Some("true") {
        return bad(400, "Required metadata header not specified");
    }
    let Some(resource) = req.form.get("resource").filter(|r| !r.is_empty()) else {
        return bad(400, "Required form field 'resource' is missing");
    };
    if !CLOUD_SHELL_AUDIENCES
        .iter()
        .any(|a| a.trim_end_matches('/') == resource.trim_end_matches('/'))
    {
        // Cloud Shell's own error shape (not Entra's).
        return Resp::json(
            400,
            &json!({"error": {"code": "AudienceNotSupported", "message": format!(
                "Audience {resource} is not a supported MSI token audience. Supported audiences: {}",
                CLOUD_SHELL_AUDIENCES.join(", ")
            )}}),
        );
    }
    answer(
        state,
        SYSTEM_CLIENT_ID,
        &guid_from(&format!("oid:{SYSTEM_CLIENT_ID}")),
        resource,
    )
}

/// POSIX seconds as `M/D/YYYY h:mm:ss AM +00:00`.
pub fn old_host_date(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let (y, m, d) = civil_from_days(days);
    let (h, min, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let (h12, ampm) = match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    };
    format!("{m}/{d}/{y} {h12}:{min:02}:{s:02} {ampm} +00:00")
}

/// Days since 1970-01-01 to (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn dates() {
        assert_eq!(old_host_date(1795309323), "11/22/2026 1:02:03 AM +00:00");
        assert_eq!(
            old_host_date(1795309323 + 12 * 3600),
            "11/22/2026 1:02:03 PM +00:00"
        );
        assert_eq!(old_host_date(1798848000), "1/2/2027 12:00:00 AM +00:00");
        assert_eq!(old_host_date(0), "1/1/1970 12:00:00 AM +00:00");
    }

    fn get(path_and_query: &str, headers: &[(&str, &str)]) -> Req {
        let (path, q) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        Req {
            method: "GET".into(),
            path: path.into(),
            query: crate::http::parse_form(q.as_bytes()),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
                .collect(),
            ..Req::default()
        }
    }

    #[test]
    fn imds_shape() {
        let st = State::new(&Options::default());
        let ok = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/";
        assert_eq!(handle(&st, &get(ok, &[])).status, 400);
        let r = handle(&st, &get(ok, &[("Metadata", "true")]));
        assert_eq!(r.status, 200);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(v["expires_on"].is_string());
        assert_eq!(v["client_id"], SYSTEM_CLIENT_ID);
        st.verify_access_token(
            v["access_token"].as_str().unwrap(),
            "https://management.azure.com",
            None,
        )
        .unwrap();
        let ua = format!("{ok}&client_id=nope");
        assert_eq!(handle(&st, &get(&ua, &[("Metadata", "true")])).status, 400);
        let u = st.add_managed_identity("ua-1", None, None);
        let by_oid = format!("{ok}&object_id={}", u.object_id);
        let r = handle(&st, &get(&by_oid, &[("Metadata", "true")]));
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["client_id"], "ua-1");
        assert_eq!(st.count(Endpoint::Imds), 4);
    }
}
