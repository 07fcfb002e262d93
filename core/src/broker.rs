//! The broker: where a profile's tokens come from.
//!
//! [`Broker::token`] is what every binary calls. It resolves the profile's
//! source and hands the [`crate::engine`] a [`Slot`] for the token: the
//! engine serves it from the cache or fetches it once for every process that
//! wants it. The broker itself only says how to fetch (the refresh token for
//! a person, the application source otherwise, or, when a person can answer,
//! a new sign-in) and how a session file keeps the result.
//!
//! Sessions are keyed by the identity that obtained the tokens (see
//! [`Source::session_key`]): a person's sign-in, an application's secret,
//! certificate or federated token, a managed identity. A session written by
//! one kind is never served to another, even for the same tenant and client.

use crate::cache::{Account, Cache, CachedToken, Session, SessionKey};
use crate::config::{Flow, Profile};
use crate::engine::{self, cap_expiry, Engine, Entry, Freshness, Slot};
use crate::entra::{EntraClient, TokenResponse};
use crate::error::{Error, Result};
use crate::http::Http;
use crate::secret::Secret;
use crate::sources::{self, refresh_token, Ctx, Source};
use crate::timefmt::now;
use crate::{debug, info};
use std::io::IsTerminal;
use std::time::Instant;

/// Tokens are served until this many seconds before they expire.
pub const DEFAULT_MIN_VALIDITY: i64 = 300;
/// Largest random extra margin, so that many machines do not refresh at once.
pub const MAX_JITTER: i64 = engine::MAX_JITTER;

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

impl Interaction {
    fn allowed(self) -> bool {
        match self {
            Interaction::Never => false,
            Interaction::Always => true,
            Interaction::IfPossible => std::io::stderr().is_terminal(),
        }
    }
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

/// Whether a session file written by the source `stored` may serve `source`.
fn same_identity(stored: Option<&str>, source: &Source) -> bool {
    stored.is_none_or(|n| Source::identity_class(n) == Source::identity_class(source.name()))
}

/// What a token slot fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// An access token for the slot's scope.
    Access,
    /// The signed-in user's ID token.
    IdToken,
    /// A new sign-in (`entra-cred login`), then an access token.
    SignIn,
}

/// A fetched token, with what is needed to keep it.
struct Fetched {
    resp: TokenResponse,
    account: Account,
    /// The scope the request asked for (the ID token rides on ARM's).
    scope: String,
}

/// A token, and (when it was just fetched) the answer to store.
struct Got {
    token: Token,
    fetched: Option<Box<Fetched>>,
}

/// One token of one session: a [`Slot`] of the engine.
struct TokenSlot<'b> {
    broker: &'b Broker,
    profile: &'b Profile,
    source: &'static Source,
    key: SessionKey,
    tenant: String,
    /// The session's token slot scope (`ID_TOKEN_SCOPE` for ID tokens).
    scope: String,
    req: TokenRequest,
    want: Want,
}

impl TokenSlot<'_> {
    fn session(&self) -> Result<Option<Session>> {
        Ok(self
            .broker
            .cache
            .try_load_session(&self.key)?
            .filter(|s| same_identity(s.source.as_deref(), self.source)))
    }

    /// A person's token for `req`: the refresh token, or a sign-in.
    fn fetch_user(
        &self,
        session: &Session,
        req: &TokenRequest,
    ) -> Result<(TokenResponse, Account)> {
        let (b, p) = (self.broker, self.profile);
        b.fetch_user(p, self.source, &self.key, session, &self.tenant, req)
    }

    fn token(&self, t: &CachedToken, s: &Session, from_cache: bool) -> Token {
        Token {
            access_token: t.access_token.clone(),
            expires_on: cap_expiry(t.access_token.expose(), t.expires_on),
            token_type: t.token_type.clone(),
            scope: t.scope.clone(),
            tenant: t.tenant.clone(),
            account: s.account.clone(),
            source: s.source.clone().unwrap_or_default(),
            from_cache,
            session_id: self.key.id(),
        }
    }
}

