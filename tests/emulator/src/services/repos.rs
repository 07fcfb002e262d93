//! Azure Repos: tenant discovery and git smart HTTP through `git http-backend`.
//!
//! - Every request without valid credentials gets Azure DevOps' 401: `WWW-Authenticate: Bearer
//!   authorization_uri=<entra url>/<tid>`, `WWW-Authenticate: Basic realm="..."`,
//!   `WWW-Authenticate: TFS-Federated` and `X-VSS-ResourceTenant: <tid>`. An unauthenticated
//!   `HEAD /{org}` is counted as [`Endpoint::ReposDiscovery`], everything else as
//!   [`Endpoint::ReposGit`].
//! - Credentials: `Authorization: Bearer <token>` or `Basic` with the token as the password. The
//!   token must be one the emulator issued, unexpired, for the Azure DevOps audience and, unless
//!   the organisation's tenant is the all-zero GUID, the organisation's tenant; and not rejected
//!   with [`reject_issued_tokens`].
//! - `/{org}/{project}/_git/{repo}/...` is served by `git http-backend` (CGI) from the bare
//!   repository `<root>/{org}/{project}/{repo}.git` ([`set_root`]; none = 404).
//! - Every organisation's tenant is [`REPOS_TENANT`] unless set with [`set_org_tenant`].

use super::Service;
use crate::faults::Endpoint;
use crate::http::{Req, Resp};
use crate::state::{Options, State};
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

/// The service name (key of `Emulator::url`).
pub const NAME: &str = "repos";
/// The Azure DevOps application (audience of the tokens it accepts).
pub const DEVOPS_AUDIENCE: &str = "499b84ac-1321-427f-aa17-267ca6975798";
/// The tenant of every organisation unless [`set_org_tenant`] says otherwise (deliberately not
/// the default user's home tenant: a token from the wrong tenant is rejected).
pub const REPOS_TENANT: &str = "5f2b7e3c-1a4d-4c8e-b6f0-9d3e2a1c7b54";
/// `X-VSS-ResourceTenant` of an organisation not backed by Entra ID.
pub const ZERO_TENANT: &str = "00000000-0000-0000-0000-000000000000";

#[derive(Default)]
struct Data {
    root: Option<PathBuf>,
    org_tenants: BTreeMap<String, String>,
    rejected: HashSet<String>,
    /// Tokens revoked the CAE way, and the claims (JSON) their challenge demands.
    cae_rejected: HashSet<String>,
    cae_claims: Option<String>,
    /// An authentication context every token must carry in `acrs` (CAE challenge otherwise).
    required_acrs: Option<String>,
}

/// Serve the bare repositories under `root` (`<root>/{org}/{project}/{repo}.git`).
pub fn set_root(state: &State, root: &Path) {
    let root = root.to_path_buf();
    state.with_ext(|d: &mut Data| d.root = Some(root));
}

/// The repositories root, when set.
pub fn root(state: &State) -> Option<PathBuf> {
    state.with_ext(|d: &mut Data| d.root.clone())
}

/// Put organisation `org` in tenant `tid` (the all-zero GUID: not backed by Entra ID; any
/// tenant's token is then accepted).
pub fn set_org_tenant(state: &State, org: &str, tid: &str) {
    let (org, tid) = (org.to_ascii_lowercase(), tid.to_ascii_lowercase());
    state.with_ext(|d: &mut Data| d.org_tenants.insert(org, tid));
}

/// The tenant of organisation `org`.
pub fn tenant_of(state: &State, org: &str) -> String {
    let org = org.to_ascii_lowercase();
    state.with_ext(|d: &mut Data| {
        d.org_tenants
            .get(&org)
            .cloned()
            .unwrap_or_else(|| REPOS_TENANT.to_string())
    })
}

/// From now on, reject every access token issued so far (as if the server had revoked them);
/// returns how many secrets were marked. Tokens issued later are accepted.
pub fn reject_issued_tokens(state: &State) -> usize {
    let issued = state.issued_secrets();
    let n = issued.len();
    state.with_ext(|d: &mut Data| d.rejected.extend(issued));
    n
}

/// From now on, answer every access token issued so far as a CAE resource answers a revoked
/// session: 401 with `WWW-Authenticate: Bearer authorization_uri=<entra>/<tid>,
/// error="insufficient_claims", claims="<base64 JSON>"`. The claims demand a token issued from
/// now on (`nbf`), or with `acrs`, the authentication context `acrs` (which every token must
/// then carry). Returns how many secrets were marked.
pub fn cae_revoke_issued_tokens(state: &State, acrs: Option<&str>) -> usize {
    let issued = state.issued_secrets();
    let n = issued.len();
    let claims = match acrs {
        Some(a) => serde_json::json!({"access_token": {"acrs": {"essential": true, "value": a}}}),
        None => serde_json::json!({"access_token": {"nbf": {"essential": true,
            "value": crate::util::now_secs().to_string()}}}),
    }
    .to_string();
    let acrs = acrs.map(str::to_string);
    state.with_ext(|d: &mut Data| {
        d.cae_rejected.extend(issued);
        d.cae_claims = Some(claims);
        if acrs.is_some() {
            d.required_acrs = acrs;
        }
    });
    n
}

