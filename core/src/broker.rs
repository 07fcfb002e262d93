//! The broker: the cache first, then one fetch shared by every process.
//!
//! [`Broker::token`] is what every binary calls. Its hot path reads one small
//! file and returns; only when the cached token is missing or inside its
//! refresh window does it take the session's cross-process lock, look again
//! (another process may have just refreshed), and fetch a new token: from
//! the refresh token for a person, from the application source otherwise,
//! or (when a person can answer) through a new sign-in.

use crate::cache::{Account, Cache, CachedToken, Session, SessionKey};
use crate::config::{Flow, Profile};
use crate::entra::{EntraClient, TokenResponse};
use crate::error::{Error, Result};
use crate::http::Http;
use crate::secret::Secret;
use crate::sources::{self, device_code, refresh_token, Ctx, Source};
use crate::timefmt::now;
use crate::{debug, info, warn};
use std::io::IsTerminal;

/// Tokens are served until this many seconds before they expire.
pub const DEFAULT_MIN_VALIDITY: i64 = 300;
/// Largest random extra margin, so that many machines do not refresh at once.
pub const MAX_JITTER: i64 = 60;
/// On a network failure, a cached token with at least this many seconds
/// left is served instead of failing.
const STALE_GRACE: i64 = 60;

/// Whether a person may be asked to sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interaction {
    /// Never: fail with exit 3 instead.
    Never,
    /// When a person can see the prompt (stderr is a terminal).
    IfPossible,
    /// Always (`entra-cred login`: no terminal needed, the message goes to stderr).
    Always,
}

/// What a caller asks for.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// One scope, e.g. `499b84ac-1321-427f-aa17-267ca6975798/.default`.
    pub scope: String,
    /// Ask at this tenant instead of the profile's (e.g. discovered by git).
    pub tenant: Option<String>,
    /// Whether a sign-in prompt is allowed.
    pub interaction: Interaction,
    /// Fetch a new token even when the cached one is fresh.
    pub force_refresh: bool,
    /// Serve a cached token only with more than this many seconds left.
    pub min_validity: i64,
    /// A CAE claims challenge to satisfy: implies a fetch (the cache is not
    /// read), asks with these claims merged into `cp1`, and the answer replaces
    /// the cached token.
    pub claims: Option<crate::cae::Claims>,
}

impl TokenRequest {
    /// A request for `scope` with the defaults (5 minutes' margin, a prompt
    /// when a person is at the terminal).
    pub fn new(scope: impl Into<String>) -> TokenRequest {
        TokenRequest {
            scope: scope.into(),
            tenant: None,
            interaction: Interaction::IfPossible,
            force_refresh: false,
            min_validity: DEFAULT_MIN_VALIDITY,
            claims: None,
        }
    }

    /// Whether the cache must not answer (`force_refresh`, or claims to satisfy).
    pub fn forced(&self) -> bool {
        self.force_refresh || self.claims.is_some()
    }
}

/// An access token and what is known about it.
#[derive(Debug, Clone)]
pub struct Token {
    /// The access token.
    pub access_token: Secret<String>,
    /// Expiry, POSIX seconds.
    pub expires_on: i64,
    /// `Bearer`.
    pub token_type: String,
    /// The scope asked for.
    pub scope: String,
    /// The tenant it was asked at.
    pub tenant: String,
    /// The signed-in account, when known.
    pub account: Option<Account>,
    /// The source's name (`device-code`, `client-secret`, ...).
    pub source: String,
    /// Whether it came from the cache.
    pub from_cache: bool,
    /// The session it belongs to (for helpers that keep derived state).
    pub session_id: String,
}

/// Turns a scope or resource into a scope: `R` becomes `R/.default`.
pub fn scope_for_resource(resource: &str) -> String {
    format!("{}/.default", resource.trim())
}

/// The broker.
pub struct Broker {
    cache: Cache,
    http: Http,
    jitter: i64,
}

fn random_jitter() -> i64 {
    let mut b = [0u8; 2];
    if getrandom::getrandom(&mut b).is_err() {
        return 0;
    }
    i64::from(u16::from_le_bytes(b)) % (MAX_JITTER + 1)
}

