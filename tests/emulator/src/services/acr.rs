//! Azure Container Registry on loopback: the Entra token exchange, the registry's token
//! endpoint and a Docker Registry HTTP API v2 serving one image, `app:v1`.
//!
//! * `POST /oauth2/exchange` (form `grant_type=access_token`, `service`, `tenant`,
//!   `access_token`): the Entra access token must be one the emulator issued, for
//!   `https://containerregistry.azure.net` (or ARM `https://management.azure.com`), in `tenant`
//!   when given; `service` must be this registry (its `Host`). Answers
//!   `{"refresh_token": <JWT aud=registry, exp ~3 h, grant_type=refresh_token>}`.
//! * `GET /oauth2/token?service=&scope=` with Basic `00000000-0000-0000-0000-000000000000:<ACR
//!   refresh token>`, or `POST` `grant_type=refresh_token` (`refresh_token`, `service`, `scope`)
//!   or `grant_type=password` (`username`, `password`): `{"access_token": <registry token>}` whose
//!   `access` grants `pull` on `app`.
//! * `/v2/...`: `401` with `WWW-Authenticate: Bearer realm="http://<host>/oauth2/token",
//!   service="<host>"[,scope=...]` until a valid registry token for the repository is shown;
//!   then `/v2/`, `/v2/app/manifests/{v1|<digest>}`, `/v2/app/blobs/<digest>` (GET and HEAD)
//!   and `/v2/app/tags/list`.
//!
//! Counters: `Endpoint::AcrExchange`, `Endpoint::AcrToken`, `Endpoint::Registry`.

use super::Service;
use crate::faults::Endpoint;
use crate::http::{Req, Resp};
use crate::state::{Options, State};
use crate::util::{now_secs, uuid};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The service name (key of `Emulator::url`).
pub const NAME: &str = "acr";
/// The user name that goes with an ACR refresh token.
pub const ACR_USERNAME: &str = "00000000-0000-0000-0000-000000000000";
/// Entra audiences the exchange accepts.
pub const ACCEPTED_AUDIENCES: [&str; 2] = [
    "https://containerregistry.azure.net",
    "https://management.azure.com",
];
/// The one repository.
pub const REPO: &str = "app";
/// Its one tag.
pub const TAG: &str = "v1";
/// Media type of the manifest.
pub const MANIFEST_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Lifetimes of what the registry issues (seconds); change with [`set_lifetimes`].
#[derive(Debug, Clone, Copy)]
struct Lifetimes {
    refresh: u64,
    access: u64,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            refresh: 3 * 3600,
            access: 75 * 60,
        }
    }
}

/// Lifetimes of ACR refresh tokens and registry access tokens issued from now on.
pub fn set_lifetimes(state: &State, refresh_secs: u64, access_secs: u64) {
    state.with_ext(|l: &mut Lifetimes| {
        l.refresh = refresh_secs;
        l.access = access_secs;
    });
}

/// Starts the listener.
///
/// Clients such as skopeo and podman try `https://` first and fall back to `http://` only when
/// that fails; tiny_http would leave a TLS ClientHello waiting for a request line until the
/// client's 10-second handshake timeout. So the public port is a small front end: a connection
/// that opens with a TLS record gets a TLS `handshake_failure` alert at once, anything else is
/// piped to the HTTP server on an inner port.
pub fn start(state: &Arc<State>, opts: &Options) -> std::io::Result<Service> {
    let public = TcpListener::bind(("127.0.0.1", opts.port(NAME)))?;
    let public_port = public.local_addr()?.port();
    let mut svc = super::serve(NAME, 0, state, handle)?;
    let inner = svc.port;
    std::thread::Builder::new()
        .name("emu-acr-front".into())
        .spawn(move || {
            for conn in public.incoming().flatten() {
                let _ = std::thread::Builder::new()
                    .name("emu-acr-conn".into())
                    .spawn(move || front(conn, inner));
            }
        })?;
    svc.port = public_port;
    svc.url = format!("http://127.0.0.1:{public_port}");
    Ok(svc)
}

