//! Admin API under `/_emulator/` on the Entra listener (for the binary and shell demos).
//! Admin requests are neither counted nor logged nor faulted.
//!
//! | route | effect |
//! |---|---|
//! | `GET /_emulator/stats` | `{"counts":{"Token":n,..},"grants":{"client_credentials":n,..},"total":n,"urls":{..}}` |
//! | `GET /_emulator/requests` | the request log (JSON array of `LoggedRequest`) |
//! | `GET /_emulator/faults` | pending faults |
//! | `POST /_emulator/faults` | queue a fault (or an array): `{"endpoint":"Token","status":503,"retry_after":"1","delay_ms":0,"body":"..","content_type":"..","times":1,"headers":{"Location":".."}}` |
//! | `DELETE /_emulator/faults` | drop pending faults |
//! | `POST /_emulator/revoke` | revoke every refresh token (AADSTS50173) |
//! | `POST /_emulator/expire` | expire every refresh token (AADSTS700082) |
//! | `POST /_emulator/approve` | approve every pending device code |
//! | `POST /_emulator/clients` | `{"client_id":"..","client_secret":".."}` register a client |
//! | `POST /_emulator/certificates` | `{"client_id":"..","certificate":"<PEM or base64 DER>"}` register a certificate credential (assertions must then be signed with it) |
//! | `POST /_emulator/federated` | `{"client_id","issuer","subject"}` trust a federated credential |
//! | `POST /_emulator/config` | any of `{"token_lifetime":s,"device_interval":s,"device_approval":"after:N|never|decline|expire|slow-down","refresh_token_grace":s,"clock_offset":s,"cae_token_lifetime":s}` (`clock_offset`: seconds the `Date` header is off) |
//! | `POST /_emulator/repos/revoke` | Azure Repos answers every token issued so far with a CAE `insufficient_claims` challenge; `{"acrs":"c1"}` demands that authentication context instead of a newer token |
//! | `GET /_emulator/secrets` | every secret issued so far (JSON array) |
//! | `GET /_emulator/kube-ca` | the PEM of the CA that signed the Kubernetes API's TLS certificate |
//! | `POST /_emulator/reset` | back to the start-up state |

use crate::faults::{Fault, FaultSpec};
use crate::http::{Req, Resp};
use crate::state::{DeviceApproval, State};
use serde_json::{json, Value};

