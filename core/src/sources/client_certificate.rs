//! Application sign-in with a certificate: a client assertion (RFC 7523) signed
//! with the certificate's private key.
//!
//! The certificate comes from `AZURE_CLIENT_CERTIFICATE_PATH` (or the profile's
//! `certificate`): a PEM file holding the certificate(s) and an unencrypted
//! private key (PKCS#8 or PKCS#1), or a PKCS#12 file opened with
//! `AZURE_CLIENT_CERTIFICATE_PASSWORD` (none: the empty password). The file is
//! read for every new token, so a renewed certificate is picked up without a
//! restart.
//!
//! The assertion: header `alg` `PS256` with `x5t#S256` (SHA-256 thumbprint of the
//! certificate), or with `ENTRA_CRED_ASSERTION_ALG=RS256` (older tenants and
//! clouds) `RS256` with `x5t` (SHA-1 thumbprint); `x5c` (leaf first) when
//! `AZURE_CLIENT_SEND_CERTIFICATE_CHAIN` is `1` or `true` (subject name / issuer
//! authentication). Claims: `aud` = the exact token URL, `iss` = `sub` = client
//! id, a random `jti`, `iat` = `nbf` = now, `exp` = now + 5 minutes.
//!
//! Only RSA keys (2048 to 8192 bits) are supported, as by Entra ID's
//! certificate credentials.

use super::{AppSource, Auto, ClientAuth, Ctx, Source};
use crate::cache::Cache;
use crate::config::Profile;
use crate::entra::TokenResponse;
use crate::error::{one_line, Error, Result};
use crate::secret::Secret;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::signature::RsaKeyPair;
use serde_json::json;
use std::path::Path;

/// `flow = "client-certificate"`; `auto` picks it when a certificate is configured (and no secret).
pub const SOURCE: Source = Source::application(
    "client-certificate",
    Auto::When(applies),
    &ClientCertificate,
);

fn applies(p: &Profile, _: &Cache) -> Option<String> {
    let shown = |c: &Path| format!("a client certificate is configured ({})", c.display());
    p.certificate.as_deref().map(shown)
}

/// The client certificate source.
pub struct ClientCertificate;

/// `rsaEncryption` (1.2.840.113549.1.1.1).
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
/// Lifetime of an assertion.
pub const ASSERTION_LIFETIME: i64 = 300;
/// The variable that selects the assertion's signature algorithm.
pub const ALG_VAR: &str = "ENTRA_CRED_ASSERTION_ALG";

/// The assertion's signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssertionAlg {
    /// RSASSA-PSS with SHA-256, header `x5t#S256` (the default).
    Ps256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, header `x5t` (SHA-1 thumbprint).
    Rs256,
}

impl AssertionAlg {
    /// Parses `PS256` / `RS256` (any case).
    pub fn parse(s: &str) -> Result<AssertionAlg> {
        match s.trim().to_ascii_uppercase().as_str() {
            "PS256" => Ok(AssertionAlg::Ps256),
            "RS256" => Ok(AssertionAlg::Rs256),
            _ => Err(Error::Config(format!(
                "{ALG_VAR}: unknown algorithm '{}' (expected PS256 or RS256)",
                one_line(s)
            ))),
        }
    }

    /// From `ENTRA_CRED_ASSERTION_ALG`, `PS256` when unset.
    pub fn from_env() -> Result<AssertionAlg> {
        match crate::config::env_var(ALG_VAR) {
            Some(v) => AssertionAlg::parse(&v),
            None => Ok(AssertionAlg::Ps256),
        }
    }

    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            AssertionAlg::Ps256 => "PS256",
            AssertionAlg::Rs256 => "RS256",
        }
    }
}

/// A certificate with its private key, ready to sign assertions.
pub struct Credential {
    key: RsaKeyPair,
    /// The leaf certificate (DER), whose key is `key`.
    leaf: Vec<u8>,
    /// The other certificates of the file (DER), for `x5c`.
    rest: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("key", &"REDACTED")
            .field("x5t#S256", &self.thumbprint_sha256())
            .finish()
    }
}

fn bad(shown: &str, what: impl std::fmt::Display) -> Error {
    Error::Config(format!("client certificate {shown}: {what}"))
}

