//! Azure Container Registry: the Entra-token-for-ACR-refresh-token exchange
//! and its cache.
//!
//! `get` for a registry: an Entra access token for
//! [`ACR_SCOPE`] (or the profile's `acr_scope`), exchanged at
//! `POST <scheme>://<registry>/oauth2/exchange` (form `grant_type=access_token`,
//! `service`, `tenant`, `access_token`) for an ACR refresh token, which docker
//! then uses as the password of user [`ACR_USERNAME`].
//!
//! The ACR refresh token (about 3 hours) is a secret: it goes to the secret
//! store (keyring or 0600 file) under `Cache::state_secret_key("acr", name)`;
//! the state file `<cache>/acr/<stem>.json` records the registry, user name,
//! expiry, where the secret went and the Entra session it came from (so that
//! `entra-cred logout` removes it). One state per (profile, registry).
//!
//! A cache hit reads the state file and the secret and returns: no HTTP
//! client, no Entra. Concurrent misses for one registry take the state's
//! lock and look again, so they make one exchange between them.

use crate::broker::{Broker, TokenRequest};
use crate::cache::{file, Cache, StoreKind};
use crate::config::Profile;
use crate::engine::{self, Entry, Slot};
use crate::error::{one_line, Error, Result};
use crate::http::{Request, RetryPolicy};
use crate::protocol::docker::{Registry, ACR_USERNAME};
use crate::secret::Secret;
use crate::timefmt::now;
use crate::{debug, info};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The scope of Entra tokens that ACR accepts.
pub const ACR_SCOPE: &str = "https://containerregistry.azure.net/.default";
/// The cache kind (directory) of ACR state files.
pub const STATE_KIND: &str = "acr";
/// A cached ACR refresh token is exchanged anew once less than this many
/// seconds of it are left, so that a push or pull that starts with it has an
/// hour to finish (SPEC.md).
pub const MIN_VALIDITY: i64 = 3600;
/// Lifetime assumed for an ACR refresh token whose `exp` cannot be read.
const FALLBACK_LIFETIME: i64 = 3600;
/// Current state file format.
const STATE_VERSION: u32 = 1;

/// Credentials for a registry.
#[derive(Debug, Clone)]
pub struct AcrCredential {
    /// The registry (`host[:port]`).
    pub registry: String,
    /// The user name to present ([`ACR_USERNAME`]).
    pub username: String,
    /// The ACR refresh token.
    pub secret: Secret<String>,
    /// Its expiry, POSIX seconds.
    pub expires_on: i64,
    /// Whether it came from the cache.
    pub from_cache: bool,
}

/// The state file of one (profile, registry).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AcrState {
    version: u32,
    registry: String,
    profile: String,
    username: String,
    /// Expiry of the ACR refresh token (its `exp`), POSIX seconds.
    exp: i64,
    obtained_at: i64,
    /// Where the secret is.
    store: StoreKind,
    /// The Entra session the token was obtained with.
    session: String,
    /// The Entra scope that was exchanged.
    scope: String,
}

/// The Entra scope a profile uses for ACR: `acr_scope` (the word `arm` means
/// the cloud's Resource Manager scope), else [`ACR_SCOPE`].
pub fn scope_for(profile: &Profile) -> String {
    match profile.acr_scope.as_deref().map(str::trim) {
        Some(s) if s.eq_ignore_ascii_case("arm") || s.eq_ignore_ascii_case("management") => {
            profile.cloud.arm_scope().to_string()
        }
        Some(s) if !s.is_empty() => s.to_string(),
        _ => ACR_SCOPE.to_string(),
    }
}

/// The name of the state of (profile, registry).
fn state_name(profile: &str, registry: &Registry) -> String {
    format!("{profile}@{}", registry.name())
}

/// Whether a token expiring at `exp` is still served at `now` (an hour's
/// margin plus `jitter`).
pub fn is_fresh(exp: i64, now: i64, jitter: i64) -> bool {
    exp.saturating_sub(now) > MIN_VALIDITY.saturating_add(jitter)
}

/// A credential and, when just obtained, the Entra session it came from.
#[derive(Debug, Clone)]
struct Held {
    cred: AcrCredential,
    /// `(session id, scope)` of a new exchange, to be kept with it.
    origin: Option<(String, String)>,
}

/// The ACR refresh token of one (profile, registry): a [`Slot`] of the engine.
struct AcrSlot<'b> {
    broker: &'b Broker,
    profile: &'b Profile,
    registry: &'b Registry,
    name: String,
}

