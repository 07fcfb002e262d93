//! AWS STS `AssumeRoleWithWebIdentity` with an Entra token, and its cache
//! (`entra-credential-process` federation mode, SPEC.md).
//!
//! [`credentials`] is the whole of federation mode:
//! 1. the cache: `<cache>/sts/<key>.json` (non-secret state: expiry, where the
//!    secret is, the session it came from) and the secret store entry
//!    `sts-<key>` (access key id, secret key, session token). Served while
//!    more than 15 minutes (+ up to a minute of jitter) are left, because
//!    botocore runs the process again when fewer than 15 minutes remain.
//!    A hit reads two small files (with the file store) and nothing else:
//!    no Entra session, no HTTP client;
//! 2. else, under the state's lock (so concurrent runs make one STS call),
//!    look again, then get the Entra token (access token for `--scope`, or
//!    the user's ID token), POST `AssumeRoleWithWebIdentity` unsigned, and
//!    keep the answer.
//!
//! STS errors become one line and an exit code (see `docs/aws.md`):
//! `IDPCommunicationError` is retried and then is a network error (5);
//! `ExpiredTokenException` is retried once with a newly fetched Entra token;
//! `InvalidIdentityToken`, `IDPRejectedClaim`, `AccessDenied` and the rest are
//! general errors (1) that say what to check.

use crate::broker::{Broker, Interaction, Token, TokenRequest, DEFAULT_MIN_VALIDITY};
use crate::cache::{file, short_hash, Cache, StoreKind};
use crate::config::{env_var, Profile};
use crate::engine::{self, Entry, Freshness, Slot};
use crate::error::{one_line, Error, Result};
use crate::http::{Request, RetryPolicy};
use crate::info;
use crate::protocol::credential_process::{session_name_from, valid_session_name};
use crate::protocol::sts_xml::{parse_assume_role, parse_error, StsError};
use crate::secret::Secret;
use crate::timefmt::now;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Credentials are served from the cache while more than this many seconds are left
/// (botocore refreshes when fewer than 15 minutes remain).
pub const MIN_VALIDITY: i64 = 900;
/// `DurationSeconds` bounds of `AssumeRoleWithWebIdentity`.
pub const DURATION_RANGE: std::ops::RangeInclusive<u32> = 900..=43200;
/// Attempts for `IDPCommunicationError` (STS could not reach the IdP).
const IDP_ATTEMPTS: u32 = 3;
/// The state kind (`<cache>/sts/`).
pub const KIND: &str = "sts";
const STATE_VERSION: u32 = 1;

/// Which Entra token is the web identity token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An access token for `--scope` (the default).
    Access,
    /// The signed-in user's ID token (audience: the profile's client id).
    Id,
}

impl TokenKind {
    fn name(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Id => "id",
        }
    }
}

/// What federation mode is asked for.
#[derive(Debug, Clone)]
pub struct Federation {
    /// `--role-arn`.
    pub role_arn: String,
    /// `--scope` (required for [`TokenKind::Access`]).
    pub scope: Option<String>,
    /// `--role-session-name` (default: derived from the signed-in account or client id).
    pub role_session_name: Option<String>,
    /// `--duration-seconds` (default: the role's, normally 3600).
    pub duration_seconds: Option<u32>,
    /// `--region`.
    pub region: Option<String>,
    /// `--token-kind`.
    pub token_kind: TokenKind,
}

