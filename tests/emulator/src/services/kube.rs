//! Kubernetes API server (AKS with Entra ID authentication) over TLS.
//!
//! kubectl runs exec credential plugins only for `https` servers, so this listener speaks TLS
//! with a certificate for `127.0.0.1`/`localhost` issued by a self-signed CA made once per
//! process ([`ca_pem`]: put it in a kubeconfig as `certificate-authority-data`).
//!
//! Every request needs `Authorization: Bearer <token>` with an access token the emulator
//! issued for the AKS server application ([`AKS_SERVER_ID`]), else `401` with a Kubernetes
//! `Status`. Served: `/version`, discovery (`/api`, `/apis`, `/api/v1`), `/api/v1/namespaces`
//! (list and get). Counted under `Endpoint::Kube`; the bearer of each request is in the log.

use super::Service;
use crate::faults::Endpoint;
use crate::http::{Req, Resp};
use crate::state::{Options, State};
use serde_json::{json, Value};
use std::sync::{Arc, OnceLock};

/// The service name (key of `Emulator::url`).
pub const NAME: &str = "kube";

/// The AKS server application id: the audience of AKS API tokens.
pub const AKS_SERVER_ID: &str = "6dae42f8-4368-4678-94ff-3960e28e3630";

/// The namespaces the cluster has.
pub const NAMESPACES: [&str; 4] = ["default", "kube-node-lease", "kube-public", "kube-system"];

struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn make_pki() -> Result<Pki, rcgen::Error> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "entra-emulator kube CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
    leaf.distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    let leaf_key = KeyPair::generate()?;
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;
    Ok(Pki {
        ca_pem: ca_cert.pem(),
        cert_pem: leaf_cert.pem(),
        key_pem: leaf_key.serialize_pem(),
    })
}

fn pki() -> std::io::Result<&'static Pki> {
    static PKI: OnceLock<Result<Pki, String>> = OnceLock::new();
    PKI.get_or_init(|| make_pki().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| std::io::Error::other(format!("kube: cannot make certificates: {e}")))
}

/// PEM of the CA that issued the API server's certificate (the same for every emulator in
/// this process).
pub fn ca_pem() -> String {
    pki().map(|p| p.ca_pem.clone()).unwrap_or_default()
}

/// A TLS server configuration with the API server's certificate (`127.0.0.1`, `localhost`),
/// issued by [`ca_pem`]'s CA, for other emulated services served over https.
pub fn ssl_config() -> std::io::Result<tiny_http::SslConfig> {
    let pki = pki()?;
    Ok(tiny_http::SslConfig {
        certificate: pki.cert_pem.clone().into_bytes(),
        private_key: pki.key_pem.clone().into_bytes(),
    })
}

/// Starts the TLS listener.
pub fn start(state: &Arc<State>, opts: &Options) -> std::io::Result<Service> {
    let pki = pki()?;
    let port = opts.port(NAME);
    let server = tiny_http::Server::https(
        ("127.0.0.1", port),
        tiny_http::SslConfig {
            certificate: pki.cert_pem.clone().into_bytes(),
            private_key: pki.key_pem.clone().into_bytes(),
        },
    )
    .map_err(|e| std::io::Error::other(format!("{NAME}: cannot listen on port {port}: {e}")))?;
    super::serve_server(NAME, server, "https", state, handle)
}

fn status(code: u16, reason: &str, message: &str) -> Resp {
    Resp::json(
        code,
        &json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }),
    )
}

fn namespace(name: &str) -> Value {
    json!({
        "metadata": {
            "name": name,
            "uid": format!("00000000-0000-4000-8000-{:012x}", name.len()),
            "resourceVersion": "1",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"kubernetes.io/metadata.name": name},
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    })
}

fn handle(state: &State, req: &Req) -> Resp {
    if let Some(r) = state.arrive(Endpoint::Kube, req) {
        return r;
    }
    let Some(token) = req.bearer() else {
        return status(401, "Unauthorized", "Unauthorized");
    };
    if let Err(e) = state.verify_access_token(token, AKS_SERVER_ID, None) {
        return status(401, "Unauthorized", &format!("Unauthorized: {e}"));
    }
    if req.method != "GET" {
        return status(405, "MethodNotAllowed", "the emulator serves GET only");
    }
    match req.path.trim_end_matches('/') {
        "/version" => Resp::json(
            200,
            &json!({
                "major": "1",
                "minor": "32",
                "gitVersion": "v1.32.0",
                "gitCommit": "0000000000000000000000000000000000000000",
                "gitTreeState": "clean",
                "buildDate": "2026-01-01T00:00:00Z",
                "goVersion": "go1.23.0",
                "compiler": "gc",
                "platform": "linux/amd64",
            }),
        ),
        "/api" => Resp::json(
            200,
            &json!({
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:443"}],
            }),
        ),
        "/apis" => Resp::json(
            200,
            &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []}),
        ),
        "/api/v1" => Resp::json(
            200,
            &json!({
                "kind": "APIResourceList",
                "groupVersion": "v1",
                "resources": [{
                    "name": "namespaces",
                    "singularName": "namespace",
                    "namespaced": false,
                    "kind": "Namespace",
                    "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
                    "shortNames": ["ns"],
                }],
            }),
        ),
        "/api/v1/namespaces" => Resp::json(
            200,
            &json!({
                "kind": "NamespaceList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": "1"},
                "items": NAMESPACES.iter().map(|n| {
                    let mut ns = namespace(n);
                    ns["kind"] = json!("Namespace");
                    ns["apiVersion"] = json!("v1");
                    ns
                }).collect::<Vec<_>>(),
            }),
        ),
        p => match p.strip_prefix("/api/v1/namespaces/") {
            Some(name) if NAMESPACES.contains(&name) => {
                let mut ns = namespace(name);
                ns["kind"] = json!("Namespace");
                ns["apiVersion"] = json!("v1");
                Resp::json(200, &ns)
            }
            Some(name) => status(404, "NotFound", &format!("namespaces \"{name}\" not found")),
            None => status(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ),
        },
    }
}