impl AcrSlot<'_> {
    fn secret_key(&self) -> String {
        Cache::state_secret_key(STATE_KIND, &self.name)
    }
}

/// Reads the state of `name` and its secret (`Ok(None)` when absent, corrupt
/// or for another registry or profile).
fn load(
    cache: &Cache,
    name: &str,
    profile: &str,
    registry: &Registry,
) -> Result<Option<Entry<Held>>> {
    cache.verify(Some(STATE_KIND))?;
    let Some(st) = file::read_json_checked::<AcrState>(&cache.state_path(STATE_KIND, name))? else {
        return Ok(None);
    };
    if st.registry != registry.name() || st.profile != profile {
        return Ok(None);
    }
    let Some(secret) = cache
        .secrets()
        .get(&Cache::state_secret_key(STATE_KIND, name), st.store)
    else {
        return Ok(None);
    };
    let exp = engine::cap_expiry(secret.expose(), st.exp);
    Ok(Some(Entry {
        value: Held {
            cred: AcrCredential {
                registry: st.registry,
                username: st.username,
                secret,
                expires_on: exp,
                from_cache: true,
            },
            origin: None,
        },
        expires_on: exp,
        obtained_at: st.obtained_at,
    }))
}

impl Slot for AcrSlot<'_> {
    type Value = Held;

    fn lock_name(&self) -> (&str, String) {
        (STATE_KIND, self.name.clone())
    }

    fn id(&self) -> String {
        self.name.clone()
    }

    fn load(&self) -> Result<Option<Entry<Held>>> {
        load(
            self.broker.cache(),
            &self.name,
            &self.profile.name,
            self.registry,
        )
    }

    fn fetch(&self, _current: Option<&Entry<Held>>) -> Result<Entry<Held>> {
        let (broker, profile, registry) = (self.broker, self.profile, self.registry);
        let scope = scope_for(profile);
        let mut req = TokenRequest::new(scope.clone());
        let mut token = broker.token(profile, &req)?;
        let (secret, exp) = loop {
            let tenant = crate::jwt::decode(token.access_token.expose())
                .and_then(|d| d.str("tid").map(str::to_string))
                .or_else(|| token.account.as_ref().and_then(|a| a.tenant.clone()));
            match exchange(broker, registry, tenant.as_deref(), &token.access_token) {
                Ok(v) => break v,
                // The registry refused the Entra token (revoked, or a policy changed since it
                // was cached): one more exchange with a newly fetched one before failing.
                Err(Error::Registry { status: 401, .. }) if !req.force_refresh => {
                    info!(
                        "registry {} refused the Entra token; fetching a new one",
                        registry.name()
                    );
                    req.force_refresh = true;
                    token = broker.token(profile, &req)?;
                }
                Err(e) => {
                    if matches!(
                        &e,
                        Error::Registry {
                            status: 401 | 403,
                            ..
                        }
                    ) {
                        // The next run asks Entra afresh.
                        let _ = broker.forget_token(profile, None, &scope);
                    }
                    return Err(e);
                }
            }
        };
        let t = now();
        info!(
            "new ACR token for {} (valid for {} min)",
            registry.name(),
            exp.saturating_sub(t) / 60
        );
        Ok(Entry {
            value: Held {
                cred: AcrCredential {
                    registry: registry.name(),
                    username: ACR_USERNAME.to_string(),
                    secret,
                    expires_on: exp,
                    from_cache: false,
                },
                origin: Some((token.session_id.clone(), scope)),
            },
            expires_on: exp,
            obtained_at: t,
        })
    }

    fn save(&self, entry: &Entry<Held>) -> Result<()> {
        let Some((session, scope)) = entry.value.origin.clone() else {
            return Ok(());
        };
        let cache = self.broker.cache();
        let key = self.secret_key();
        engine::save_pair(cache, Some((&key, &entry.value.cred.secret)), |store| {
            let st = AcrState {
                version: STATE_VERSION,
                registry: self.registry.name(),
                profile: self.profile.name.clone(),
                username: ACR_USERNAME.to_string(),
                exp: entry.expires_on,
                obtained_at: entry.obtained_at,
                store: store.unwrap_or(StoreKind::File),
                session,
                scope,
            };
            file::write_json(&cache.state_path(STATE_KIND, &self.name), &st)
        })
    }
}