/// AWS credentials to print.
#[derive(Debug, Clone)]
pub struct AwsCredentials {
    /// `AccessKeyId`.
    pub access_key_id: String,
    /// `SecretAccessKey`.
    pub secret_access_key: Secret<String>,
    /// `SessionToken`.
    pub session_token: Secret<String>,
    /// Expiry, POSIX seconds.
    pub expiration: i64,
    /// Whether they came from the cache.
    pub from_cache: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct State {
    version: u32,
    /// The Entra session the web identity token came from (`logout` removes this file).
    session: String,
    profile: String,
    role_arn: String,
    role_session_name: String,
    endpoint: String,
    access_key_id: String,
    expiration: i64,
    #[serde(default)]
    assumed_role_arn: Option<String>,
    store: StoreKind,
    obtained_at: i64,
}

#[derive(Serialize, Deserialize)]
struct StoredSecret {
    access_key_id: String,
    secret_access_key: Secret<String>,
    session_token: Secret<String>,
}

/// The region: `--region`, `AWS_REGION`, `AWS_DEFAULT_REGION`, else `us-east-1`.
pub fn region(flag: Option<&str>) -> Result<String> {
    let r = flag
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| env_var("AWS_REGION"))
        .or_else(|| env_var("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| "us-east-1".into());
    let r = r.trim().to_ascii_lowercase();
    let ok =
        !r.is_empty() && r.len() <= 32 && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !ok {
        return Err(Error::Config(format!(
            "invalid AWS region '{}'",
            one_line(&r)
        )));
    }
    Ok(r)
}

/// The STS endpoint: `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`, else
/// `https://sts.<region>.amazonaws.com` (`amazonaws.com.cn` for `cn-*`
/// regions). `https` only, except loopback hosts, which may use `http`.
pub fn endpoint(region: &str) -> Result<String> {
    let (raw, from) = match env_var("AWS_ENDPOINT_URL_STS") {
        Some(v) => (v, "AWS_ENDPOINT_URL_STS"),
        None => match env_var("AWS_ENDPOINT_URL") {
            Some(v) => (v, "AWS_ENDPOINT_URL"),
            None => {
                let suffix = if region.starts_with("cn-") {
                    "amazonaws.com.cn"
                } else {
                    "amazonaws.com"
                };
                return Ok(format!("https://sts.{region}.{suffix}/"));
            }
        },
    };
    check_endpoint(raw.trim(), from)
}

fn check_endpoint(raw: &str, from: &str) -> Result<String> {
    let u =
        url::Url::parse(raw).map_err(|e| Error::Config(format!("{from} is not a URL ({e})")))?;
    crate::net::check(&u, false).map_err(|r| Error::Config(format!("{from}: {r}")))?;
    if u.query().is_some() || !u.username().is_empty() || u.password().is_some() {
        return Err(Error::Config(format!(
            "{from} must be a plain endpoint URL without credentials or query"
        )));
    }
    Ok(u.to_string())
}

/// Checks `--role-arn`: `arn:<partition>:iam::<account>:role/<name>`.
pub fn check_role_arn(arn: &str) -> Result<()> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = arn.len() <= 2048
        && parts.len() == 6
        && parts[0] == "arn"
        && !parts[1].is_empty()
        && parts[2] == "iam"
        && parts[3].is_empty()
        && !parts[4].is_empty()
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && parts[5].starts_with("role/")
        && parts[5].len() > 5
        && !arn.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "--role-arn '{}' is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
            one_line(arn)
        )))
    }
}

fn check_inputs(f: &Federation) -> Result<()> {
    check_role_arn(&f.role_arn)?;
    if let Some(n) = &f.role_session_name {
        if !valid_session_name(n) {
            return Err(Error::Config(format!(
                "--role-session-name '{}' is invalid: 2 to 64 of A-Z a-z 0-9 _ + = , . @ -",
                one_line(n)
            )));
        }
    }
    if let Some(d) = f.duration_seconds {
        if !DURATION_RANGE.contains(&d) {
            return Err(Error::Config(format!(
                "--duration-seconds {d} is out of range ({}-{})",
                DURATION_RANGE.start(),
                DURATION_RANGE.end()
            )));
        }
    }
    if f.token_kind == TokenKind::Access && f.scope.as_deref().is_none_or(str::is_empty) {
        return Err(Error::Config(
            "--scope is required: the Entra application that AWS IAM trusts as the OIDC audience, e.g. api://aws-federation/.default".into(),
        ));
    }
    Ok(())
}