/// The 401 of a CAE resource: the Bearer challenge carries `error="insufficient_claims"` and
/// the base64 claims.
fn cae_challenge(state: &State, org: &str, claims: &str) -> Resp {
    use base64::Engine;
    let tid = tenant_of(state, org);
    let entra = state.url("entra").unwrap_or_default();
    let me = state.url(NAME).unwrap_or_default();
    let b64 = base64::engine::general_purpose::STANDARD.encode(claims);
    Resp::text(
        401,
        "TF400813: The user is not authorized to access this resource. (insufficient claims)",
    )
    .with_header(
        "WWW-Authenticate",
        &format!("Bearer authorization_uri={entra}/{tid}, error=\"insufficient_claims\", claims=\"{b64}\""),
    )
    .with_header("WWW-Authenticate", &format!("Basic realm=\"{me}/\""))
    .with_header("WWW-Authenticate", "TFS-Federated")
    .with_header("X-VSS-ResourceTenant", &tid)
}

/// Starts the listener.
pub fn start(state: &Arc<State>, opts: &Options) -> std::io::Result<Service> {
    super::serve(NAME, opts.port(NAME), state, handle)
}

fn challenge(state: &State, org: &str, why: &str) -> Resp {
    let tid = tenant_of(state, org);
    let entra = state.url("entra").unwrap_or_default();
    let me = state.url(NAME).unwrap_or_default();
    Resp::text(
        401,
        &format!("TF400813: The user is not authorized to access this resource. ({why})"),
    )
    .with_header(
        "WWW-Authenticate",
        &format!("Bearer authorization_uri={entra}/{tid}"),
    )
    .with_header("WWW-Authenticate", &format!("Basic realm=\"{me}/\""))
    .with_header("WWW-Authenticate", "TFS-Federated")
    .with_header("X-VSS-ResourceTenant", &tid)
    .with_header("X-TFS-ProcessId", "00000000-0000-0000-0000-000000000000")
}

/// The token of a `Bearer` or `Basic` (password) Authorization header.
fn presented_token(req: &Req) -> Option<String> {
    if let Some(t) = req.bearer() {
        return Some(t.to_string());
    }
    req.basic().map(|(_, p)| p).filter(|p| !p.is_empty())
}

fn handle(state: &State, req: &Req) -> Resp {
    let segs: Vec<String> = req.segments().iter().map(|s| s.to_string()).collect();
    let authenticated = req.header("authorization").is_some();
    let endpoint = if !authenticated && req.method == "HEAD" && segs.len() == 1 {
        Endpoint::ReposDiscovery
    } else {
        Endpoint::ReposGit
    };
    if let Some(r) = state.arrive(endpoint, req) {
        return r;
    }
    let Some(org) = segs.first().cloned() else {
        return Resp::not_found(&req.path);
    };
    let Some(token) = presented_token(req) else {
        return challenge(state, &org, "no credentials");
    };
    let rejected = state.with_ext(|d: &mut Data| d.rejected.contains(&token));
    if rejected {
        return challenge(state, &org, "the token was revoked");
    }
    let cae = state.with_ext(|d: &mut Data| {
        d.cae_claims
            .clone()
            .filter(|_| d.cae_rejected.contains(&token))
    });
    if let Some(claims) = cae {
        return cae_challenge(state, &org, &claims);
    }
    let tid = tenant_of(state, &org);
    let expected_tid = (tid != ZERO_TENANT).then_some(tid.as_str());
    let claims = match state.verify_access_token(&token, DEVOPS_AUDIENCE, expected_tid) {
        Ok(c) => c,
        Err(e) => return challenge(state, &org, &e),
    };
    let (required, demanded) =
        state.with_ext(|d: &mut Data| (d.required_acrs.clone(), d.cae_claims.clone()));
    if let (Some(acrs), Some(demanded)) = (required, demanded) {
        let has = claims.raw["acrs"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(acrs.as_str())));
        if !has {
            return cae_challenge(state, &org, &demanded);
        }
    }
    if endpoint == Endpoint::ReposDiscovery || segs.len() < 4 || segs[2] != "_git" {
        return Resp::text(200, "ok");
    }
    let user = claims.upn.clone().unwrap_or_else(|| claims.appid.clone());
    git_backend(state, req, &segs, &user)
}