/// The cached credentials of (profile, registry), when fresh. Reads one
/// file and the secret store; nothing else.
pub fn cached(cache: &Cache, profile: &str, registry: &Registry) -> Option<AcrCredential> {
    let e = load(cache, &state_name(profile, registry), profile, registry).ok()??;
    if !is_fresh(e.expires_on, now(), engine::jitter()) {
        debug!(
            "ACR token for {} expires at {}: refreshing",
            registry.name(),
            e.expires_on
        );
        return None;
    }
    Some(e.value.cred)
}

/// Credentials for `registry`: cached while more than an hour of them is
/// left, else a new ACR refresh token from the exchange (one exchange for all
/// processes asking at once).
pub fn get(broker: &Broker, profile: &Profile, registry: &Registry) -> Result<AcrCredential> {
    let slot = AcrSlot {
        broker,
        profile,
        registry,
        name: state_name(&profile.name, registry),
    };
    broker
        .engine()
        .serve(&slot, MIN_VALIDITY, |held, from_cache| AcrCredential {
            from_cache,
            ..held.cred
        })
}

/// `POST <scheme>://<registry>/oauth2/exchange`: an Entra access token for an
/// ACR refresh token and its expiry.
fn exchange(
    broker: &Broker,
    registry: &Registry,
    tenant: Option<&str>,
    access_token: &Secret<String>,
) -> Result<(Secret<String>, i64)> {
    let url = format!("{}/oauth2/exchange", registry.base_url());
    let mut form = vec![
        ("grant_type".to_string(), "access_token".to_string()),
        ("service".to_string(), registry.name()),
    ];
    if let Some(t) = tenant {
        form.push(("tenant".to_string(), t.to_string()));
    }
    form.push(("access_token".to_string(), access_token.expose().clone()));
    let req = Request::post_form(url, form);
    let resp = broker.http().send(&req, &RetryPolicy::default())?;
    parse_exchange(&registry.name(), resp.status, &resp.body, now())
}

/// Reads the registry's answer to `POST /oauth2/exchange` (HTTP `status`,
/// `body`): the ACR refresh token and its expiry, the token's `exp` claim or,
/// when it has none, `now` plus an hour. A non-2xx status, a body that is not
/// JSON or one without a `refresh_token` gives a one-line error naming
/// `registry`. Pure and total (fuzzed).
pub fn parse_exchange(
    registry: &str,
    status: u16,
    body: &str,
    now: i64,
) -> Result<(Secret<String>, i64)> {
    let reg = registry;
    if !(200..300).contains(&status) {
        return Err(exchange_error(reg, status, body));
    }
    let v: serde_json::Value = serde_json::from_str(body).map_err(|_| {
        Error::Other(format!(
            "registry {reg} answered the token exchange with something that is not JSON (HTTP {status}); is it an Azure Container Registry?",
        ))
    })?;
    let rt = v
        .get("refresh_token")
        .and_then(|r| r.as_str())
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            Error::Other(format!(
                "registry {reg} answered the token exchange without a refresh_token"
            ))
        })?;
    let exp = crate::jwt::decode(rt)
        .and_then(|d| d.secs("exp"))
        .unwrap_or_else(|| now.saturating_add(FALLBACK_LIFETIME));
    Ok((
        Secret::new(rt.to_string()),
        crate::timefmt::clamp_expiry(exp),
    ))
}

/// The error for a failed exchange ([`Error::Registry`], which words it).
fn exchange_error(registry: &str, status: u16, body: &str) -> Error {
    Error::Registry {
        registry: registry.to_string(),
        status,
        detail: registry_error_detail(body),
    }
}

/// `CODE: message` from a registry error body (`{"errors": [{"code", "message"}]}`)
/// or an OAuth one (`{"error", "error_description"}`), cut to one short line.
pub fn registry_error_detail(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let text = if let Some(e) = v.get("errors").and_then(|e| e.get(0)) {
        let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("");
        let msg = e.get("message").and_then(|c| c.as_str()).unwrap_or("");
        match (code.is_empty(), msg.is_empty()) {
            (false, false) => format!("{code}: {msg}"),
            (false, true) => code.to_string(),
            (true, false) => msg.to_string(),
            (true, true) => return None,
        }
    } else {
        // The Azure shape ({"error": {"code", "message"}}) or the OAuth one: the one reader.
        crate::azure_error::parse_error(body, 0)?.to_string()
    };
    let line = one_line(&text);
    Some(if line.chars().count() > 200 {
        format!("{}...", line.chars().take(200).collect::<String>())
    } else {
        line
    })
}