fn account_from(resp: &TokenResponse, fallback_name: Option<&str>) -> Account {
    let from = |t: &Secret<String>| crate::jwt::decode(t.expose());
    let id = resp.id_token.as_ref().and_then(from);
    let at = from(&resp.access_token);
    let claim = |k: &str| {
        id.as_ref()
            .and_then(|d| d.str(k))
            .or_else(|| at.as_ref().and_then(|d| d.str(k)))
            .map(str::to_string)
    };
    let username = id
        .as_ref()
        .and_then(|d| d.username())
        .or_else(|| at.as_ref().and_then(|d| d.username()))
        .map(str::to_string)
        .or_else(|| fallback_name.map(str::to_string));
    Account {
        username,
        oid: claim("oid"),
        tenant: claim("tid"),
    }
}

impl Broker {
    /// A broker on `cache`. Builds no HTTP client until one is needed.
    pub fn new(cache: Cache) -> Broker {
        Broker {
            cache,
            http: Http::new(),
            jitter: random_jitter(),
        }
    }

    /// The cache.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The HTTP client (built on first use).
    pub fn http(&self) -> &Http {
        &self.http
    }

    fn fresh(&self, t: &CachedToken, min_validity: i64, now: i64) -> bool {
        t.expires_on - now > min_validity + self.jitter
    }

    fn token_of(t: &CachedToken, s: &Session, from_cache: bool, key: &SessionKey) -> Token {
        Token {
            access_token: t.access_token.clone(),
            expires_on: t.expires_on,
            token_type: t.token_type.clone(),
            scope: t.scope.clone(),
            tenant: t.tenant.clone(),
            account: s.account.clone(),
            source: s.source.clone().unwrap_or_default(),
            from_cache,
            session_id: key.id(),
        }
    }

    /// An access token for `req.scope`: from the cache when fresh, else fetched
    /// once for all processes waiting on it.
    pub fn token(&self, profile: &Profile, req: &TokenRequest) -> Result<Token> {
        let (source, why) = sources::resolve(profile, &self.cache)?;
        let key = source.session_key(profile);
        let tenant = req.tenant.clone().unwrap_or_else(|| profile.tenant.clone());
        let slot = Session::slot(&tenant, &req.scope);

        if !req.forced() {
            if let Some(s) = self.cache.load_session(&key) {
                if let Some(t) = s.tokens.get(&slot) {
                    if self.fresh(t, req.min_validity, now()) {
                        return Ok(Broker::token_of(t, &s, true, &key));
                    }
                }
            }
        }
        debug!("profile '{}': {} ({why})", profile.name, source.name());

        let _lock = self.cache.lock_session(&key)?;
        let mut session = self
            .cache
            .load_session(&key)
            .unwrap_or_else(|| Session::new(&key));
        let cached = session.tokens.get(&slot).cloned();
        if let Some(t) = &cached {
            if !req.forced() && self.fresh(t, req.min_validity, now()) {
                debug!("another process refreshed the token");
                return Ok(Broker::token_of(t, &session, true, &key));
            }
        }

        let fetched = match source.app() {
            Some(app) => {
                let ctx = Ctx {
                    http: &self.http,
                    profile,
                    cache: &self.cache,
                    claims: req.claims.as_ref(),
                };
                app.acquire(&ctx, &tenant, &req.scope).map(|r| {
                    let acct = account_from(&r, Some(&source.session_client_id(profile)));
                    (r, acct)
                })
            }
            None => self.fetch_user(profile, &source, &key, &session, &tenant, req),
        };
        let (resp, account) = match fetched {
            Ok(v) => v,
            Err(Error::Network(m)) => match &cached {
                Some(t) if !req.forced() && t.expires_on - now() > STALE_GRACE => {
                    warn!("could not refresh ({m}); using the cached token, which is still valid");
                    return Ok(Broker::token_of(t, &session, true, &key));
                }
                _ => return Err(Error::Network(m)),
            },
            Err(e) => return Err(e),
        };
        self.store(
            &key,
            &mut session,
            &source,
            account,
            &tenant,
            &req.scope,
            resp,
        )
    }