impl Slot for TokenSlot<'_> {
    type Value = Got;

    fn lock_name(&self) -> (&str, String) {
        ("sessions", self.key.id())
    }

    fn id(&self) -> String {
        Session::slot(&self.tenant, &self.scope)
    }

    fn load(&self) -> Result<Option<Entry<Got>>> {
        let Some(s) = self.session()? else {
            return Ok(None);
        };
        Ok(s.tokens.get(&self.id()).map(|t| {
            let token = self.token(t, &s, true);
            Entry {
                expires_on: token.expires_on,
                obtained_at: t.obtained_at,
                value: Got {
                    token,
                    fetched: None,
                },
            }
        }))
    }

    fn fetch(&self, _current: Option<&Entry<Got>>) -> Result<Entry<Got>> {
        let b = self.broker;
        let session = self.session()?.unwrap_or_else(|| Session::new(&self.key));
        let (resp, account, scope) = match self.want {
            Want::SignIn => {
                let entra = EntraClient::new(&b.http, &self.profile.authority);
                let resp = b.sign_in(
                    &entra,
                    self.source,
                    &self.tenant,
                    &self.profile.client_id,
                    &self.scope,
                )?;
                let account = account_from(&resp, None);
                (resp, account, self.scope.clone())
            }
            Want::Access => match self.source.app() {
                Some(app) => {
                    let ctx = Ctx {
                        http: &b.http,
                        profile: self.profile,
                        cache: &b.cache,
                        claims: self.req.claims.as_ref(),
                    };
                    let r = app.acquire(&ctx, &self.tenant, &self.scope)?;
                    let fallback = self.source.account_fallback(self.profile);
                    let acct = account_from(&r, Some(&fallback));
                    (r, acct, self.scope.clone())
                }
                None => {
                    let (r, a) = self.fetch_user(&session, &self.req)?;
                    (r, a, self.scope.clone())
                }
            },
            Want::IdToken => {
                // Any user request carries `openid`, so Entra answers with an ID
                // token; ask for Azure Resource Manager (every tenant has it), whose
                // access token is cached like any other.
                let oidc = TokenRequest {
                    scope: self.profile.cloud.arm_scope().to_string(),
                    ..self.req.clone()
                };
                let (r, a) = self.fetch_user(&session, &oidc)?;
                if r.id_token.is_none() {
                    return Err(Error::Other(
                        "Entra ID answered without an ID token (is `openid` allowed for this application?)"
                            .into(),
                    ));
                }
                (r, a, oidc.scope)
            }
        };
        let t = now();
        let (secret, expires_on, token_type) = match (&self.want, &resp.id_token) {
            (Want::IdToken, Some(id)) => (
                id.clone(),
                cap_expiry(id.expose(), resp.expires_on),
                "id_token".to_string(),
            ),
            _ => (
                resp.access_token.clone(),
                cap_expiry(resp.access_token.expose(), resp.expires_on),
                resp.token_type.clone(),
            ),
        };
        let token = Token {
            access_token: secret,
            expires_on,
            token_type,
            scope: self.scope.clone(),
            tenant: self.tenant.clone(),
            account: Some(account.clone()),
            source: self.source.name().to_string(),
            from_cache: false,
            session_id: self.key.id(),
        };
        Ok(Entry {
            value: Got {
                token,
                fetched: Some(Box::new(Fetched {
                    resp,
                    account,
                    scope,
                })),
            },
            expires_on,
            obtained_at: t,
        })
    }

    fn save(&self, entry: &Entry<Got>) -> Result<()> {
        let Some(f) = entry.value.fetched.as_deref() else {
            return Ok(());
        };
        let cache = &self.broker.cache;
        let mut session = self.session()?.unwrap_or_else(|| Session::new(&self.key));
        let rt_key = self.key.refresh_token_key();
        let rt = f
            .resp
            .refresh_token
            .as_ref()
            .map(|rt| (rt_key.as_str(), rt));
        engine::save_pair(cache, rt, |kind| {
            if kind.is_some() {
                session.refresh_token = kind;
            }
            keep(
                &mut session,
                self.source,
                f.account.clone(),
                &self.tenant,
                &f.scope,
                &f.resp,
                entry.obtained_at,
            );
            cache.save_session(&self.key, &session)
        })
    }
}

/// Puts a fetched answer into a session: the access token for `scope`, the
/// ID token when there is one, the account and the source.
fn keep(
    session: &mut Session,
    source: &Source,
    account: Account,
    tenant: &str,
    scope: &str,
    resp: &TokenResponse,
    t: i64,
) {
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
    session.tokens.insert(
        Session::slot(tenant, scope),
        CachedToken {
            access_token: resp.access_token.clone(),
            expires_on: cap_expiry(resp.access_token.expose(), resp.expires_on),
            token_type: resp.token_type.clone(),
            scope: scope.to_string(),
            tenant: tenant.to_string(),
            obtained_at: t,
        },
    );
    if let Some(id) = &resp.id_token {
        // Kept for consumers of ID tokens (credential_process --token-kind id).
        session.tokens.insert(
            Session::slot(tenant, ID_TOKEN_SCOPE),
            CachedToken {
                access_token: id.clone(),
                expires_on: cap_expiry(id.expose(), resp.expires_on),
                token_type: "id_token".into(),
                scope: ID_TOKEN_SCOPE.into(),
                tenant: tenant.to_string(),
                obtained_at: t,
            },
        );
    }
    session.prune(t);
}