impl Credential {
    /// Reads `path` (PEM or PKCS#12).
    pub fn load(path: &Path, password: Option<&Secret<String>>) -> Result<Credential> {
        let shown = path.display().to_string();
        let data = std::fs::read(path).map_err(|e| {
            bad(
                &shown,
                format!("cannot read it ({e}); check AZURE_CLIENT_CERTIFICATE_PATH"),
            )
        })?;
        Credential::from_bytes(&data, password.map(|p| p.expose().as_str()), &shown)
    }

    /// Parses PEM or PKCS#12 bytes; `shown` names the file in messages.
    pub fn from_bytes(data: &[u8], password: Option<&str>, shown: &str) -> Result<Credential> {
        let (certs, key) = if looks_like_pem(data) {
            read_pem(data, shown)?
        } else {
            read_pkcs12(data, password.unwrap_or(""), shown)?
        };
        Credential::from_parts(certs, key, shown)
    }

    fn from_parts(certs: Vec<Vec<u8>>, key: KeyDer, shown: &str) -> Result<Credential> {
        if certs.is_empty() {
            return Err(bad(shown, "the file holds no certificate"));
        }
        let key = match key {
            KeyDer::Pkcs8(d) => RsaKeyPair::from_pkcs8(&d),
            KeyDer::Pkcs1(d) => RsaKeyPair::from_der(&d),
            KeyDer::Other(kind) => {
                return Err(bad(
                    shown,
                    format!("the private key is {kind}, not RSA; Entra ID certificate credentials need an RSA key"),
                ))
            }
        }
        .map_err(|e| {
            let why = e.to_string();
            if why.contains("WrongAlgorithm") {
                bad(shown, "the private key is not an RSA key; Entra ID certificate credentials need an RSA key")
            } else if why.contains("TooSmall") {
                bad(shown, "the RSA key is shorter than 2048 bits")
            } else {
                bad(shown, format!("the private key cannot be used ({why})"))
            }
        })?;
        let public = key.public().as_ref().to_vec();
        let mut leaf = None;
        let mut rest = Vec::new();
        let mut non_rsa = false;
        for c in certs {
            match spki_of(&c) {
                Some((oid, pk)) if leaf.is_none() && oid == RSA_ENCRYPTION && pk == public => {
                    leaf = Some(c)
                }
                Some((oid, _)) => {
                    non_rsa |= oid != RSA_ENCRYPTION;
                    rest.push(c)
                }
                None => return Err(bad(shown, "a certificate in the file cannot be parsed")),
            }
        }
        let Some(leaf) = leaf else {
            return Err(if non_rsa && rest.len() == 1 {
                bad(
                    shown,
                    "the certificate's key is not RSA; Entra ID certificate credentials need an RSA key",
                )
            } else {
                bad(shown, "the private key does not match the certificate")
            });
        };
        Ok(Credential { key, leaf, rest })
    }

    /// `x5t#S256`: base64url SHA-256 of the certificate.
    pub fn thumbprint_sha256(&self) -> String {
        URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, &self.leaf))
    }

    /// `x5t`: base64url SHA-1 of the certificate.
    pub fn thumbprint_sha1(&self) -> String {
        URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
            &self.leaf,
        ))
    }

    /// The certificate (DER).
    pub fn certificate(&self) -> &[u8] {
        &self.leaf
    }

    /// A signed client assertion for `client_id` at `token_url`.
    pub fn assertion(
        &self,
        client_id: &str,
        token_url: &str,
        alg: AssertionAlg,
        send_chain: bool,
        now: i64,
    ) -> Result<Secret<String>> {
        let mut header = json!({"alg": alg.name(), "typ": "JWT"});
        match alg {
            AssertionAlg::Ps256 => header["x5t#S256"] = json!(self.thumbprint_sha256()),
            AssertionAlg::Rs256 => header["x5t"] = json!(self.thumbprint_sha1()),
        }
        if send_chain {
            let chain: Vec<String> = std::iter::once(&self.leaf)
                .chain(self.rest.iter())
                .map(|c| STANDARD.encode(c))
                .collect();
            header["x5c"] = json!(chain);
        }
        let claims = json!({
            "aud": token_url,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid_v4()?,
            "iat": now,
            "nbf": now,
            "exp": now + ASSERTION_LIFETIME,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let padding: &'static dyn ring::signature::RsaEncoding = match alg {
            AssertionAlg::Ps256 => &ring::signature::RSA_PSS_SHA256,
            AssertionAlg::Rs256 => &ring::signature::RSA_PKCS1_SHA256,
        };
        let mut sig = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                padding,
                &ring::rand::SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| Error::Other("signing the client assertion failed".into()))?;
        Ok(Secret::new(format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(sig)
        )))
    }
}