    /// Fetches for a person: the refresh token, or a sign-in.
    fn fetch_user(
        &self,
        profile: &Profile,
        source: &Source,
        key: &SessionKey,
        session: &Session,
        tenant: &str,
        req: &TokenRequest,
    ) -> Result<(TokenResponse, Account)> {
        let entra =
            EntraClient::new(&self.http, &profile.authority).with_claims(req.claims.as_ref());
        let can_interact = match req.interaction {
            Interaction::Never => false,
            Interaction::Always => true,
            Interaction::IfPossible => std::io::stderr().is_terminal(),
        };
        let flow = match source {
            Source::User(f) => *f,
            _ => Flow::DeviceCode,
        };
        let own_rt = session
            .refresh_token
            .and_then(|kind| self.cache.secrets().get(&key.refresh_token_key(), kind));
        let redeemed = match own_rt {
            Some(rt) => Some(refresh_token::redeem(
                &entra,
                tenant,
                &profile.client_id,
                &rt,
                &req.scope,
            )),
            // No sign-in of its own (e.g. `--tenant T` on a kubeconfig after a plain
            // `entra-cred login`): the same person's sign-in for this client at another tenant
            // serves, as one sign-in serves every audience and tenant the user may reach.
            None => self.redeem_with_donor(&entra, key, tenant, &req.scope)?,
        };
        let resp = match redeemed {
            Some(Ok(r)) => r,
            Some(Err(e @ Error::LoginExpired { .. })) if can_interact => {
                warn!("{e}");
                self.sign_in(&entra, flow, tenant, &profile.client_id, &req.scope)?
            }
            Some(Err(e)) => {
                return Err(crate::cae::unsatisfied(
                    e,
                    req.claims.as_ref(),
                    &req.scope,
                    &profile.name,
                ))
            }
            None if can_interact => {
                self.sign_in(&entra, flow, tenant, &profile.client_id, &req.scope)?
            }
            None => return Err(Error::InteractionRequired(login_hint(profile))),
        };
        let account = account_from(&resp, None);
        Ok((resp, account))
    }

    /// Another session of the same authority and client that holds a refresh token,
    /// best first: one signed in at the requested tenant, then at `organizations` /
    /// `common`, then one whose account's home tenant is the requested tenant.
    fn find_donor(&self, key: &SessionKey, tenant: &str) -> Option<SessionKey> {
        let rank = |s: &Session| {
            if s.tenant.eq_ignore_ascii_case(tenant) {
                0
            } else if s.tenant.eq_ignore_ascii_case("organizations")
                || s.tenant.eq_ignore_ascii_case("common")
            {
                1
            } else if s
                .account
                .as_ref()
                .and_then(|a| a.tenant.as_deref())
                .is_some_and(|t| t.eq_ignore_ascii_case(tenant))
            {
                2
            } else {
                3
            }
        };
        self.cache
            .sessions()
            .into_iter()
            .filter(|s| {
                s.refresh_token.is_some()
                    && s.authority.eq_ignore_ascii_case(&key.authority)
                    && s.client_id.eq_ignore_ascii_case(&key.client_id)
                    && !s.tenant.eq_ignore_ascii_case(&key.tenant)
            })
            .min_by_key(|s| rank(s))
            .map(|s| SessionKey {
                authority: s.authority,
                tenant: s.tenant,
                client_id: s.client_id,
            })
    }

    /// Redeems a donor session's refresh token at `tenant`, under the donor's lock, and keeps
    /// the rotated refresh token with the donor (its owner). The answer comes back without a
    /// refresh token, so the caller's session keeps none of its own.
    fn redeem_with_donor(
        &self,
        entra: &EntraClient<'_>,
        key: &SessionKey,
        tenant: &str,
        scope: &str,
    ) -> Result<Option<Result<TokenResponse>>> {
        let Some(donor) = self.find_donor(key, tenant) else {
            return Ok(None);
        };
        // Lock order: the caller's session, then the donor's. A donor has its own refresh
        // token, so it never looks for a donor itself: no cycle.
        let _donor_lock = self.cache.lock_session(&donor)?;
        let Some(mut donor_session) = self.cache.load_session(&donor) else {
            return Ok(None);
        };
        let Some(rt) = donor_session
            .refresh_token
            .and_then(|kind| self.cache.secrets().get(&donor.refresh_token_key(), kind))
        else {
            return Ok(None);
        };
        debug!(
            "using the sign-in at tenant '{}' for tenant '{tenant}'",
            donor_session.tenant
        );
        let mut resp = match refresh_token::redeem(entra, tenant, &key.client_id, &rt, scope) {
            Ok(r) => r,
            Err(e) => return Ok(Some(Err(e))),
        };
        if let Some(new_rt) = resp.refresh_token.take() {
            let kind = self
                .cache
                .secrets()
                .put(&donor.refresh_token_key(), &new_rt)?;
            donor_session.refresh_token = Some(kind);
            self.cache.save_session(&donor, &donor_session)?;
        }
        Ok(Some(Ok(resp)))
    }