/// The cache name of a request: role, asked session name, scope, token kind,
/// profile and endpoint (hashed).
fn cache_name(f: &Federation, profile: &Profile, endpoint: &str) -> String {
    short_hash(&format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        f.role_arn,
        f.role_session_name.as_deref().unwrap_or(""),
        f.scope.as_deref().unwrap_or(""),
        f.token_kind.name(),
        profile.name,
        endpoint
    ))
}

/// Reads the cached credentials, when their state and secret agree.
fn load(cache: &Cache, name: &str) -> Result<Option<Entry<Held>>> {
    cache.verify(Some(KIND))?;
    let Some(state) = file::read_json_checked::<State>(&cache.state_path(KIND, name))? else {
        return Ok(None);
    };
    if state.version != STATE_VERSION {
        return Ok(None);
    }
    let Some(raw) = cache
        .secrets()
        .get(&Cache::state_secret_key(KIND, name), state.store)
    else {
        return Ok(None);
    };
    let Ok(secret) = serde_json::from_str::<StoredSecret>(raw.expose()) else {
        return Ok(None);
    };
    // A writer puts the secret first, then the state: a reader in between
    // sees a mismatch and takes the slow path.
    if secret.access_key_id != state.access_key_id {
        return Ok(None);
    }
    Ok(Some(Entry {
        value: Held {
            creds: AwsCredentials {
                access_key_id: secret.access_key_id,
                secret_access_key: secret.secret_access_key,
                session_token: secret.session_token,
                expiration: state.expiration,
                from_cache: true,
            },
            origin: None,
        },
        expires_on: state.expiration,
        obtained_at: state.obtained_at,
    }))
}

/// Credentials and, when just obtained, what to keep with them.
#[derive(Debug, Clone)]
struct Held {
    creds: AwsCredentials,
    origin: Option<Origin>,
}

/// Where new credentials came from: the web identity token's session, the
/// session name used and the assumed role.
#[derive(Debug, Clone)]
struct Origin {
    session_id: String,
    session_name: String,
    assumed_role_arn: Option<String>,
}

/// The STS credentials of one request: a [`Slot`] of the engine.
struct StsSlot<'b> {
    broker: &'b Broker,
    profile: &'b Profile,
    f: &'b Federation,
    endpoint: String,
    name: String,
}

impl Slot for StsSlot<'_> {
    type Value = Held;

    fn lock_name(&self) -> (&str, String) {
        (KIND, self.name.clone())
    }

    fn id(&self) -> String {
        self.name.clone()
    }

    fn load(&self) -> Result<Option<Entry<Held>>> {
        load(self.broker.cache(), &self.name)
    }

    fn fetch(&self, _current: Option<&Entry<Held>>) -> Result<Entry<Held>> {
        let (creds, token, session_name, assumed) =
            fetch(self.broker, self.profile, self.f, &self.endpoint)?;
        Ok(Entry {
            expires_on: creds.expiration,
            obtained_at: now(),
            value: Held {
                creds,
                origin: Some(Origin {
                    session_id: token.session_id,
                    session_name,
                    assumed_role_arn: assumed,
                }),
            },
        })
    }

    fn save(&self, entry: &Entry<Held>) -> Result<()> {
        let Some(o) = &entry.value.origin else {
            return Ok(());
        };
        let creds = &entry.value.creds;
        let cache = self.broker.cache();
        let secret = StoredSecret {
            access_key_id: creds.access_key_id.clone(),
            secret_access_key: creds.secret_access_key.clone(),
            session_token: creds.session_token.clone(),
        };
        let json = serde_json::to_string(&secret)
            .map_err(|e| Error::Other(format!("cannot encode the AWS credentials: {e}")))?;
        let key = Cache::state_secret_key(KIND, &self.name);
        engine::save_pair(cache, Some((&key, &Secret::new(json))), |store| {
            let state = State {
                version: STATE_VERSION,
                session: o.session_id.clone(),
                profile: self.profile.name.clone(),
                role_arn: self.f.role_arn.clone(),
                role_session_name: o.session_name.clone(),
                endpoint: self.endpoint.clone(),
                access_key_id: creds.access_key_id.clone(),
                expiration: creds.expiration,
                assumed_role_arn: o.assumed_role_arn.clone(),
                store: store.unwrap_or(StoreKind::File),
                obtained_at: entry.obtained_at,
            };
            file::write_json(&cache.state_path(KIND, &self.name), &state)
        })
    }
}