/// A random UUID (version 4) for `jti`.
fn uuid_v4() -> Result<String> {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b)
        .map_err(|e| Error::Other(format!("no randomness available: {e}")))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

enum KeyDer {
    Pkcs8(Vec<u8>),
    Pkcs1(Vec<u8>),
    /// A key of another kind (e.g. `an EC key`).
    Other(&'static str),
}

fn looks_like_pem(data: &[u8]) -> bool {
    let head = &data[..data.len().min(4096)];
    head.windows(11).any(|w| w == b"-----BEGIN ")
}

fn read_pem(data: &[u8], shown: &str) -> Result<(Vec<Vec<u8>>, KeyDer)> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let text = String::from_utf8_lossy(data);
    let mut certs = Vec::new();
    for c in CertificateDer::pem_slice_iter(data) {
        let c = c.map_err(|e| bad(shown, format!("invalid PEM ({e})")))?;
        certs.push(c.as_ref().to_vec());
    }
    let key = match PrivateKeyDer::from_pem_slice(data) {
        Ok(PrivateKeyDer::Pkcs8(k)) => KeyDer::Pkcs8(k.secret_pkcs8_der().to_vec()),
        Ok(PrivateKeyDer::Pkcs1(k)) => KeyDer::Pkcs1(k.secret_pkcs1_der().to_vec()),
        Ok(PrivateKeyDer::Sec1(_)) => KeyDer::Other("an EC key"),
        Ok(_) => KeyDer::Other("of an unknown kind"),
        Err(_) if text.contains("ENCRYPTED PRIVATE KEY") || text.contains("Proc-Type: 4,ENCRYPTED") => {
            return Err(bad(
                shown,
                "the private key is encrypted, which PEM files may not be here; use a PKCS#12 file with AZURE_CLIENT_CERTIFICATE_PASSWORD (openssl pkcs12 -export), or decrypt the key",
            ))
        }
        Err(_) => {
            return Err(bad(
                shown,
                "the PEM file holds no private key; put the certificate and its key in one file",
            ))
        }
    };
    Ok((certs, key))
}

fn read_pkcs12(data: &[u8], password: &str, shown: &str) -> Result<(Vec<Vec<u8>>, KeyDer)> {
    let ks = p12_keystore::KeyStore::from_pkcs12(data, password).map_err(|e| match e {
        p12_keystore::error::Error::MacError(_) => bad(
            shown,
            "wrong password for the PKCS#12 file (AZURE_CLIENT_CERTIFICATE_PASSWORD)",
        ),
        p12_keystore::error::Error::DerError(_) if password.is_empty() => bad(
            shown,
            "neither PEM nor a readable PKCS#12 file",
        ),
        other => bad(
            shown,
            format!(
                "cannot open the PKCS#12 file ({}); a wrong AZURE_CLIENT_CERTIFICATE_PASSWORD also shows this way",
                one_line(&other.to_string())
            ),
        ),
    })?;
    let Some((_, chain)) = ks.private_key_chain() else {
        return Err(bad(
            shown,
            "the PKCS#12 file holds no private key with its certificate",
        ));
    };
    let certs = chain.chain().iter().map(|c| c.as_der().to_vec()).collect();
    Ok((certs, KeyDer::Pkcs8(chain.key().to_vec())))
}

/// The algorithm OID (dotted) and public key bits of a DER certificate.
fn spki_of(cert: &[u8]) -> Option<(String, Vec<u8>)> {
    use x509_cert::der::Decode;
    let c = x509_cert::Certificate::from_der(cert).ok()?;
    let spki = &c.tbs_certificate.subject_public_key_info;
    Some((
        spki.algorithm.oid.to_string(),
        spki.subject_public_key.raw_bytes().to_vec(),
    ))
}