/// One connection of the front end (see [`start`]).
fn front(client: TcpStream, inner: u16) {
    let mut first = [0u8; 1];
    let _ = client.set_read_timeout(Some(Duration::from_secs(30)));
    match client.peek(&mut first) {
        Ok(1) if first[0] == 0x16 => {
            // TLS alert record: fatal (2), handshake_failure (40).
            let mut c = &client;
            let _ = c.write_all(&[0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28]);
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        Ok(1) => {}
        _ => return,
    }
    let _ = client.set_read_timeout(None);
    let Ok(server) = TcpStream::connect(("127.0.0.1", inner)) else {
        return;
    };
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || {
        let (mut from, mut to) = (c2, s2);
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    });
    let (mut from, mut to) = (server, client);
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Both);
    let _ = up.join();
}

fn handle(state: &State, req: &Req) -> Resp {
    let endpoint = match req.path.as_str() {
        "/oauth2/exchange" => Endpoint::AcrExchange,
        "/oauth2/token" => Endpoint::AcrToken,
        _ => Endpoint::Registry,
    };
    if let Some(r) = state.arrive(endpoint, req) {
        return r;
    }
    let host = req.header("host").unwrap_or("").to_ascii_lowercase();
    let resp = match endpoint {
        Endpoint::AcrExchange => exchange(state, req, &host),
        Endpoint::AcrToken => token(state, req, &host),
        _ => registry(state, req, &host),
    };
    resp.with_header("Docker-Distribution-Api-Version", "registry/2.0")
}

/// A registry error body: `{"errors": [{"code", "message", "detail"}]}`.
fn error(status: u16, code: &str, message: &str) -> Resp {
    Resp::json(
        status,
        &json!({"errors": [{"code": code, "message": message, "detail": null}]}),
    )
}

// ----- /oauth2/exchange -------------------------------------------------------------------

fn exchange(state: &State, req: &Req, host: &str) -> Resp {
    if req.method != "POST" {
        return error(405, "UNSUPPORTED", "use POST");
    }
    if req.param("grant_type") != Some("access_token") {
        return error(400, "UNSUPPORTED", "grant_type must be access_token");
    }
    let service = req.param("service").unwrap_or("").to_ascii_lowercase();
    if service != host {
        return error(
            400,
            "INVALID_SERVICE",
            &format!("service {service:?} is not this registry ({host:?})"),
        );
    }
    let Some(at) = req.param("access_token").filter(|t| !t.is_empty()) else {
        return error(400, "UNAUTHORIZED", "access_token is required");
    };
    let tenant = req.param("tenant").filter(|t| !t.is_empty());
    let mut last = String::new();
    let claims = ACCEPTED_AUDIENCES.iter().find_map(|aud| {
        match state.verify_access_token(at, aud, tenant) {
            Ok(c) => Some(c),
            Err(e) => {
                last = e;
                None
            }
        }
    });
    let Some(claims) = claims else {
        return error(
            401,
            "UNAUTHORIZED",
            &format!("the access token was not accepted: {last}"),
        );
    };
    let lifetime = state.with_ext(|l: &mut Lifetimes| l.refresh);
    let now = now_secs();
    let rt = state.sign(&json!({
        "jti": uuid(),
        "sub": claims.upn.clone().unwrap_or_else(|| claims.oid.clone()),
        "nbf": now,
        "iat": now,
        "exp": now + lifetime,
        "iss": "Azure Container Registry",
        "aud": host,
        "version": "1.0",
        "grant_type": "refresh_token",
        "tenant": claims.tid,
        "appid": claims.appid,
        "permissions": {"actions": ["read"], "notActions": []},
        "roles": [],
    }));
    state.add_secret(&rt);
    Resp::json(200, &json!({"refresh_token": rt}))
}

// ----- /oauth2/token ----------------------------------------------------------------------

