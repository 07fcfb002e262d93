//! Azure Arc managed identity (the Arc agent's `himds` endpoint), on its own listener (`arc`):
//! `GET /metadata/identity/oauth2/token?api-version=2019-11-01&resource=R` with
//! `Metadata: true`.
//!
//! - Without `Authorization`: the agent writes a new random key to `<tokens dir>/<uuid>.key`
//!   (mode 0600; the dir is set with [`State::set_arc_tokens_dir`]) and answers 401 with
//!   `WWW-Authenticate: Basic realm=<that path>`. [`State::set_arc_challenge_path`] makes it
//!   announce another path instead (writing nothing), for tests of hostile challenges.
//! - With `Authorization: Basic <key>` of a key it wrote: the token (system-assigned identity
//!   [`ARC_CLIENT_ID`]), like IMDS's answer. Any other key: 401 without a challenge.
//!
//! Every key written is an issued secret. Counted as `Endpoint::Arc`.

use super::Service;
use crate::faults::Endpoint;
use crate::http::{Req, Resp};
use crate::state::{Options, Principal, State};
use crate::util::{guid_from, now_secs, random_token, uuid};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

/// The service name (key of `Emulator::url`).
pub const NAME: &str = "arc";
/// The token path (`IDENTITY_ENDPOINT` = base + this; `IMDS_ENDPOINT` = base).
pub const PATH: &str = "/metadata/identity/oauth2/token";
/// Client id of the Arc server's system-assigned identity.
pub const ARC_CLIENT_ID: &str = "2b7e4c1d-6a3f-4d8e-b5c2-9f0a1e3d5c7b";

#[derive(Default)]
struct ArcData {
    tokens_dir: Option<PathBuf>,
    announce: Option<String>,
    keys: Vec<String>,
}

impl State {
    /// Where the emulated agent writes its challenge files.
    pub fn set_arc_tokens_dir(&self, dir: &std::path::Path) {
        self.with_ext(|d: &mut ArcData| d.tokens_dir = Some(dir.to_path_buf()));
    }

    /// Announce `path` in the challenge instead of writing a key file (`None`: back to normal).
    pub fn set_arc_challenge_path(&self, path: Option<&str>) {
        self.with_ext(|d: &mut ArcData| d.announce = path.map(str::to_string));
    }

    /// The keys written so far.
    pub fn arc_keys(&self) -> Vec<String> {
        self.with_ext(|d: &mut ArcData| d.keys.clone())
    }
}

/// `IDENTITY_ENDPOINT` for an `arc` listener at `base` (`IMDS_ENDPOINT` is `base`).
pub fn identity_endpoint(base: &str) -> String {
    format!("{base}{PATH}")
}

/// Starts the listener.
pub fn start(state: &Arc<State>, opts: &Options) -> std::io::Result<Service> {
    super::serve(NAME, opts.port(NAME), state, handle)
}

fn bad(status: u16, desc: &str) -> Resp {
    Resp::json(
        status,
        &json!({"error": "invalid_request", "error_description": desc}),
    )
}

fn handle(state: &State, req: &Req) -> Resp {
    if req.path != PATH {
        return Resp::not_found(&req.path);
    }
    if let Some(r) = state.arrive(Endpoint::Arc, req) {
        return r;
    }
    if req.method != "GET" {
        return bad(405, "token requests must be GET");
    }
    if req.header("metadata") != Some("true") {
        return bad(400, "Required metadata header not specified");
    }
    match req.query.get("api-version").map(String::as_str) {
        Some("2019-11-01") | Some("2020-06-01") => {}
        _ => return bad(400, "Invalid or missing api-version"),
    }
    let Some(resource) = req.param("resource").filter(|r| !r.is_empty()) else {
        return bad(400, "Required query variable 'resource' is missing");
    };
    let Some(auth) = req.header("authorization") else {
        return challenge(state);
    };
    let key = auth
        .split_once(' ')
        .filter(|(s, _)| s.eq_ignore_ascii_case("basic"))
        .map(|(_, k)| k.trim().to_string());
    let known = key.is_some_and(|k| state.with_ext(|d: &mut ArcData| d.keys.contains(&k)));
    if !known {
        return Resp::json(
            401,
            &json!({"error": {"code": "InvalidSecret", "message": "The secret in the Authorization header is not valid."}}),
        );
    }
    let oid = guid_from(&format!("oid:{ARC_CLIENT_ID}"));
    let who = Principal::App {
        client_id: ARC_CLIENT_ID.to_string(),
        oid,
    };
    let tid = state.resolve_tenant("organizations");
    let (at, lifetime) = state.mint_access_token(
        &who,
        ARC_CLIENT_ID,
        resource.trim_end_matches('/'),
        &tid,
        None,
    );
    let now = now_secs();
    Resp::json(
        200,
        &json!({
            "access_token": at,
            "expires_in": lifetime.to_string(),
            "expires_on": (now + lifetime).to_string(),
            "ext_expires_in": lifetime.to_string(),
            "not_before": now.to_string(),
            "resource": resource,
            "token_type": "Bearer",
        }),
    )
}

fn challenge(state: &State) -> Resp {
    let (dir, announce) =
        state.with_ext(|d: &mut ArcData| (d.tokens_dir.clone(), d.announce.clone()));
    let path = match announce {
        Some(p) => p,
        None => {
            let Some(dir) = dir else {
                return bad(
                    500,
                    "the emulator has no Arc tokens dir (State::set_arc_tokens_dir)",
                );
            };
            let key = random_token(32);
            let path = dir.join(format!("{}.key", uuid()));
            if let Err(e) = write_key(&path, &key) {
                return bad(500, &format!("cannot write {}: {e}", path.display()));
            }
            state.add_secret(&key);
            state.with_ext(|d: &mut ArcData| d.keys.push(key));
            path.to_string_lossy().into_owned()
        }
    };
    Resp::json(
        401,
        &json!({"error": "unauthorized_client", "error_description": "A challenge file was written; repeat the request with its content."}),
    )
    .with_header("WWW-Authenticate", &format!("Basic realm={path}"))
}

fn write_key(path: &std::path::Path, key: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)?.write_all(key.as_bytes())
}
