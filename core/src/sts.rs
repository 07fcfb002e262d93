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
//! STS errors are [`Error::Sts`] (their one line and exit code are made in
//! `error.rs`, see `docs/aws.md`), on whose code the retries here branch:
//! `IDPCommunicationError` is retried and then is a network error (5);
//! `ExpiredTokenException` is retried once with a newly fetched Entra token;
//! `InvalidIdentityToken`, `IDPRejectedClaim`, `AccessDenied` and the rest are
//! general errors (1) that say what to check.

use crate::broker::{Broker, Interaction, Token, TokenRequest, DEFAULT_MIN_VALIDITY};
use crate::cache::{file, short_hash, Cache, StoreKind};
use crate::config::{env_var, Profile};
use crate::engine::{self, Entry, Slot};
use crate::error::{one_line, Error, Result, StsCode, StsRefusal};
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
    broker
        .engine()
        .serve(&slot, MIN_VALIDITY, |held, from_cache| AwsCredentials {
            from_cache,
            ..held.creds
        })
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
            Err(Error::Sts(r)) if r.code == StsCode::ExpiredToken && !refreshed => {
                info!("STS says the token expired; fetching a new one");
                refreshed = true;
                token = web_identity_token(broker, profile, f, true)?;
            }
            Err(Error::Sts(mut r)) if r.code == StsCode::IdpCommunication => {
                idp_attempts += 1;
                r.attempts = idp_attempts;
                if idp_attempts >= IDP_ATTEMPTS {
                    return Err(Error::Sts(r));
                }
                let wait = Duration::from_secs(1 << (idp_attempts - 1));
                let left = broker
                    .http()
                    .deadline()
                    .map(|d| d.saturating_duration_since(std::time::Instant::now()));
                if left.is_some_and(|l| l <= wait) {
                    // Waiting would overrun the call's budget (ENTRA_CRED_HTTP_TIMEOUT).
                    return Err(Error::Sts(r));
                }
                info!(
                    "STS could not reach the IdP; retrying in {} s",
                    wait.as_secs()
                );
                std::thread::sleep(wait);
            }
            Err(e) => return Err(e),
        }
    }
}

/// `AssumeRoleWithWebIdentity`: the credentials, or STS's refusal as
/// [`Error::Sts`].
fn assume_role(
    broker: &Broker,
    endpoint: &str,
    f: &Federation,
    session_name: &str,
    token: &Secret<String>,
) -> Result<crate::protocol::sts_xml::StsCredentials> {
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
    let resp = broker.http().send(&req, &RetryPolicy::default())?;
    if resp.ok() {
        return parse_assume_role(&resp.body).map_err(|e| {
            Error::Other(format!(
                "STS answered AssumeRoleWithWebIdentity with something unreadable: {}",
                one_line(&e)
            ))
        });
    }
    match parse_error(&resp.body) {
        Some(e) => Err(refusal(e, f)),
        None => Err(Error::Other(format!(
            "STS answered AssumeRoleWithWebIdentity with HTTP {} and no STS error (is {} an STS endpoint?)",
            resp.status,
            url::Url::parse(endpoint)
                .map(|u| crate::http::redact_url(&u))
                .unwrap_or_default()
        ))),
    }
}