    fn sign_in(
        &self,
        entra: &EntraClient<'_>,
        flow: Flow,
        tenant: &str,
        client_id: &str,
        scope: &str,
    ) -> Result<TokenResponse> {
        match flow {
            Flow::Browser => sources::browser::sign_in(entra, tenant, client_id, scope),
            _ => device_code::sign_in(entra, tenant, client_id, scope),
        }
    }

    /// Writes a fetched token (and a rotated refresh token) to the cache.
    #[allow(clippy::too_many_arguments)]
    fn store(
        &self,
        key: &SessionKey,
        session: &mut Session,
        source: &Source,
        account: Account,
        tenant: &str,
        scope: &str,
        resp: TokenResponse,
    ) -> Result<Token> {
        let t = now();
        if let Some(rt) = &resp.refresh_token {
            let kind = self.cache.secrets().put(&key.refresh_token_key(), rt)?;
            session.refresh_token = Some(kind);
        }
        let changed_account = match (&session.account, &account.oid) {
            (Some(old), Some(new_oid)) => old.oid.as_deref().is_some_and(|o| o != new_oid),
            _ => false,
        };
        if changed_account {
            info!("a different account signed in: dropping the previous account's tokens");
            session.tokens.clear();
        }
        session.account = Some(account);
        session.source = Some(source.name().to_string());
        session.version = crate::cache::SESSION_VERSION;
        let cached = CachedToken {
            access_token: resp.access_token,
            expires_on: resp.expires_on,
            token_type: resp.token_type,
            scope: scope.to_string(),
            tenant: tenant.to_string(),
            obtained_at: t,
        };
        session
            .tokens
            .insert(Session::slot(tenant, scope), cached.clone());
        if let Some(id) = resp.id_token {
            // Kept for consumers of ID tokens (credential_process --token-kind id).
            let exp = crate::jwt::decode(id.expose())
                .and_then(|d| d.secs("exp"))
                .unwrap_or(cached.expires_on);
            session.tokens.insert(
                Session::slot(tenant, ID_TOKEN_SCOPE),
                CachedToken {
                    access_token: id,
                    expires_on: exp,
                    token_type: "id_token".into(),
                    scope: ID_TOKEN_SCOPE.into(),
                    tenant: tenant.to_string(),
                    obtained_at: t,
                },
            );
        }
        session.prune(t);
        self.cache.save_session(key, session)?;
        Ok(Broker::token_of(&cached, session, false, key))
    }

    /// Signs a person in (device code or browser), keeps the refresh token,
    /// and returns an access token for `scope`. Needs no terminal.
    pub fn login(&self, profile: &Profile, flow: Flow, scope: &str) -> Result<Token> {
        let source = Source::User(flow);
        let key = source.session_key(profile);
        let _lock = self.cache.lock_session(&key)?;
        let mut session = self
            .cache
            .load_session(&key)
            .unwrap_or_else(|| Session::new(&key));
        let entra = EntraClient::new(&self.http, &profile.authority);
        let resp = self.sign_in(&entra, flow, &profile.tenant, &profile.client_id, scope)?;
        let account = account_from(&resp, None);
        self.store(
            &key,
            &mut session,
            &source,
            account,
            &profile.tenant,
            scope,
            resp,
        )
    }

    /// The signed-in user's latest ID token (audience: the profile's client
    /// id), from the cache when it has more than `req.min_validity` seconds
    /// left, else refreshed through the refresh token (or, when
    /// `req.interaction` allows, a sign-in). `req.scope` is ignored. The
    /// returned [`Token`] carries the ID token in `access_token` and
    /// `token_type` `id_token`. Application flows have no ID token: a
    /// configuration error.
    pub fn id_token(&self, profile: &Profile, req: &TokenRequest) -> Result<Token> {
        let (source, _) = sources::resolve(profile, &self.cache)?;
        if source.app().is_some() {
            return Err(Error::Config(format!(
                "profile '{}' uses the {} flow, which has no ID token: an ID token needs a signed-in user (`entra-cred login`)",
                profile.name,
                source.name()
            )));
        }
        let key = source.session_key(profile);
        let tenant = req.tenant.clone().unwrap_or_else(|| profile.tenant.clone());
        let slot = Session::slot(&tenant, ID_TOKEN_SCOPE);
        if !req.force_refresh {
            if let Some(s) = self.cache.load_session(&key) {
                if let Some(t) = s.tokens.get(&slot) {
                    if self.fresh(t, req.min_validity, now()) {
                        return Ok(Broker::token_of(t, &s, true, &key));
                    }
                }
            }
        }
        let _lock = self.cache.lock_session(&key)?;
        let mut session = self
            .cache
            .load_session(&key)
            .unwrap_or_else(|| Session::new(&key));
        if let Some(t) = session.tokens.get(&slot) {
            if !req.force_refresh && self.fresh(t, req.min_validity, now()) {
                return Ok(Broker::token_of(t, &session, true, &key));
            }
        }
        // Any user request carries `openid`, so Entra answers with an ID
        // token; ask for Azure Resource Manager (every tenant has it), whose
        // access token is cached like any other.
        let oidc = TokenRequest {
            scope: profile.cloud.arm_scope().to_string(),
            ..req.clone()
        };
        let (resp, account) = self.fetch_user(profile, &source, &key, &session, &tenant, &oidc)?;
        if resp.id_token.is_none() {
            return Err(Error::Other(
                "Entra ID answered without an ID token (is `openid` allowed for this application?)"
                    .into(),
            ));
        }
        self.store(
            &key,
            &mut session,
            &source,
            account,
            &tenant,
            &oidc.scope,
            resp,
        )?;
        session
            .tokens
            .get(&slot)
            .map(|t| Broker::token_of(t, &session, false, &key))
            .ok_or_else(|| Error::Other("the new ID token was not kept".into()))
    }