/// Every readable ACR state file as (stem, state).
fn states(cache: &Cache) -> Vec<(String, AcrState)> {
    let Ok(rd) = std::fs::read_dir(cache.dir().join(STATE_KIND)) else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| {
            let p = e.path();
            if p.extension().is_none_or(|x| x != "json") {
                return None;
            }
            let stem = p.file_stem()?.to_string_lossy().into_owned();
            let st: AcrState = file::read_json(&p)?;
            Some((stem, st))
        })
        .collect()
}

/// Forgets every cached token of `registry` (all profiles). Returns how many.
pub fn erase(cache: &Cache, registry: &Registry) -> usize {
    let name = registry.name();
    let mut n = 0;
    for (stem, st) in states(cache) {
        if st.registry == name {
            cache
                .secrets()
                .delete(&Cache::state_secret_key(STATE_KIND, &stem));
            let _ = std::fs::remove_file(cache.state_path(STATE_KIND, &stem));
            n += 1;
        }
    }
    n
}

/// Registries with a cached, unexpired token: registry -> user name.
pub fn list(cache: &Cache) -> BTreeMap<String, String> {
    let t = now();
    states(cache)
        .into_iter()
        .filter(|(_, st)| st.exp > t)
        .map(|(_, st)| (st.registry, st.username))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entra::testing::{fake_network, profile, unsigned_jwt as jwt_with};

    #[test]
    fn exchange_answers_are_read_totally() {
        let now = 1_795_000_000;
        let ok = |body: &str| parse_exchange("r.azurecr.io", 200, body, now);
        let rt = jwt_with(r#"{"exp":1795003600}"#);
        let (s, exp) = ok(&format!(r#"{{"refresh_token":"{rt}"}}"#)).expect("ok");
        assert_eq!((s.expose().as_str(), exp), (rt.as_str(), 1_795_003_600));
        // No exp: an hour.
        assert_eq!(
            ok(r#"{"refresh_token":"opaque"}"#).expect("ok").1,
            now + 3600
        );
        // An exp far outside time (i64::MIN, a huge float) is clamped: it never
        // overflows `exp - now` (a release build would wrap it to "fresh forever").
        for claims in [r#"{"exp":-9223372036854775808}"#, r#"{"exp":-1e300}"#] {
            let rt = jwt_with(claims);
            let (_, exp) = ok(&format!(r#"{{"refresh_token":"{rt}"}}"#)).expect("ok");
            assert_eq!(exp, 0);
            assert!(!is_fresh(exp, now, 60));
        }
        let rt = jwt_with(r#"{"exp":1e300}"#);
        let (_, exp) = ok(&format!(r#"{{"refresh_token":"{rt}"}}"#)).expect("ok");
        assert_eq!(exp, crate::timefmt::MAX_EXPIRY);
        assert!(!is_fresh(i64::MIN, now, 60));
        assert!(is_fresh(i64::MAX, i64::MIN, 60));
        for bad in [
            "",
            "null",
            "[]",
            r#"{"refresh_token":""}"#,
            r#"{"refresh_token":5}"#,
        ] {
            let e = ok(bad).expect_err(bad);
            assert!(e.to_string().contains("r.azurecr.io"), "{e}");
        }
        let e = parse_exchange(
            "r.azurecr.io",
            401,
            "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"a\\nb\"}]}",
            now,
        )
        .expect_err("401");
        assert!(!e.to_string().contains('\n'), "{e}");
        assert!(e.to_string().contains("UNAUTHORIZED"), "{e}");
    }
    use crate::http::Response;
    use crate::protocol::docker::normalize;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    fn cache() -> (tempfile::TempDir, Cache) {
        let d = tempfile::tempdir().expect("tempdir");
        let c = Cache::at(d.path().join("cache"));
        (d, c)
    }

    fn put_state(c: &Cache, profile: &str, reg: &Registry, exp: i64) {
        let name = state_name(profile, reg);
        let store = c
            .secrets()
            .put(
                &Cache::state_secret_key(STATE_KIND, &name),
                &Secret::new(format!("rt-{profile}")),
            )
            .expect("put");
        let st = AcrState {
            version: STATE_VERSION,
            registry: reg.name(),
            profile: profile.into(),
            username: ACR_USERNAME.into(),
            exp,
            obtained_at: now(),
            store,
            session: "s1".into(),
            scope: ACR_SCOPE.into(),
        };
        file::write_json(&c.state_path(STATE_KIND, &name), &st).expect("write");
    }

    #[test]
    fn cache_hit_miss_erase_list() {
        std::env::set_var("ENTRA_CRED_KEYRING", "file");
        let (_d, c) = cache();
        let r1 = normalize("r1.azurecr.io").expect("valid");
        let r2 = normalize("127.0.0.1:5000").expect("valid");
        assert!(cached(&c, "default", &r1).is_none());
        put_state(&c, "default", &r1, now() + 3 * 3600);
        put_state(&c, "other", &r1, now() + 3 * 3600);
        put_state(&c, "default", &r2, now() + 200); // inside the refresh window
        let hit = cached(&c, "default", &r1).expect("hit");
        assert_eq!(hit.secret.expose(), "rt-default");
        assert_eq!(hit.username, ACR_USERNAME);
        assert!(cached(&c, "nobody", &r1).is_none());
        assert!(cached(&c, "default", &r2).is_none());
        let l = list(&c);
        assert_eq!(l.len(), 2);
        assert_eq!(
            l.get("r1.azurecr.io").map(String::as_str),
            Some(ACR_USERNAME)
        );
        assert!(l.contains_key("127.0.0.1:5000"));
        assert_eq!(erase(&c, &r1), 2);
        assert!(cached(&c, "default", &r1).is_none());
        assert_eq!(list(&c).len(), 1);
        // The secrets went with the state files.
        let left = std::fs::read_dir(c.dir().join("secrets"))
            .map(|rd| rd.count())
            .unwrap_or(0);
        assert_eq!(left, 1);
        // A corrupt state file is a miss, not a crash.
        let name = state_name("default", &r1);
        std::fs::write(c.state_path(STATE_KIND, &name), b"{nope").expect("write");
        assert!(cached(&c, "default", &r1).is_none());
        assert_eq!(erase(&c, &r1), 0);
    }

    #[test]
    fn freshness_window() {
        // An hour is left for the push or pull that starts with it.
        assert!(is_fresh(1000 + 3601, 1000, 0));
        assert!(!is_fresh(1000 + 3600, 1000, 0));
        assert!(!is_fresh(1000 + 3630, 1000, 30));
    }

    #[test]
    fn scopes() {
        let p = |n: &str| {
            profile("[profiles.a]\nacr_scope = \"arm\"\n[profiles.b]\nacr_scope = \"https://management.azure.com/.default\"\n[profiles.c]\ncloud = \"china\"\nacr_scope = \"ARM\"\n", n)
        };
        assert_eq!(scope_for(&p("a")), "https://management.azure.com/.default");
        assert_eq!(scope_for(&p("b")), "https://management.azure.com/.default");
        assert_eq!(
            scope_for(&p("c")),
            "https://management.chinacloudapi.cn/.default"
        );
        assert_eq!(scope_for(&p("default")), ACR_SCOPE);
    }

    #[test]
    fn error_details() {
        assert_eq!(
            registry_error_detail(
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad token\r\nx"}]}"#
            )
            .as_deref(),
            Some("UNAUTHORIZED: bad token x")
        );
        assert_eq!(
            registry_error_detail(r#"{"error":"invalid_request","error_description":"no"}"#)
                .as_deref(),
            Some("invalid_request: no")
        );
        assert_eq!(registry_error_detail("<html>"), None);
        assert_eq!(
            registry_error_detail(r#"{"error":{"code":"Forbidden","message":"no access"}}"#)
                .as_deref(),
            Some("Forbidden: no access")
        );
        let e = exchange_error(
            "r.azurecr.io",
            401,
            r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#,
        );
        assert_eq!(
            e,
            Error::Registry {
                registry: "r.azurecr.io".into(),
                status: 401,
                detail: Some("UNAUTHORIZED".into())
            }
        );
        assert_eq!(e.exit_code(), 1);
        // The words of the Entra-shaped error this replaced, to the letter.
        assert_eq!(
            e.to_string(),
            "registry r.azurecr.io refused the token exchange: HTTP 401: UNAUTHORIZED; check that the signed-in identity may pull from this registry (role AcrPull), or set acr_scope = \"arm\" in the profile for registries that only take Resource Manager tokens"
        );
        assert_eq!(
            exchange_error("r.azurecr.io", 404, "<html>").to_string(),
            "registry r.azurecr.io refused the token exchange: HTTP 404; is it an Azure Container Registry?"
        );
        assert_eq!(
            exchange_error(
                "r.azurecr.io",
                400,
                "{\"errors\":[{\"message\":\"a\\nb\"}]}"
            )
            .to_string(),
            "registry r.azurecr.io refused the token exchange: HTTP 400: a b"
        );
    }

    /// A broker on a fake network whose registry answers the exchanges with
    /// the `answers` in turn (the last one again when they run out), with
    /// counts of the Entra tokens and the exchanges.
    struct Registry5000 {
        _dir: tempfile::TempDir,
        broker: Broker,
        tokens: Arc<AtomicUsize>,
        exchanges: Arc<AtomicUsize>,
    }

    impl Registry5000 {
        fn new(answers: &'static [(u16, &'static str)]) -> Registry5000 {
            std::env::set_var("ENTRA_CRED_KEYRING", "file");
            let (dir, c) = cache();
            let (tokens, exchanges) =
                (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
            let n = Arc::clone(&exchanges);
            let http = fake_network(Duration::from_secs(5), Arc::clone(&tokens), move |req| {
                assert!(req.url.ends_with("/oauth2/exchange"), "{}", req.url);
                let (status, body) =
                    answers[n.fetch_add(1, Ordering::SeqCst).min(answers.len() - 1)];
                Response {
                    status,
                    headers: Vec::new(),
                    body: body.into(),
                }
            });
            Registry5000 {
                _dir: dir,
                broker: Broker::with_http(c, http),
                tokens,
                exchanges,
            }
        }

        /// `acr::get` for an application's profile.
        fn get(&self) -> Result<AcrCredential> {
            let reg = normalize("127.0.0.1:5000").expect("valid");
            get(&self.broker, &crate::entra::testing::app_profile(), &reg)
        }

        /// (Entra tokens fetched, exchanges made).
        fn counts(&self) -> (usize, usize) {
            (
                self.tokens.load(Ordering::SeqCst),
                self.exchanges.load(Ordering::SeqCst),
            )
        }
    }

    const REFUSED: (u16, &str) = (
        401,
        r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad token"}]}"#,
    );
    const FORBIDDEN: (u16, &str) = (403, r#"{"errors":[{"code":"DENIED","message":"no pull"}]}"#);
    /// An ACR refresh token (an unsigned JWT valid until 2100).
    const ACR_RT: &str = "eyJhbGciOiJub25lIn0.eyJleHAiOjQxMDI0NDQ4MDB9.sig";
    const EXCHANGED: (u16, &str) = (
        200,
        r#"{"refresh_token":"eyJhbGciOiJub25lIn0.eyJleHAiOjQxMDI0NDQ4MDB9.sig"}"#,
    );

    #[test]
    fn a_registry_401_is_asked_again_once_with_a_new_entra_token() {
        // Refused once (a revoked token): a newly fetched Entra token is exchanged.
        let r = Registry5000::new(&[REFUSED, EXCHANGED]);
        let cred = r.get().expect("second exchange");
        assert_eq!(
            (
                cred.secret.expose().as_str(),
                cred.expires_on,
                cred.from_cache
            ),
            (ACR_RT, 4_102_444_800, false)
        );
        assert_eq!(
            r.counts(),
            (2, 2),
            "the second Entra token was fetched anew"
        );
        assert!(r.get().expect("cached").from_cache);

        // Refused twice: the registry's error, after asking again once.
        let r = Registry5000::new(&[REFUSED]);
        let e = r.get().expect_err("refused");
        assert!(matches!(e, Error::Registry { status: 401, .. }), "{e:?}");
        assert_eq!(e.exit_code(), 1);
        assert!(e.to_string().contains("UNAUTHORIZED: bad token"), "{e}");
        assert_eq!(r.counts(), (2, 2));
    }

    #[test]
    fn a_registry_403_is_not_asked_again_and_the_entra_token_is_forgotten() {
        let r = Registry5000::new(&[FORBIDDEN, EXCHANGED]);
        let e = r.get().expect_err("forbidden");
        assert!(matches!(e, Error::Registry { status: 403, .. }), "{e:?}");
        assert!(e.to_string().contains("AcrPull"), "{e}");
        assert_eq!(r.counts(), (1, 1), "no second exchange");
        // The next run asks Entra afresh: the refused token was not kept.
        r.get().expect("exchanged");
        assert_eq!(r.counts(), (2, 2));
    }
}