impl AppSource for ClientCertificate {
    fn acquire(&self, ctx: &Ctx<'_>, tenant: &str, scope: &str) -> Result<TokenResponse> {
        let p = ctx.profile;
        let path = super::required(
            p.certificate.as_ref(),
            p,
            "the client-certificate flow",
            "certificate",
            "AZURE_CLIENT_CERTIFICATE_PATH or certificate",
        )?;
        let client_id = super::application_client_id(p, "client-certificate")?;
        let alg = AssertionAlg::from_env()?;
        let cred = Credential::load(path, p.certificate_password.as_ref())?;
        let entra = ctx.entra();
        let assertion = cred.assertion(
            client_id,
            &entra.token_url(tenant),
            alg,
            p.send_certificate_chain,
            crate::timefmt::now(),
        )?;
        let form =
            super::client_credentials(client_id, ClientAuth::Assertion(assertion.expose()), scope);
        entra.token(tenant, form, "certificate sign-in")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Runs openssl (the test certificates are made fresh, never committed).
    fn openssl(dir: &Path, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl must be installed to run these tests");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn make_cert(dir: &Path, name: &str, key_args: &[&str]) -> (Vec<u8>, Vec<u8>) {
        let key = format!("{name}.key");
        let crt = format!("{name}.crt");
        let mut args = vec![
            "req",
            "-x509",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=entra-cred test",
        ];
        args.extend_from_slice(key_args);
        args.extend_from_slice(&["-keyout", &key, "-out", &crt]);
        openssl(dir, &args);
        (
            std::fs::read(dir.join(&crt)).expect("crt"),
            std::fs::read(dir.join(&key)).expect("key"),
        )
    }

    fn verify(jwt: &str, cert_der: &[u8], alg: AssertionAlg) -> serde_json::Value {
        let (input, sig) = jwt.rsplit_once('.').expect("3 parts");
        let sig = URL_SAFE_NO_PAD.decode(sig).expect("b64");
        let (_, pk) = spki_of(cert_der).expect("spki");
        let params: &dyn ring::signature::VerificationAlgorithm = match alg {
            AssertionAlg::Ps256 => &ring::signature::RSA_PSS_2048_8192_SHA256,
            AssertionAlg::Rs256 => &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        };
        ring::signature::UnparsedPublicKey::new(params, pk)
            .verify(input.as_bytes(), &sig)
            .expect("signature verifies");
        let d = crate::jwt::decode(jwt).expect("decodes");
        serde_json::json!({"header": d.header, "claims": d.claims})
    }

    #[test]
    fn pem_assertion_ps256_and_rs256() {
        let dir = tempfile::tempdir().expect("tmp");
        let (crt, key) = make_cert(dir.path(), "a", &["-newkey", "rsa:2048"]);
        let mut pem = crt.clone();
        pem.extend_from_slice(&key);
        let cred = Credential::from_bytes(&pem, None, "a.pem").expect("loads");
        let url = "http://127.0.0.1:1/t/oauth2/v2.0/token";
        let a = cred
            .assertion("app", url, AssertionAlg::Ps256, false, 1000)
            .expect("signs");
        let v = verify(a.expose(), cred.certificate(), AssertionAlg::Ps256);
        assert_eq!(v["header"]["alg"], "PS256");
        assert_eq!(v["header"]["x5t#S256"], cred.thumbprint_sha256());
        assert!(v["header"].get("x5c").is_none());
        assert_eq!(v["claims"]["aud"], url);
        assert_eq!(v["claims"]["iss"], "app");
        assert_eq!(v["claims"]["sub"], "app");
        assert_eq!(v["claims"]["nbf"], 1000);
        assert_eq!(v["claims"]["exp"], 1000 + ASSERTION_LIFETIME);
        assert_eq!(v["claims"]["jti"].as_str().map(str::len), Some(36));
        let b = cred
            .assertion("app", url, AssertionAlg::Rs256, true, 1000)
            .expect("signs");
        let v = verify(b.expose(), cred.certificate(), AssertionAlg::Rs256);
        assert_eq!(v["header"]["x5t"], cred.thumbprint_sha1());
        assert_eq!(v["header"]["x5c"][0], STANDARD.encode(cred.certificate()));
        // a fresh jti each time
        let c = cred
            .assertion("app", url, AssertionAlg::Ps256, false, 1000)
            .expect("signs");
        assert_ne!(
            crate::jwt::decode(a.expose()).and_then(|d| d.str("jti").map(str::to_string)),
            crate::jwt::decode(c.expose()).and_then(|d| d.str("jti").map(str::to_string))
        );
        // key first, then certificate, also works; PKCS#1 key too
        let mut rev = key.clone();
        rev.extend_from_slice(&crt);
        assert!(Credential::from_bytes(&rev, None, "r.pem").is_ok());
        openssl(
            dir.path(),
            &["rsa", "-in", "a.key", "-traditional", "-out", "a1.key"],
        );
        let mut p1 = crt.clone();
        p1.extend_from_slice(&std::fs::read(dir.path().join("a1.key")).expect("k"));
        assert!(String::from_utf8_lossy(&p1).contains("BEGIN RSA PRIVATE KEY"));
        assert!(Credential::from_bytes(&p1, None, "p1.pem").is_ok());
    }

    #[test]
    fn pkcs12_with_password_and_failures() {
        let dir = tempfile::tempdir().expect("tmp");
        let (crt, key) = make_cert(dir.path(), "a", &["-newkey", "rsa:2048"]);
        let (crt_b, _) = make_cert(dir.path(), "b", &["-newkey", "rsa:2048"]);
        openssl(
            dir.path(),
            &[
                "pkcs12",
                "-export",
                "-inkey",
                "a.key",
                "-in",
                "a.crt",
                "-out",
                "a.p12",
                "-passout",
                "pass:s3cret-pw",
            ],
        );
        let p12 = std::fs::read(dir.path().join("a.p12")).expect("p12");
        let cred = Credential::from_bytes(&p12, Some("s3cret-pw"), "a.p12").expect("opens");
        let pem_cred = {
            let mut pem = crt.clone();
            pem.extend_from_slice(&key);
            Credential::from_bytes(&pem, None, "a.pem").expect("pem")
        };
        assert_eq!(cred.thumbprint_sha256(), pem_cred.thumbprint_sha256());

        let e = Credential::from_bytes(&p12, Some("wrong"), "a.p12").expect_err("wrong pw");
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("wrong password"), "{e}");
        assert!(!e.to_string().contains("s3cret"), "{e}");

        // key of a, certificate of b
        let mut mixed = crt_b.clone();
        mixed.extend_from_slice(&key);
        let e = Credential::from_bytes(&mixed, None, "m.pem").expect_err("mismatch");
        assert!(e.to_string().contains("does not match"), "{e}");
        assert_eq!(e.exit_code(), 2);

        // EC key and certificate
        let (ec_crt, ec_key) = make_cert(
            dir.path(),
            "ec",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        );
        let mut ec = ec_crt.clone();
        ec.extend_from_slice(&ec_key);
        let e = Credential::from_bytes(&ec, None, "ec.pem").expect_err("ec");
        assert!(
            e.to_string().contains("not RSA") || e.to_string().contains("not an RSA"),
            "{e}"
        );
        assert_eq!(e.exit_code(), 2);

        // no key, garbage, empty
        let e = Credential::from_bytes(&crt, None, "c.pem").expect_err("no key");
        assert!(e.to_string().contains("no private key"), "{e}");
        for junk in [&b""[..], b"garbage", &p12[..p12.len() / 2]] {
            let e = Credential::from_bytes(junk, None, "j").expect_err("junk");
            assert_eq!(e.exit_code(), 2);
            assert!(!e.to_string().contains('\n'));
        }
        for line in [
            Credential::from_bytes(&p12, Some("wrong"), "a.p12")
                .expect_err("e")
                .to_string(),
            Credential::from_bytes(&mixed, None, "m.pem")
                .expect_err("e")
                .to_string(),
        ] {
            assert!(!line.contains('\n'), "{line}");
        }
    }

    #[test]
    fn alg_selection() {
        assert_eq!(AssertionAlg::parse("ps256").ok(), Some(AssertionAlg::Ps256));
        assert_eq!(AssertionAlg::parse("RS256").ok(), Some(AssertionAlg::Rs256));
        assert_eq!(
            AssertionAlg::parse("HS256")
                .map_err(|e| e.exit_code())
                .err(),
            Some(2)
        );
    }
}