/// Every `scope=` parameter (docker sends several; `Req::query` keeps only the last).
fn scopes(req: &Req) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    let query = url::form_urlencoded::parse(req.query_string.as_bytes());
    let form = url::form_urlencoded::parse(&req.body);
    for (k, val) in query.chain(
        if req.form.is_empty() {
            None
        } else {
            Some(form)
        }
        .into_iter()
        .flatten(),
    ) {
        if k == "scope" {
            for one in val.split(' ').filter(|s| !s.is_empty()) {
                if !v.iter().any(|x| x == one) {
                    v.push(one.to_string());
                }
            }
        }
    }
    v
}

fn token(state: &State, req: &Req, host: &str) -> Resp {
    let unauthorized = |m: &str| error(401, "UNAUTHORIZED", m);
    let service = req.param("service").unwrap_or("").to_ascii_lowercase();
    if service != host {
        return error(
            400,
            "INVALID_SERVICE",
            &format!("service {service:?} is not this registry ({host:?})"),
        );
    }
    let rt = match req.method.as_str() {
        "GET" => match req.basic() {
            Some((user, pw)) if user == ACR_USERNAME => pw,
            Some(_) => return unauthorized("the user name must be 00000000-0000-0000-0000-000000000000 with an ACR refresh token"),
            None => return unauthorized("authentication required"),
        },
        "POST" => match req.param("grant_type") {
            Some("refresh_token") => req.param("refresh_token").unwrap_or("").to_string(),
            Some("password") if req.param("username") == Some(ACR_USERNAME) => {
                req.param("password").unwrap_or("").to_string()
            }
            _ => return error(400, "UNSUPPORTED", "unsupported grant_type"),
        },
        _ => return error(405, "UNSUPPORTED", "use GET or POST"),
    };
    let claims = match state.verify_jwt(&rt) {
        Ok(c) => c,
        Err(e) => return unauthorized(&format!("invalid refresh token: {e}")),
    };
    if claims.get("grant_type").and_then(Value::as_str) != Some("refresh_token") {
        return unauthorized("not an ACR refresh token");
    }
    if claims.get("aud").and_then(Value::as_str) != Some(host) {
        return unauthorized("the refresh token is for another registry");
    }
    let access: Vec<Value> = scopes(req)
        .iter()
        .filter_map(|s| {
            let mut it = s.splitn(3, ':');
            let (kind, name, actions) = (it.next()?, it.next()?, it.next()?);
            if kind != "repository" || name != REPO {
                return None;
            }
            let granted: Vec<&str> = actions
                .split(',')
                .filter(|a| matches!(*a, "pull" | "metadata_read"))
                .collect();
            Some(json!({"type": "repository", "name": name, "actions": granted}))
        })
        .collect();
    let lifetime = state.with_ext(|l: &mut Lifetimes| l.access);
    let now = now_secs();
    let at = state.sign(&json!({
        "jti": uuid(),
        "sub": claims.get("sub").cloned().unwrap_or(Value::Null),
        "nbf": now,
        "iat": now,
        "exp": now + lifetime,
        "iss": "Azure Container Registry",
        "aud": host,
        "version": "1.0",
        "grant_type": "access_token",
        "access": access,
    }));
    state.add_secret(&at);
    Resp::json(200, &json!({"access_token": at}))
}

// ----- /v2/ -------------------------------------------------------------------------------

fn challenge(host: &str, scope: Option<&str>, insufficient: bool) -> Resp {
    let mut v = format!("Bearer realm=\"http://{host}/oauth2/token\",service=\"{host}\"");
    if let Some(s) = scope {
        v.push_str(&format!(",scope=\"{s}\""));
    }
    if insufficient {
        v.push_str(",error=\"insufficient_scope\"");
    }
    error(401, "UNAUTHORIZED", "authentication required").with_header("WWW-Authenticate", &v)
}

