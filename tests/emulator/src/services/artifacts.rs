//! Azure Artifacts: a sparse Cargo registry per feed, as `pkgs.dev.azure.com` serves them.
//!
//! - Index: `/{org}/_packaging/{feed}/Cargo/index/` (`config.json` with `auth-required: true`,
//!   then the usual sparse paths `1/a`, `2/ab`, `3/a/abc`, `ab/cd/abcd...`).
//! - Downloads: `/{org}/_packaging/{feed}/Cargo/api/v1/crates/{name}/{version}/download`.
//! - Publish: `PUT /{org}/_packaging/{feed}/Cargo/api/v1/crates/new` (cargo's binary body);
//!   the crate is then in the index and downloadable.
//! - Every request needs `Authorization: Bearer <token>` (cargo sends the provider's token as
//!   the header's whole value) with an unexpired emulator token for the Azure DevOps audience
//!   in the organisation's tenant ([`super::repos::tenant_of`]); else 401 with
//!   `WWW-Authenticate: Bearer authorization_uri=<entra>/<tid>`, as Azure DevOps answers.
//! - Every feed starts with one crate, `entra-demo 0.1.0` (`fixtures/entra-demo-0.1.0.crate`).
//! - [`tokens_seen`] lists the tokens presented, per kind of request, for tests.

use super::repos::{tenant_of, DEVOPS_AUDIENCE};
use super::Service;
use crate::faults::Endpoint;
use crate::http::{Req, Resp};
use crate::state::{Options, State};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The service name (key of `Emulator::url`).
pub const NAME: &str = "artifacts";
/// The crate every feed serves from the start.
pub const DEMO_CRATE: (&str, &str) = ("entra-demo", "0.1.0");
const DEMO_BYTES: &[u8] = include_bytes!("../../fixtures/entra-demo-0.1.0.crate");

/// What a request to the feed was for (see [`tokens_seen`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Use {
    /// `config.json` or an index file.
    Index,
    /// A `.crate` download.
    Download,
    /// `cargo publish`.
    Publish,
}

/// One version of a crate: its index line and its `.crate` bytes.
type Version = (Value, Vec<u8>);

#[derive(Default)]
struct Data {
    /// (org, feed, name) -> versions.
    crates: BTreeMap<(String, String, String), Vec<Version>>,
    seen: Vec<(Use, String)>,
}

/// The accepted tokens presented so far, with what they were used for.
pub fn tokens_seen(state: &State) -> Vec<(Use, String)> {
    state.with_ext(|d: &mut Data| d.seen.clone())
}

/// The index URL of a feed (`sparse+https://127.0.0.1:PORT/{org}/_packaging/{feed}/Cargo/index/`).
pub fn index_url(state: &State, org: &str, feed: &str) -> String {
    let me = state.url(NAME).unwrap_or_default();
    format!("sparse+{me}/{org}/_packaging/{feed}/Cargo/index/")
}

/// Starts the TLS listener (the Kubernetes API's certificate: trust [`super::kube::ca_pem`]).
/// TLS, as the real feeds: cargo (curl) asks a plain-http server for an `h2c` upgrade, which
/// tiny_http cannot answer.
pub fn start(state: &Arc<State>, opts: &Options) -> std::io::Result<Service> {
    let port = opts.port(NAME);
    let server = tiny_http::Server::https(("127.0.0.1", port), super::kube::ssl_config()?)
        .map_err(|e| std::io::Error::other(format!("{NAME}: cannot listen on port {port}: {e}")))?;
    super::serve_server(NAME, server, "https", state, handle)
}