/// Federation mode: cached STS credentials, or new ones (see the module docs).
pub fn credentials(broker: &Broker, profile: &Profile, f: &Federation) -> Result<AwsCredentials> {
    check_inputs(f)?;
    let region = region(f.region.as_deref())?;
    let endpoint = endpoint(&region)?;
    let name = cache_name(f, profile, &endpoint);
    let slot = StsSlot {
        broker,
        profile,
        f,
        endpoint,
        name,
    };
    let served = broker
        .engine()
        .get_or_fetch(&slot, Freshness::margin(MIN_VALIDITY))?;
    let mut creds = served.entry.value.creds;
    creds.from_cache = served.from_cache;
    Ok(creds)
}

fn web_identity_token(
    broker: &Broker,
    profile: &Profile,
    f: &Federation,
    force_refresh: bool,
) -> Result<Token> {
    let req = TokenRequest {
        scope: f.scope.clone().unwrap_or_default(),
        tenant: None,
        interaction: Interaction::Never,
        force_refresh,
        // The token is used at once: the credentials' lifetime is STS's, not the token's.
        min_validity: DEFAULT_MIN_VALIDITY,
        claims: None,
    };
    match f.token_kind {
        TokenKind::Access => broker.token(profile, &req),
        TokenKind::Id => broker.id_token(profile, &req),
    }
}

/// The default `RoleSessionName`: the signed-in account's name, else its
/// object id, else the profile's client id, made valid.
fn default_session_name(token: &Token, profile: &Profile) -> String {
    let acct = token.account.as_ref();
    let raw = acct
        .and_then(|a| a.username.clone())
        .or_else(|| acct.and_then(|a| a.oid.clone()))
        .unwrap_or_else(|| profile.client_id.clone());
    session_name_from(&raw)
}

type Fetched = (AwsCredentials, Token, String, Option<String>);

fn fetch(broker: &Broker, profile: &Profile, f: &Federation, endpoint: &str) -> Result<Fetched> {
    let mut token = web_identity_token(broker, profile, f, false)?;
    let session_name = f
        .role_session_name
        .clone()
        .unwrap_or_else(|| default_session_name(&token, profile));
    let mut refreshed = false;
    let mut idp_attempts = 0u32;
    loop {
        match assume_role(broker, endpoint, f, &session_name, &token.access_token) {
            Ok(c) => {
                info!(
                    "assumed {} as {session_name} until {}",
                    f.role_arn,
                    crate::timefmt::rfc3339(c.expiration)
                );
                let creds = AwsCredentials {
                    access_key_id: c.access_key_id,
                    secret_access_key: c.secret_access_key,
                    session_token: c.session_token,
                    expiration: c.expiration,
                    from_cache: false,
                };
                return Ok((creds, token, session_name, c.assumed_role_arn));
            }
            Err(Refusal::Sts(e)) if e.code == "ExpiredTokenException" && !refreshed => {
                info!("STS says the token expired; fetching a new one");
                refreshed = true;
                token = web_identity_token(broker, profile, f, true)?;
            }
            Err(Refusal::Sts(e)) if e.code == "IDPCommunicationError" => {
                idp_attempts += 1;
                if idp_attempts >= IDP_ATTEMPTS {
                    return Err(sts_error(&e, f, idp_attempts));
                }
                let wait = Duration::from_secs(1 << (idp_attempts - 1));
                let left = broker
                    .http()
                    .deadline()
                    .map(|d| d.saturating_duration_since(std::time::Instant::now()));
                if left.is_some_and(|l| l <= wait) {
                    // Waiting would overrun the call's budget (ENTRA_CRED_HTTP_TIMEOUT).
                    return Err(sts_error(&e, f, idp_attempts));
                }
                info!(
                    "STS could not reach the IdP; retrying in {} s",
                    wait.as_secs()
                );
                std::thread::sleep(wait);
            }
            Err(Refusal::Sts(e)) => return Err(sts_error(&e, f, 1)),
            Err(Refusal::Other(e)) => return Err(e),
        }
    }
}