impl Broker {
    /// A broker on `cache`. Builds no HTTP client until one is needed. The
    /// call's deadline (`ENTRA_CRED_HTTP_TIMEOUT` from now) bounds every lock
    /// wait and every request, retries included.
    pub fn new(cache: Cache) -> Broker {
        Broker::with_http(cache, Http::new())
    }

    /// A broker with its own HTTP client (tests pass one with a transport).
    pub fn with_http(cache: Cache, http: Http) -> Broker {
        http.set_deadline(Some(Instant::now() + http.budget()));
        Broker {
            cache,
            http,
            jitter: engine::jitter(),
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

    /// The engine of this call (the deadline is the HTTP client's).
    pub fn engine(&self) -> Engine<'_> {
        Engine::new(&self.cache, self.http.deadline(), self.jitter)
    }

    fn slot<'b>(
        &'b self,
        profile: &'b Profile,
        source: &'static Source,
        req: &TokenRequest,
        want: Want,
    ) -> TokenSlot<'b> {
        let tenant = req.tenant.clone().unwrap_or_else(|| profile.tenant.clone());
        TokenSlot {
            broker: self,
            profile,
            key: source.session_key(profile),
            source,
            tenant,
            scope: if want == Want::IdToken {
                ID_TOKEN_SCOPE.to_string()
            } else {
                req.scope.clone()
            },
            req: req.clone(),
            want,
        }
    }

    fn serve(&self, slot: &TokenSlot<'_>, req: &TokenRequest) -> Result<Token> {
        let fresh = Freshness {
            min_validity: req.min_validity,
            force: req.forced(),
            // A caller that may sign a person in does not take another's failure for an answer.
            share_failures: slot.source.app().is_some() || !req.interaction.allowed(),
        };
        let served = self.engine().get_or_fetch(slot, fresh)?;
        let mut t = served.entry.value.token;
        t.from_cache = served.from_cache;
        Ok(t)
    }

    /// An access token for `req.scope`: from the cache when fresh, else fetched
    /// once for all processes waiting on it.
    pub fn token(&self, profile: &Profile, req: &TokenRequest) -> Result<Token> {
        let (source, why) = sources::resolve(profile, &self.cache)?;
        debug!("profile '{}': {} ({why})", profile.name, source.name());
        let slot = self.slot(profile, source, req, Want::Access);
        self.serve(&slot, req)
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
        let can_interact = req.interaction.allowed();
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
                crate::warn!("{e}");
                self.sign_in(&entra, source, tenant, &profile.client_id, &req.scope)?
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
                self.sign_in(&entra, source, tenant, &profile.client_id, &req.scope)?
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
                    && s.source
                        .as_deref()
                        .is_none_or(|n| Source::identity_class(n) == "user")
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
        let Some(_donor_lock) =
            self.cache
                .lock_until("sessions", &donor.id(), self.http.deadline())?
        else {
            return Err(Error::Network(
                "gave up waiting for another entra-cred process that is renewing the sign-in (ENTRA_CRED_HTTP_TIMEOUT)".into(),
            ));
        };
        let Some(mut donor_session) = self.cache.try_load_session(&donor)? else {
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
            let rt_key = donor.refresh_token_key();
            engine::save_pair(&self.cache, Some((&rt_key, &new_rt)), |kind| {
                donor_session.refresh_token = kind;
                self.cache.save_session(&donor, &donor_session)
            })?;
        }
        Ok(Some(Ok(resp)))
    }

    /// A sign-in waits for a person: no deadline from here on. `source`'s
    /// sign-in, or `auto`'s (the device code) for a source without one.
    fn sign_in(
        &self,
        entra: &EntraClient<'_>,
        source: &Source,
        tenant: &str,
        client_id: &str,
        scope: &str,
    ) -> Result<TokenResponse> {
        self.http.set_deadline(None);
        source.person_sign_in()(entra, tenant, client_id, scope)
    }

    /// Signs a person in (device code or browser), keeps the refresh token,
    /// and returns an access token for `scope`. Needs no terminal.
    pub fn login(&self, profile: &Profile, flow: Flow, scope: &str) -> Result<Token> {
        // Waiting for another process's sign-in is part of signing in: no deadline.
        self.http.set_deadline(None);
        let req = TokenRequest {
            tenant: None,
            interaction: Interaction::Always,
            force_refresh: true,
            ..TokenRequest::new(scope)
        };
        // `flow` is a person's (device code or browser); another is `auto`'s sign-in.
        let source = flow
            .source()
            .filter(|s| s.is_person())
            .unwrap_or_else(Source::fallback);
        let slot = self.slot(profile, source, &req, Want::SignIn);
        self.serve(&slot, &req)
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
                profile.name, source.name()
            )));
        }
        let slot = self.slot(profile, source, req, Want::IdToken);
        self.serve(&slot, req)
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
        let Some(mut s) = self.cache.try_load_session(&key)? else {
            return Ok(false);
        };
        let removed = s.tokens.remove(&Session::slot(tenant, scope)).is_some();
        if removed {
            self.cache.save_session(&key, &s)?;
        }
        Ok(removed)
    }

    /// The session keys a profile may have tokens under: one per identity of
    /// the registered sources ([`sources::session_keys`]).
    pub fn session_keys(&self, profile: &Profile) -> Vec<SessionKey> {
        sources::session_keys(profile)
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

    use crate::config::{Config, Overrides};
    use crate::http::{Request, Response};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// A fake Entra: answers every grant with a token named after it, and counts requests.
    fn fake_entra(count: Arc<AtomicUsize>) -> Http {
        Http::with_transport(
            Duration::from_secs(5),
            Box::new(move |req: &Request, _url: &url::Url, _left: Duration| {
                let n = count.fetch_add(1, Ordering::SeqCst);
                let grant = req
                    .form
                    .as_ref()
                    .and_then(|f| f.iter().find(|(k, _)| k == "grant_type"))
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                let rt = if grant == "refresh_token" {
                    format!(r#","refresh_token":"rt-{n}""#)
                } else {
                    String::new()
                };
                Ok(Response {
                    status: 200,
                    headers: Vec::new(),
                    body: format!(
                        r#"{{"token_type":"Bearer","expires_in":3600,"access_token":"{grant}-token-{n}"{rt}}}"#
                    ),
                })
            }),
        )
    }

    #[test]
    fn a_person_and_an_application_with_one_client_id_never_share_tokens() {
        std::env::set_var("ENTRA_CRED_KEYRING", "file");
        let cfg = Config::from_toml(
            "[profiles.person]\ntenant = \"t1\"\nclient_id = \"c1\"\nflow = \"device-code\"\n\
             [profiles.app]\ntenant = \"t1\"\nclient_id = \"c1\"\nflow = \"client-secret\"\nclient_secret = \"s\"\n",
        )
        .expect("config");
        let profile = |n: &str| {
            cfg.profile_with_env(
                &Overrides {
                    profile: Some(n.into()),
                    ..Overrides::default()
                },
                &|_| None,
            )
            .expect("profile")
        };
        let (person, app) = (profile("person"), profile("app"));
        let d = tempfile::tempdir().expect("tempdir");
        let count = Arc::new(AtomicUsize::new(0));
        let broker =
            Broker::with_http(Cache::at(d.path().join("cache")), fake_entra(count.clone()));
        let req = TokenRequest {
            interaction: Interaction::Never,
            ..TokenRequest::new("x/.default")
        };

        // The application first: the person has no sign-in, and gets no application token.
        let a = broker.token(&app, &req).expect("app token");
        assert_eq!(a.access_token.expose(), "client_credentials-token-0");
        let e = broker.token(&person, &req).expect_err("no sign-in");
        assert_eq!(e.exit_code(), 3, "{e}");

        // The person signs in (a refresh token in the cache): the person's token, not the app's.
        let key = Flow::DeviceCode
            .source()
            .expect("registered")
            .session_key(&person);
        let rt_key = key.refresh_token_key();
        let kind = broker
            .cache()
            .secrets()
            .put(&rt_key, &Secret::new("rt-seed".into()))
            .expect("put");
        let mut s = Session::new(&key);
        s.refresh_token = Some(kind);
        s.source = Some("device-code".into());
        broker.cache().save_session(&key, &s).expect("save");
        let p = broker.token(&person, &req).expect("person token");
        assert_eq!(p.access_token.expose(), "refresh_token-token-1");

        // Both cached now, each its own, both directions.
        let a2 = broker.token(&app, &req).expect("app again");
        let p2 = broker.token(&person, &req).expect("person again");
        assert!(a2.from_cache && p2.from_cache);
        assert_eq!(a2.access_token.expose(), "client_credentials-token-0");
        assert_eq!(p2.access_token.expose(), "refresh_token-token-1");
        assert_eq!(count.load(Ordering::SeqCst), 2);

        // A session file that an older version wrote for the application under the person's
        // key is not served to the person.
        let mut legacy = broker.cache().load_session(&key).expect("session");
        legacy.source = Some("client-secret".into());
        broker.cache().save_session(&key, &legacy).expect("save");
        assert_eq!(
            broker
                .token(&person, &req)
                .expect_err("not served")
                .exit_code(),
            3
        );
    }

    #[test]
    fn jitter_in_range() {
        for _ in 0..100 {
            let j = engine::jitter();
            assert!((0..=MAX_JITTER).contains(&j));
        }
    }
}
