//! Certificate credentials of confidential clients: registration and the checks Entra ID makes
//! on a certificate-signed client assertion.
//!
//! A client with registered certificates ([`State::add_client_certificate`], or
//! `POST /_emulator/certificates {"client_id": "..", "certificate": "<PEM or base64 DER>"}`)
//! must send assertions that:
//! - name a registered certificate by `x5t#S256` (SHA-256 thumbprint, with `PS256` or `RS256`)
//!   or `x5t` (SHA-1, with `RS256` only) — otherwise AADSTS700027 "key was not found";
//! - are signed with that certificate's RSA key (`PS256` = RSASSA-PSS SHA-256, `RS256` =
//!   PKCS#1 v1.5 SHA-256) — otherwise AADSTS700027 "invalid signature";
//! - carry a `jti`, and, when they carry `x5c`, start it with the same certificate.
//!
//! `aud`, `iss`, `sub`, `exp` and `nbf` are checked by the token endpoint for every assertion.

use crate::state::State;
use crate::util::{b64url, b64url_decode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;
use std::collections::HashMap;

#[derive(Default)]
struct ClientCerts(HashMap<String, Vec<Vec<u8>>>);

impl State {
    /// Register a certificate (DER) for `client_id`; the client then authenticates with signed
    /// assertions only (it is registered as an assertion client when unknown).
    pub fn add_client_certificate(&self, client_id: &str, cert_der: &[u8]) {
        if !self.lock().clients.contains_key(client_id) {
            self.add_assertion_client(client_id);
        }
        self.with_ext(|c: &mut ClientCerts| {
            c.0.entry(client_id.to_string())
                .or_default()
                .push(cert_der.to_vec())
        });
    }

    /// The certificates (DER) registered for `client_id`.
    pub fn client_certificates(&self, client_id: &str) -> Vec<Vec<u8>> {
        self.with_ext(|c: &mut ClientCerts| c.0.get(client_id).cloned().unwrap_or_default())
    }
}

/// A certificate given as PEM (first `CERTIFICATE` block) or base64 DER.
pub fn cert_from_text(text: &str) -> Result<Vec<u8>, String> {
    let t = text.trim();
    let b64: String = if let Some(start) = t.find("-----BEGIN CERTIFICATE-----") {
        let body = &t[start + "-----BEGIN CERTIFICATE-----".len()..];
        let end = body
            .find("-----END CERTIFICATE-----")
            .ok_or("unterminated PEM certificate")?;
        body[..end].chars().filter(|c| !c.is_whitespace()).collect()
    } else {
        t.chars().filter(|c| !c.is_whitespace()).collect()
    };
    let der = STANDARD
        .decode(b64)
        .map_err(|e| format!("certificate is not base64: {e}"))?;
    use x509_cert::der::Decode;
    x509_cert::Certificate::from_der(&der).map_err(|e| format!("bad certificate: {e}"))?;
    Ok(der)
}

/// SHA-256 thumbprint, base64url (`x5t#S256`).
pub fn x5t_s256(der: &[u8]) -> String {
    b64url(ring::digest::digest(&ring::digest::SHA256, der).as_ref())
}

/// SHA-1 thumbprint, base64url (`x5t`).
pub fn x5t_sha1(der: &[u8]) -> String {
    b64url(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der).as_ref())
}

/// The RSA public key (PKCS#1 DER) of a certificate.
fn spki_key(der: &[u8]) -> Result<Vec<u8>, String> {
    use x509_cert::der::Decode;
    let c = x509_cert::Certificate::from_der(der).map_err(|e| format!("bad certificate: {e}"))?;
    let spki = &c.tbs_certificate.subject_public_key_info;
    if spki.algorithm.oid.to_string() != "1.2.840.113549.1.1.1" {
        return Err("certificate key is not RSA".into());
    }
    Ok(spki.subject_public_key.raw_bytes().to_vec())
}

/// Entra's checks of a certificate-signed assertion (see the module docs). Errors are
/// `(AADSTS code, message)`.
pub fn verify_assertion(
    certs: &[Vec<u8>],
    header: &Value,
    claims: &Value,
    assertion: &str,
) -> Result<(), (u32, String)> {
    let h = |k: &str| header.get(k).and_then(Value::as_str).unwrap_or("");
    let alg = h("alg");
    let (by_s256, by_sha1) = (h("x5t#S256"), h("x5t"));
    let cert = certs.iter().find(|c| {
        (!by_s256.is_empty() && x5t_s256(c) == by_s256)
            || (!by_sha1.is_empty() && alg == "RS256" && x5t_sha1(c) == by_sha1)
    });
    let Some(cert) = cert else {
        return Err((
            700027,
            format!("Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '{}'] Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app.", if by_s256.is_empty() { by_sha1 } else { by_s256 }),
        ));
    };
    let params: &dyn ring::signature::VerificationAlgorithm = match alg {
        "PS256" => &ring::signature::RSA_PSS_2048_8192_SHA256,
        "RS256" => &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        other => {
            return Err((
                700027,
                format!("Client assertion failed signature validation. [Reason - Unsupported algorithm '{other}'.]"),
            ))
        }
    };
    let key = spki_key(cert).map_err(|e| (700027, e))?;
    let (input, sig) = assertion.trim().rsplit_once('.').unwrap_or(("", ""));
    let sig = b64url_decode(sig).unwrap_or_default();
    ring::signature::UnparsedPublicKey::new(params, key)
        .verify(input.as_bytes(), &sig)
        .map_err(|_| {
            (
                700027,
                "Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value.]".to_string(),
            )
        })?;
    if claims
        .get("jti")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        return Err((
            700027,
            "Client assertion failed signature validation. The assertion has no 'jti' claim."
                .into(),
        ));
    }
    if let Some(x5c) = header.get("x5c") {
        let first = x5c
            .as_array()
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .and_then(|s| STANDARD.decode(s).ok());
        if first.as_deref() != Some(cert.as_slice()) {
            return Err((
                700027,
                "Client assertion failed signature validation. The first certificate of 'x5c' is not the signing certificate.".into(),
            ));
        }
    }
    Ok(())
}