fn index_line(name: &str, vers: &str, bytes: &[u8], deps: Value) -> Value {
    json!({"name": name, "vers": vers, "deps": deps, "cksum": hex(&Sha256::digest(bytes)),
           "features": {}, "yanked": false})
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn versions(state: &State, org: &str, feed: &str, name: &str) -> Vec<Version> {
    let key = (org.to_string(), feed.to_string(), name.to_ascii_lowercase());
    state.with_ext(|d: &mut Data| {
        if name.eq_ignore_ascii_case(DEMO_CRATE.0) && !d.crates.contains_key(&key) {
            let (n, v) = DEMO_CRATE;
            d.crates.insert(
                key.clone(),
                vec![(index_line(n, v, DEMO_BYTES, json!([])), DEMO_BYTES.to_vec())],
            );
        }
        d.crates.get(&key).cloned().unwrap_or_default()
    })
}

fn handle(state: &State, req: &Req) -> Resp {
    if let Some(r) = state.arrive(Endpoint::Artifacts, req) {
        return r;
    }
    let segs: Vec<String> = req.segments().iter().map(|s| s.to_string()).collect();
    // {org} _packaging {feed} Cargo (index|api) ...
    if segs.len() < 6 || segs[1] != "_packaging" || segs[3] != "Cargo" {
        return Resp::not_found(&req.path);
    }
    let (org, feed) = (segs[0].as_str(), segs[2].as_str());
    let tid = tenant_of(state, org);
    let challenge = |why: &str| {
        let entra = state.url("entra").unwrap_or_default();
        Resp::json(
            401,
            &json!({"errors": [{"detail": format!("TF400813: not authorized ({why})")}]}),
        )
        .with_header(
            "WWW-Authenticate",
            &format!("Bearer authorization_uri={entra}/{tid}"),
        )
        .with_header(
            "WWW-Authenticate",
            "Basic realm=\"https://pkgsprodeus21.pkgs.visualstudio.com/\"",
        )
        .with_header("X-VSS-ResourceTenant", &tid)
    };
    let Some(token) = req.bearer() else {
        return challenge("no credentials");
    };
    if let Err(e) = state.verify_access_token(token, DEVOPS_AUDIENCE, Some(&tid)) {
        return challenge(&e);
    }
    let base = format!(
        "{}/{org}/_packaging/{feed}/Cargo",
        state.url(NAME).unwrap_or_default()
    );
    let rest: Vec<&str> = segs[5..].iter().map(String::as_str).collect();
    let seen = |u: Use| state.with_ext(|d: &mut Data| d.seen.push((u, token.to_string())));
    match (segs[4].as_str(), req.method.as_str(), rest.as_slice()) {
        ("index", "GET", ["config.json"]) => {
            seen(Use::Index);
            Resp::json(
                200,
                &json!({"dl": format!("{base}/api/v1/crates"), "api": base, "auth-required": true}),
            )
        }
        ("index", "GET", [.., name]) => {
            seen(Use::Index);
            let lines: Vec<String> = versions(state, org, feed, name)
                .iter()
                .map(|(l, _)| l.to_string())
                .collect();
            if lines.is_empty() {
                return Resp::not_found(&req.path);
            }
            Resp::new(200, "text/plain", lines.join("\n") + "\n")
        }
        ("api", "GET", ["v1", "crates", name, vers, "download"]) => {
            seen(Use::Download);
            match versions(state, org, feed, name)
                .into_iter()
                .find(|(l, _)| l["vers"] == *vers)
            {
                Some((_, bytes)) => Resp::new(200, "application/x-tar", bytes),
                None => Resp::not_found(&req.path),
            }
        }
        ("api", "PUT", ["v1", "crates", "new"]) => {
            seen(Use::Publish);
            publish(state, org, feed, &req.body)
        }
        _ => Resp::not_found(&req.path),
    }
}

/// Cargo's publish body: u32 LE length + JSON metadata, u32 LE length + the `.crate`.
fn publish(state: &State, org: &str, feed: &str, body: &[u8]) -> Resp {
    let bad = |m: &str| Resp::json(400, &json!({"errors": [{"detail": m}]}));
    let take = |at: usize| -> Option<(&[u8], usize)> {
        let n = u32::from_le_bytes(body.get(at..at + 4)?.try_into().ok()?) as usize;
        Some((body.get(at + 4..at + 4 + n)?, at + 4 + n))
    };
    let Some((meta, next)) = take(0) else {
        return bad("truncated metadata");
    };
    let Some((bytes, _)) = take(next) else {
        return bad("truncated crate");
    };
    let Ok(meta) = serde_json::from_slice::<Value>(meta) else {
        return bad("metadata is not JSON");
    };
    let (Some(name), Some(vers)) = (meta["name"].as_str(), meta["vers"].as_str()) else {
        return bad("metadata without name or vers");
    };
    let deps: Vec<Value> = meta["deps"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|d| {
            json!({"name": d["name"], "req": d["version_req"], "features": d["features"],
                   "optional": d["optional"], "default_features": d["default_features"],
                   "target": d["target"], "kind": d["kind"], "registry": d["registry"]})
        })
        .collect();
    let line = index_line(name, vers, bytes, Value::Array(deps));
    let key = (org.to_string(), feed.to_string(), name.to_ascii_lowercase());
    let _ = versions(state, org, feed, name);
    let added = state.with_ext(|d: &mut Data| {
        let list = d.crates.entry(key).or_default();
        if list.iter().any(|(l, _)| l["vers"] == vers) {
            return false;
        }
        list.push((line, bytes.to_vec()));
        true
    });
    if !added {
        return bad(&format!("{name}@{vers} already exists"));
    }
    Resp::json(
        200,
        &json!({"warnings": {"invalid_categories": [], "invalid_badges": [], "other": []}}),
    )
}