/// What a `/v2/` path asks for.
enum Target<'a> {
    Base,
    Manifest(&'a str, &'a str),
    Blob(&'a str, &'a str),
    Tags(&'a str),
    Unknown,
}

fn target(path: &str) -> Target<'_> {
    let Some(rest) = path.strip_prefix("/v2/") else {
        return if path == "/v2" {
            Target::Base
        } else {
            Target::Unknown
        };
    };
    if rest.is_empty() {
        return Target::Base;
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Target::Tags(name);
    }
    if let Some((name, r)) = rest.rsplit_once("/manifests/") {
        return Target::Manifest(name, r);
    }
    if let Some((name, d)) = rest.rsplit_once("/blobs/") {
        return Target::Blob(name, d);
    }
    Target::Unknown
}

fn registry(state: &State, req: &Req, host: &str) -> Resp {
    if req.method != "GET" && req.method != "HEAD" {
        return error(405, "UNSUPPORTED", "this registry is read-only");
    }
    let t = target(&req.path);
    let repo = match &t {
        Target::Manifest(n, _) | Target::Blob(n, _) | Target::Tags(n) => Some(*n),
        _ => None,
    };
    let scope = repo.map(|n| format!("repository:{n}:pull"));
    let claims = req.bearer().and_then(|tok| {
        let c = state.verify_jwt(tok).ok()?;
        let ok = c.get("aud").and_then(Value::as_str) == Some(host)
            && c.get("grant_type").and_then(Value::as_str) == Some("access_token");
        ok.then_some(c)
    });
    let Some(claims) = claims else {
        return challenge(host, scope.as_deref(), false);
    };
    if let Some(name) = repo {
        let allowed = claims
            .get("access")
            .and_then(Value::as_array)
            .is_some_and(|a| {
                a.iter().any(|e| {
                    e.get("type").and_then(Value::as_str) == Some("repository")
                        && e.get("name").and_then(Value::as_str) == Some(name)
                        && e.get("actions")
                            .and_then(Value::as_array)
                            .is_some_and(|acts| acts.iter().any(|x| x == "pull"))
                })
            });
        if !allowed {
            return challenge(host, scope.as_deref(), true);
        }
        if name != REPO {
            return error(404, "NAME_UNKNOWN", "repository name not known to registry");
        }
    }
    let img = image();
    match t {
        Target::Base => Resp::json(200, &json!({})),
        Target::Tags(_) => Resp::json(200, &json!({"name": REPO, "tags": [TAG]})),
        Target::Manifest(_, r) if r == TAG || r == img.manifest_digest => {
            Resp::new(200, MANIFEST_TYPE, img.manifest.clone())
                .with_header("Docker-Content-Digest", &img.manifest_digest)
        }
        Target::Manifest(..) => error(404, "MANIFEST_UNKNOWN", "manifest unknown"),
        Target::Blob(_, d) => match img.blob(d) {
            Some(b) => Resp::new(200, "application/octet-stream", b.to_vec())
                .with_header("Docker-Content-Digest", d),
            None => error(404, "BLOB_UNKNOWN", "blob unknown to registry"),
        },
        Target::Unknown => error(404, "NOT_FOUND", "no such endpoint"),
    }
}

// ----- the image --------------------------------------------------------------------------

/// The image `app:v1`: a Docker v2 schema 2 manifest, its config and one layer, with correct
/// digests (`sha256:<hex>` of the exact bytes served).
#[derive(Debug, Clone)]
pub struct Image {
    pub manifest: Vec<u8>,
    pub manifest_digest: String,
    pub config: Vec<u8>,
    pub config_digest: String,
    pub layer: Vec<u8>,
    pub layer_digest: String,
    /// sha256 of the uncompressed layer (the config's `rootfs.diff_ids`).
    pub diff_id: String,
}

impl Image {
    /// A blob by digest.
    pub fn blob(&self, digest: &str) -> Option<&[u8]> {
        if digest == self.config_digest {
            Some(&self.config)
        } else if digest == self.layer_digest {
            Some(&self.layer)
        } else {
            None
        }
    }
}