enum Refusal {
    Sts(StsError),
    Other(Error),
}

fn assume_role(
    broker: &Broker,
    endpoint: &str,
    f: &Federation,
    session_name: &str,
    token: &Secret<String>,
) -> std::result::Result<crate::protocol::sts_xml::StsCredentials, Refusal> {
    let mut form = vec![
        (
            "Action".to_string(),
            "AssumeRoleWithWebIdentity".to_string(),
        ),
        ("Version".to_string(), "2011-06-15".to_string()),
        ("RoleArn".to_string(), f.role_arn.clone()),
        ("RoleSessionName".to_string(), session_name.to_string()),
        ("WebIdentityToken".to_string(), token.expose().clone()),
    ];
    if let Some(d) = f.duration_seconds {
        form.push(("DurationSeconds".to_string(), d.to_string()));
    }
    let req = Request::post_form(endpoint, form).header("accept", "text/xml");
    let resp = broker
        .http()
        .send(&req, &RetryPolicy::default())
        .map_err(Refusal::Other)?;
    if resp.ok() {
        return parse_assume_role(&resp.body).map_err(|e| {
            Refusal::Other(Error::Other(format!(
                "STS answered AssumeRoleWithWebIdentity with something unreadable: {}",
                one_line(&e)
            )))
        });
    }
    match parse_error(&resp.body) {
        Some(e) => Err(Refusal::Sts(e)),
        None => Err(Refusal::Other(Error::Other(format!(
            "STS answered AssumeRoleWithWebIdentity with HTTP {} and no STS error (is {} an STS endpoint?)",
            resp.status,
            url::Url::parse(endpoint)
                .map(|u| crate::http::redact_url(&u))
                .unwrap_or_default()
        )))),
    }
}