/// STS's error answer as [`Error::Sts`], which words it (see `docs/aws.md`).
fn refusal(e: StsError, f: &Federation) -> Error {
    Error::Sts(StsRefusal {
        code: StsCode::parse(&e.code),
        message: e.message,
        role_arn: f.role_arn.clone(),
        id_token: f.token_kind == TokenKind::Id,
        attempts: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entra::testing::{app_profile, fake_network};
    use crate::http::Response;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

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
        let m = refusal(e("InvalidIdentityToken"), &fed());
        assert_eq!(m.exit_code(), 1);
        assert_eq!(
            m.to_string(),
            "STS rejected the Entra token (InvalidIdentityToken: Incorrect token audience): the IAM OIDC provider must trust this tenant's issuer and list the application of --scope as an audience"
        );
        let mut f = fed();
        f.token_kind = TokenKind::Id;
        assert!(refusal(e("InvalidIdentityToken"), &f)
            .to_string()
            .contains("list the profile's client id (ID tokens are issued to it) as an audience"));
        let Error::Sts(mut idp) = refusal(e("IDPCommunicationError"), &fed()) else {
            panic!("not an STS refusal");
        };
        assert_eq!(idp.code, StsCode::IdpCommunication);
        idp.attempts = 3;
        let idp = Error::Sts(idp);
        assert_eq!(idp.exit_code(), 5);
        assert_eq!(
            idp.to_string(),
            "network error: STS could not reach Entra ID to verify the token (IDPCommunicationError: Incorrect token audience) after 3 attempts: try again later"
        );
        let denied = refusal(e("AccessDenied"), &fed());
        assert_eq!(denied.exit_code(), 1);
        assert_eq!(
            denied.to_string(),
            "not allowed to assume arn:aws:iam::123456789012:role/entra-dev (AccessDenied: Incorrect token audience): its trust policy must allow sts:AssumeRoleWithWebIdentity for this OIDC provider and token"
        );
        assert!(refusal(e("IDPRejectedClaim"), &fed())
            .to_string()
            .contains("trust policy of arn:aws:iam::123456789012:role/entra-dev"));
        assert!(refusal(e("ExpiredTokenException"), &fed())
            .to_string()
            .contains("check this machine's clock"));
        let mut other = e("Throttling");
        other.message.clear();
        assert_eq!(
            refusal(other, &fed()).to_string(),
            "STS refused AssumeRoleWithWebIdentity (Throttling)"
        );
        for c in ["IDPRejectedClaim", "ExpiredTokenException", "Throttling"] {
            let mut x = e(c);
            x.message = "a\nb".into();
            assert!(!refusal(x, &fed()).to_string().contains('\n'));
        }
    }

    /// A broker on a fake network whose STS answers with the `codes` in turn
    /// (an error code, or `""` for credentials; the last one again when they
    /// run out), within `budget`; counts the Entra tokens and the STS calls.
    fn broker_with_sts(
        c: &Cache,
        budget: Duration,
        codes: &'static [&'static str],
    ) -> (Broker, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let (tokens, calls) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let n = Arc::clone(&calls);
        let http = fake_network(budget, Arc::clone(&tokens), move |_req| {
            let code = codes[n.fetch_add(1, Ordering::SeqCst).min(codes.len() - 1)];
            let (status, body) = if code.is_empty() {
                (200, "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>sk</SecretAccessKey><SessionToken>st</SessionToken><Expiration>2100-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>".to_string())
            } else {
                (400, format!("<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>m</Message></Error></ErrorResponse>"))
            };
            Response {
                status,
                headers: Vec::new(),
                body,
            }
        });
        (Broker::with_http(c.clone(), http), tokens, calls)
    }

    const STS: &str = "http://127.0.0.1:9/";

    #[test]
    fn retries_branch_on_the_sts_code() {
        std::env::set_var("ENTRA_CRED_KEYRING", "file");
        let app = app_profile();
        let d = tempfile::tempdir().expect("tempdir");
        let c = Cache::at(d.path().join("cache"));
        let five = Duration::from_secs(5);

        // ExpiredTokenException: once more with a newly fetched token.
        let (b, tokens, calls) = broker_with_sts(&c, five, &["ExpiredTokenException", ""]);
        let (creds, ..) = fetch(&b, &app, &fed(), STS).expect("second call");
        assert_eq!(creds.access_key_id, "ASIAX");
        assert_eq!(
            (tokens.load(Ordering::SeqCst), calls.load(Ordering::SeqCst)),
            (2, 2)
        );

        // ... and only once.
        let (b, _, calls) = broker_with_sts(&c, five, &["ExpiredTokenException"]);
        let e = fetch(&b, &app, &fed(), STS).expect_err("expired twice");
        assert!(
            matches!(&e, Error::Sts(r) if r.code == StsCode::ExpiredToken),
            "{e:?}"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        // AccessDenied: at once.
        let (b, _, calls) = broker_with_sts(&c, five, &["AccessDenied", ""]);
        let e = fetch(&b, &app, &fed(), STS).expect_err("denied");
        assert!(
            matches!(&e, Error::Sts(r) if r.code == StsCode::AccessDenied),
            "{e:?}"
        );
        assert_eq!((calls.load(Ordering::SeqCst), e.exit_code()), (1, 1));

        // IDPCommunicationError: retried after 1 s, 2 s, ... while the budget lasts.
        let (b, _, calls) = broker_with_sts(&c, five, &["IDPCommunicationError", ""]);
        fetch(&b, &app, &fed(), STS).expect("healed");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let (b, _, calls) =
            broker_with_sts(&c, Duration::from_millis(1500), &["IDPCommunicationError"]);
        let e = fetch(&b, &app, &fed(), STS).expect_err("unreachable");
        assert!(
            matches!(&e, Error::Sts(r) if r.code == StsCode::IdpCommunication && r.attempts == 2),
            "{e:?}"
        );
        assert_eq!((calls.load(Ordering::SeqCst), e.exit_code()), (2, 5));
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