pub fn handle(state: &State, req: &Req) -> Resp {
    let route = req.path.trim_start_matches("/_emulator").trim_matches('/');
    let m = req.method.as_str();
    match (m, route) {
        ("GET", "stats") => Resp::json(
            200,
            &json!({
                "counts": state.counts(),
                "grants": state.grant_counts(),
                "total": state.count(crate::faults::Endpoint::Any),
                "active_refresh_tokens": state.active_refresh_tokens(),
                "urls": state.urls(),
            }),
        ),
        ("GET", "requests") => Resp::json(200, &json!(state.requests())),
        ("GET", "secrets") => Resp::json(200, &json!(state.issued_secrets())),
        ("GET", "kube-ca") => Resp::text(200, &crate::services::kube::ca_pem()),
        ("GET", "faults") => {
            let f: Vec<FaultSpec> = state.pending_faults().iter().map(FaultSpec::from).collect();
            Resp::json(200, &json!(f))
        }
        ("DELETE", "faults") => {
            state.clear_faults();
            done()
        }
        ("POST", "faults") => match req.json() {
            Ok(Value::Array(items)) => {
                let mut faults = Vec::new();
                for it in items {
                    match parse_fault(it) {
                        Ok(f) => faults.push(f),
                        Err(e) => return bad(&e),
                    }
                }
                for f in faults {
                    state.inject(f);
                }
                done()
            }
            Ok(v) => match parse_fault(v) {
                Ok(f) => {
                    state.inject(f);
                    done()
                }
                Err(e) => bad(&e),
            },
            Err(e) => bad(&e),
        },
        ("POST", "revoke") => {
            state.revoke_refresh_tokens();
            done()
        }
        ("POST", "expire") => {
            state.expire_refresh_tokens();
            done()
        }
        ("POST", "approve") => {
            state.approve_all_device_codes();
            done()
        }
        ("POST", "repos/revoke") => {
            let v = if req.body.is_empty() {
                Value::Null
            } else {
                match req.json() {
                    Ok(v) => v,
                    Err(e) => return bad(&e),
                }
            };
            let n = super::repos::cae_revoke_issued_tokens(state, str_field(&v, "acrs"));
            Resp::json(200, &json!({"ok": true, "revoked": n}))
        }
        ("POST", "reset") => {
            state.reset();
            done()
        }
        ("POST", "clients") => {
            let v = match req.json() {
                Ok(v) => v,
                Err(e) => return bad(&e),
            };
            match (str_field(&v, "client_id"), str_field(&v, "client_secret")) {
                (Some(id), Some(secret)) => {
                    state.add_client(id, secret);
                    done()
                }
                _ => bad("expected {\"client_id\": \"..\", \"client_secret\": \"..\"}"),
            }
        }
        ("POST", "certificates") => {
            let v = match req.json() {
                Ok(v) => v,
                Err(e) => return bad(&e),
            };
            match (str_field(&v, "client_id"), str_field(&v, "certificate")) {
                (Some(id), Some(cert)) => match super::certs::cert_from_text(cert) {
                    Ok(der) => {
                        state.add_client_certificate(id, &der);
                        done()
                    }
                    Err(e) => bad(&e),
                },
                _ => bad(
                    "expected {\"client_id\": \"..\", \"certificate\": \"<PEM or base64 DER>\"}",
                ),
            }
        }
        ("POST", "federated") => {
            let v = match req.json() {
                Ok(v) => v,
                Err(e) => return bad(&e),
            };
            match (
                str_field(&v, "client_id"),
                str_field(&v, "issuer"),
                str_field(&v, "subject"),
            ) {
                (Some(c), Some(i), Some(s)) => {
                    state.add_federated_credential(c, i, s);
                    done()
                }
                _ => bad("expected {\"client_id\", \"issuer\", \"subject\"}"),
            }
        }
        ("POST", "config") => {
            let v = match req.json() {
                Ok(v) => v,
                Err(e) => return bad(&e),
            };
            let approval = match str_field(&v, "device_approval").map(str::parse::<DeviceApproval>)
            {
                Some(Err(e)) => return bad(&e),
                Some(Ok(a)) => Some(a),
                None => None,
            };
            if let Some(a) = approval {
                state.set_device_approval(a);
            }
            if let Some(s) = v.get("token_lifetime").and_then(Value::as_u64) {
                state.set_token_lifetime(s);
            }
            if let Some(s) = v.get("device_interval").and_then(Value::as_u64) {
                state.set_device_interval(s);
            }
            if let Some(s) = v.get("refresh_token_grace").and_then(Value::as_u64) {
                state.set_refresh_token_grace(s);
            }
            if let Some(s) = v.get("clock_offset").and_then(Value::as_i64) {
                state.set_clock_offset(s);
            }
            if let Some(s) = v.get("cae_token_lifetime").and_then(Value::as_u64) {
                super::cae::set_cae_token_lifetime(state, s);
            }
            done()
        }
        _ => Resp::not_found(&req.path),
    }
}

fn parse_fault(v: Value) -> Result<Fault, String> {
    let spec: FaultSpec = serde_json::from_value(v).map_err(|e| format!("bad fault: {e}"))?;
    Fault::try_from(spec)
}

fn str_field<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn done() -> Resp {
    Resp::json(200, &json!({"ok": true}))
}

fn bad(msg: &str) -> Resp {
    Resp::json(
        400,
        &json!({"error": "bad_request", "error_description": msg}),
    )
}