/// One line (and exit code) for an STS refusal.
fn sts_error(e: &StsError, f: &Federation, attempts: u32) -> Error {
    let what = if e.message.is_empty() {
        e.code.clone()
    } else {
        format!("{}: {}", e.code, e.message)
    };
    let audience = match f.token_kind {
        TokenKind::Access => "the application of --scope",
        TokenKind::Id => "the profile's client id (ID tokens are issued to it)",
    };
    match e.code.as_str() {
        "InvalidIdentityToken" => Error::Other(format!(
            "STS rejected the Entra token ({what}): the IAM OIDC provider must trust this tenant's issuer and list {audience} as an audience"
        )),
        "ExpiredTokenException" => Error::Other(format!(
            "STS says the Entra token has expired although it was just fetched ({what}): check this machine's clock"
        )),
        "IDPRejectedClaim" => Error::Other(format!(
            "STS rejected a claim of the Entra token ({what}): check the conditions (aud, sub, amr) in the trust policy of {}",
            f.role_arn
        )),
        "IDPCommunicationError" => Error::Network(format!(
            "STS could not reach Entra ID to verify the token ({what}) after {attempts} attempts: try again later"
        )),
        "AccessDenied" => Error::Other(format!(
            "not allowed to assume {} ({what}): its trust policy must allow sts:AssumeRoleWithWebIdentity for this OIDC provider and token",
            f.role_arn
        )),
        _ => Error::Other(format!("STS refused AssumeRoleWithWebIdentity ({what})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed() -> Federation {
        Federation {
            role_arn: "arn:aws:iam::123456789012:role/entra-dev".into(),
            scope: Some("api://aws-federation/.default".into()),
            role_session_name: None,
            duration_seconds: None,
            region: None,
            token_kind: TokenKind::Access,
        }
    }

    #[test]
    fn role_arns() {
        assert!(check_role_arn("arn:aws:iam::123456789012:role/entra-dev").is_ok());
        assert!(check_role_arn("arn:aws-cn:iam::123456789012:role/path/x").is_ok());
        for bad in [
            "",
            "entra-dev",
            "arn:aws:iam::123456789012:user/bob",
            "arn:aws:sts::123456789012:role/x",
            "arn:aws:iam::12ab:role/x",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/a b",
        ] {
            let e = check_role_arn(bad).expect_err(bad);
            assert_eq!(e.exit_code(), 2);
        }
    }

    #[test]
    fn inputs() {
        assert!(check_inputs(&fed()).is_ok());
        let mut f = fed();
        f.duration_seconds = Some(899);
        assert!(check_inputs(&f).is_err());
        f.duration_seconds = Some(43200);
        assert!(check_inputs(&f).is_ok());
        f.role_session_name = Some("has space".into());
        assert!(check_inputs(&f).is_err());
        let mut f = fed();
        f.scope = None;
        assert!(check_inputs(&f).is_err());
        f.token_kind = TokenKind::Id;
        assert!(check_inputs(&f).is_ok());
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            check_endpoint("http://127.0.0.1:9/", "X").expect("loopback"),
            "http://127.0.0.1:9/"
        );
        assert!(check_endpoint("https://sts.example.com", "X").is_ok());
        for bad in [
            "http://sts.example.com",
            "ftp://x",
            "not a url",
            "https://u:p@sts.example.com",
        ] {
            assert_eq!(check_endpoint(bad, "X").expect_err(bad).exit_code(), 2);
        }
    }

    #[test]
    fn error_lines() {
        let e = |code: &str| StsError {
            kind: "Sender".into(),
            code: code.into(),
            message: "Incorrect token audience".into(),
            request_id: None,
        };
        let m = sts_error(&e("InvalidIdentityToken"), &fed(), 1);
        assert_eq!(m.exit_code(), 1);
        assert!(m
            .to_string()
            .contains("InvalidIdentityToken: Incorrect token audience"));
        assert_eq!(
            sts_error(&e("IDPCommunicationError"), &fed(), 3).exit_code(),
            5
        );
        assert_eq!(sts_error(&e("AccessDenied"), &fed(), 1).exit_code(), 1);
        assert!(sts_error(&e("AccessDenied"), &fed(), 1)
            .to_string()
            .contains("arn:aws:iam::123456789012:role/entra-dev"));
        for c in ["IDPRejectedClaim", "ExpiredTokenException", "Throttling"] {
            assert!(!sts_error(&e(c), &fed(), 1).to_string().contains('\n'));
        }
    }

    #[test]
    fn cache_names_differ() {
        let p = crate::config::Config::default()
            .profile(&crate::config::Overrides::default())
            .expect("default profile");
        let a = cache_name(&fed(), &p, "https://sts.us-east-1.amazonaws.com/");
        let mut f = fed();
        f.role_session_name = Some("other".into());
        assert_ne!(
            a,
            cache_name(&f, &p, "https://sts.us-east-1.amazonaws.com/")
        );
        assert_ne!(a, cache_name(&fed(), &p, "http://127.0.0.1:1/"));
        let mut f = fed();
        f.token_kind = TokenKind::Id;
        assert_ne!(
            a,
            cache_name(&f, &p, "https://sts.us-east-1.amazonaws.com/")
        );
    }
}