fn sha256_digest(data: &[u8]) -> String {
    let d = Sha256::digest(data);
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The image (built once).
pub fn image() -> &'static Image {
    static IMG: OnceLock<Image> = OnceLock::new();
    IMG.get_or_init(|| {
        let tar = tar_with_file("hello.txt", b"hello from the entra-emulator registry\n");
        let diff_id = sha256_digest(&tar);
        let layer = gzip_stored(&tar);
        let layer_digest = sha256_digest(&layer);
        let config = json!({
            "architecture": "amd64",
            "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "config": {
                "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
                "Cmd": ["/bin/cat", "/hello.txt"],
                "Labels": {"org.opencontainers.image.title": "app"}
            },
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "entra-emulator"}]
        })
        .to_string()
        .into_bytes();
        let config_digest = sha256_digest(&config);
        let manifest = serde_json::to_vec_pretty(&json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": config.len(),
                "digest": config_digest,
            },
            "layers": [{
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": layer.len(),
                "digest": layer_digest,
            }]
        }))
        .unwrap_or_default();
        let manifest_digest = sha256_digest(&manifest);
        Image {
            manifest,
            manifest_digest,
            config,
            config_digest,
            layer,
            layer_digest,
            diff_id,
        }
    })
}

/// A ustar archive with one regular file.
fn tar_with_file(name: &str, data: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    let put = |h: &mut [u8; 512], off: usize, s: &[u8]| h[off..off + s.len()].copy_from_slice(s);
    put(&mut h, 0, name.as_bytes());
    put(&mut h, 100, b"0000644\0");
    put(&mut h, 108, b"0000000\0");
    put(&mut h, 116, b"0000000\0");
    put(&mut h, 124, format!("{:011o}\0", data.len()).as_bytes());
    put(
        &mut h,
        136,
        format!("{:011o}\0", 1_704_067_200u64).as_bytes(),
    );
    put(&mut h, 148, b"        ");
    h[156] = b'0';
    put(&mut h, 257, b"ustar\0");
    put(&mut h, 263, b"00");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    put(&mut h, 148, format!("{sum:06o}\0 ").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// gzip with stored (uncompressed) deflate blocks: valid gzip without a compressor.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(65535).collect()
    };
    for (i, c) in chunks.iter().enumerate() {
        out.push(u8::from(i + 1 == chunks.len()));
        let len = c.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_and_gzip() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        let g = gzip_stored(b"abc");
        assert_eq!(&g[..3], &[0x1f, 0x8b, 8]);
        assert_eq!(g.len(), 10 + 5 + 3 + 8);
    }

    #[test]
    fn image_digests_match_bytes() {
        let img = image();
        let m: Value = serde_json::from_slice(&img.manifest).unwrap();
        assert_eq!(m["config"]["digest"], img.config_digest);
        assert_eq!(m["config"]["size"], img.config.len());
        assert_eq!(m["layers"][0]["digest"], img.layer_digest);
        assert_eq!(sha256_digest(&img.manifest), img.manifest_digest);
        let c: Value = serde_json::from_slice(&img.config).unwrap();
        assert_eq!(c["rootfs"]["diff_ids"][0], img.diff_id);
        assert!(img.blob(&img.layer_digest).is_some());
        assert!(img.blob("sha256:00").is_none());
    }

    #[test]
    fn targets() {
        assert!(matches!(target("/v2/"), Target::Base));
        assert!(matches!(
            target("/v2/app/manifests/v1"),
            Target::Manifest("app", "v1")
        ));
        assert!(matches!(
            target("/v2/a/b/blobs/sha256:1"),
            Target::Blob("a/b", "sha256:1")
        ));
        assert!(matches!(target("/v2/app/tags/list"), Target::Tags("app")));
        assert!(matches!(target("/v3/"), Target::Unknown));
    }
}