    /// Forgets the cached access token for `scope` (git's `erase`: the server
    /// rejected it), so that the next request fetches a new one.
    pub fn forget_token(
        &self,
        profile: &Profile,
        tenant: Option<&str>,
        scope: &str,
    ) -> Result<bool> {
        let (source, _) = sources::resolve(profile, &self.cache)?;
        let key = source.session_key(profile);
        let tenant = tenant.unwrap_or(&profile.tenant);
        let _lock = self.cache.lock_session(&key)?;
        let Some(mut s) = self.cache.load_session(&key) else {
            return Ok(false);
        };
        let removed = s.tokens.remove(&Session::slot(tenant, scope)).is_some();
        if removed {
            self.cache.save_session(&key, &s)?;
        }
        Ok(removed)
    }

    /// The session keys a profile may have tokens under (user and application).
    pub fn session_keys(&self, profile: &Profile) -> Vec<SessionKey> {
        let mut keys = vec![Source::User(Flow::DeviceCode).session_key(profile)];
        for s in [
            Source::ManagedIdentity(sources::managed_identity::Host::Imds),
            Source::AzureCli,
        ] {
            keys.push(s.session_key(profile));
        }
        keys
    }

    /// Forgets a profile's tokens and refresh token (cache and keyring), and the
    /// tokens that other tenants' sessions obtained through this sign-in.
    pub fn logout(&self, profile: &Profile) -> Result<usize> {
        let mut n = 0;
        let mut keys = self.session_keys(profile);
        // Sessions without a sign-in of their own borrowed this one (see `find_donor`).
        for s in self.cache.sessions() {
            if s.refresh_token.is_none()
                && s.authority.eq_ignore_ascii_case(&profile.authority)
                && s.client_id.eq_ignore_ascii_case(&profile.client_id)
            {
                keys.push(SessionKey {
                    authority: s.authority,
                    tenant: s.tenant,
                    client_id: s.client_id,
                });
            }
        }
        for key in keys {
            let _lock = self.cache.lock_session(&key)?;
            if self.cache.load_session(&key).is_some() {
                n += 1;
            }
            self.cache.remove_session(&key);
            n += self.cache.remove_derived_state(&key.id());
        }
        Ok(n)
    }
}

/// The pseudo-scope under which a session's latest ID token is cached.
pub const ID_TOKEN_SCOPE: &str = "id_token";

/// The hint for a missing sign-in.
pub fn login_hint(profile: &Profile) -> String {
    let p = if profile.name == crate::config::DEFAULT_PROFILE {
        String::new()
    } else {
        format!(" -p {}", profile.name)
    };
    format!(
        "no usable sign-in for profile '{}' and no one to ask here: run `entra-cred login{p}` first",
        profile.name
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_to_scope() {
        assert_eq!(
            scope_for_resource("https://management.core.windows.net/"),
            "https://management.core.windows.net//.default"
        );
        assert_eq!(
            scope_for_resource("499b84ac-1321-427f-aa17-267ca6975798"),
            "499b84ac-1321-427f-aa17-267ca6975798/.default"
        );
    }

    #[test]
    fn jitter_in_range() {
        for _ in 0..100 {
            let j = random_jitter();
            assert!((0..=MAX_JITTER).contains(&j));
        }
    }
}