/// A path segment safe to use as a directory name.
fn safe(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn git_backend(state: &State, req: &Req, segs: &[String], user: &str) -> Resp {
    let (org, project, repo) = (&segs[0], &segs[1], &segs[3]);
    if ![org, project, repo].iter().all(|s| safe(s)) || segs[4..].iter().any(|s| !safe(s)) {
        return Resp::text(400, "bad repository path");
    }
    let Some(root) = root(state) else {
        return Resp::text(404, "no repositories root (Emulator::set_repos_root)");
    };
    let repo_dir = format!("{org}/{project}/{repo}.git");
    if !root.join(&repo_dir).is_dir() {
        return Resp::text(
            404,
            &format!("TF401019: no repository {org}/{project}/{repo}"),
        );
    }
    let rest = segs[4..].join("/");
    let path_info = format!("/{repo_dir}/{rest}");
    let mut cmd = Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &root)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_PROJECT_ROOT", &root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", &path_info)
        .env("QUERY_STRING", &req.query_string)
        .env("REQUEST_METHOD", &req.method)
        .env("CONTENT_TYPE", req.header("content-type").unwrap_or(""))
        .env("CONTENT_LENGTH", req.body.len().to_string())
        .env("REMOTE_USER", user)
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(enc) = req.header("content-encoding") {
        cmd.env("HTTP_CONTENT_ENCODING", enc);
    }
    if let Some(p) = req.header("git-protocol") {
        cmd.env("GIT_PROTOCOL", p);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Resp::text(500, &format!("cannot run git http-backend: {e}")),
    };
    let writer = child.stdin.take().map(|mut pipe| {
        let body = req.body.clone();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&body);
        })
    });
    let out = match child.wait_with_output() {
        Ok(o) => o,
        Err(e) => return Resp::text(500, &format!("git http-backend failed: {e}")),
    };
    if let Some(w) = writer {
        let _ = w.join();
    }
    match parse_cgi(&out.stdout) {
        Some(r) => r,
        None => Resp::text(
            500,
            &format!(
                "git http-backend gave no CGI answer ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ),
        ),
    }
}

/// Parses a CGI answer: headers (with `Status: NNN reason`) up to a blank line, then the body.
pub fn parse_cgi(out: &[u8]) -> Option<Resp> {
    let (head_len, sep) = [&b"\r\n\r\n"[..], &b"\n\n"[..]]
        .iter()
        .filter_map(|sep| {
            out.windows(sep.len())
                .position(|w| w == *sep)
                .map(|i| (i, sep.len()))
        })
        .min_by_key(|(i, _)| *i)?;
    let head = String::from_utf8_lossy(&out[..head_len]);
    let mut status = 200;
    let mut headers = Vec::new();
    for line in head.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("status") {
            status = v.split_whitespace().next()?.parse().ok()?;
        } else {
            headers.push((k.to_string(), v.to_string()));
        }
    }
    Some(Resp {
        status,
        headers,
        body: out[head_len + sep..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgi_answers() {
        let r = parse_cgi(b"Status: 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nno").unwrap();
        assert_eq!(r.status, 403);
        assert_eq!(
            r.headers,
            vec![("Content-Type".into(), "text/plain".into())]
        );
        assert_eq!(r.body, b"no");
        let r = parse_cgi(b"Content-Type: x\n\n\x00\x01").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"\x00\x01");
        assert!(parse_cgi(b"no header end").is_none());
    }

    #[test]
    fn tenants_and_rejection() {
        let st = State::new(&Options::default());
        assert_eq!(tenant_of(&st, "Org"), REPOS_TENANT);
        set_org_tenant(&st, "Org", ZERO_TENANT);
        assert_eq!(tenant_of(&st, "org"), ZERO_TENANT);
        st.add_secret("tok");
        assert_eq!(reject_issued_tokens(&st), 1);
        assert!(st.with_ext(|d: &mut Data| d.rejected.contains("tok")));
    }

    #[test]
    fn cae_revocation_answers_with_the_claims_challenge() {
        use base64::Engine;
        let st = State::new(&Options::default());
        st.add_secret("tok");
        assert_eq!(cae_revoke_issued_tokens(&st, Some("c1")), 1);
        let claims = st.with_ext(|d: &mut Data| {
            assert!(d.cae_rejected.contains("tok"));
            assert_eq!(d.required_acrs.as_deref(), Some("c1"));
            d.cae_claims.clone().unwrap()
        });
        let r = cae_challenge(&st, "org", &claims);
        assert_eq!(r.status, 401);
        let bearer = r
            .headers
            .iter()
            .find(|(k, v)| k == "WWW-Authenticate" && v.starts_with("Bearer "))
            .map(|(_, v)| v.clone())
            .unwrap();
        assert!(bearer.contains("error=\"insufficient_claims\""), "{bearer}");
        let b64 = bearer
            .split("claims=\"")
            .nth(1)
            .unwrap()
            .trim_end_matches('"');
        let json = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["access_token"]["acrs"]["value"], "c1");
    }
}
