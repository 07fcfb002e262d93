//! The credential engine: every cached credential (Entra access and ID
//! tokens, ACR refresh tokens, AWS session credentials, ...) is served
//! through [`Engine::get_or_fetch`], which holds the rules of SPEC.md ("Token
//! cache", "Failures") in one place:
//!
//! - **hit**: a credential is served while it has more than the caller's
//!   margin plus a random [jitter](jitter) left, and was not "obtained in the
//!   future" (a clock that jumped back makes it stale);
//! - **single flight**: on a miss, take the slot's cross-process lock (never
//!   waiting past the call's deadline, which the HTTP layer shares), look
//!   again, and fetch only when nobody else just did. A process that waited
//!   uses the result of the one it waited for: the new credential even when
//!   its whole lifetime is below the margin, or the same unfixable error
//!   (recorded briefly in the lock file's ledger) without asking again;
//! - **store**: secret first, then state ([`save_pair`]), so that a reader
//!   never finds state that points to a secret not yet written. A cache that
//!   cannot be written still serves the fetched credential, with one warning;
//! - **expiry**: capped at the JWT's `exp` ([`cap_expiry`]); a fetched
//!   credential that is already expired is an error, never success;
//! - **fallback**: when the fetch fails on the network, a cached credential
//!   with at least [`STALE_GRACE`] seconds left is served, with a warning.
//!
//! What differs between credentials (where they live, how they are fetched)
//! is a [`Slot`].

use crate::cache::{Cache, Lock, StoreKind};
use crate::error::{EntraError, Error, Result};
use crate::secret::Secret;
use crate::timefmt::now;
use crate::{debug, warn};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Largest random extra margin, so that many machines do not refresh at once.
pub const MAX_JITTER: i64 = 60;
/// On a network failure, a cached credential with at least this many seconds
/// left is served instead of failing.
pub const STALE_GRACE: i64 = 60;
/// How far in the future an entry's `obtained_at` may be before the entry is
/// stale (a clock that jumped back).
pub const SKEW_TOLERANCE: i64 = 5;
/// A credential whose whole lifetime is shorter than the caller's margin, and
/// that was fetched this recently (seconds) by any process, is served as long
/// as half its lifetime is left: a source that issues such tokens must not
/// make every one of many parallel processes fetch its own.
pub const RECENT: i64 = 30;
/// How long (seconds) an unfixable failure recorded in a ledger is given to
/// later callers instead of asking again.
pub const FAILURE_TTL: i64 = 10;

/// A random extra margin in `0..=MAX_JITTER` seconds.
pub fn jitter() -> i64 {
    let mut b = [0u8; 2];
    if getrandom::getrandom(&mut b).is_err() {
        return 0;
    }
    i64::from(u16::from_le_bytes(b)) % (MAX_JITTER + 1)
}

/// An expiry believed only as far as the token allows: clamped to sane
/// time, and when `token` is a JWT, capped at its `exp`.
pub fn cap_expiry(token: &str, expires_on: i64) -> i64 {
    let e = crate::timefmt::clamp_expiry(expires_on);
    match crate::jwt::decode(token).and_then(|d| d.secs("exp")) {
        Some(exp) => e.min(crate::timefmt::clamp_expiry(exp)),
        None => e,
    }
}

/// A credential in a slot, with what the rules need to know about it.
#[derive(Debug, Clone)]
pub struct Entry<V> {
    /// The credential (and whatever the slot needs to store it).
    pub value: V,
    /// Expiry, POSIX seconds (already capped, see [`cap_expiry`]).
    pub expires_on: i64,
    /// When it was obtained, POSIX seconds.
    pub obtained_at: i64,
}

impl<V> Entry<V> {
    fn same_as<W>(&self, other: &Entry<W>) -> bool {
        self.expires_on == other.expires_on && self.obtained_at == other.obtained_at
    }

    /// Obtained in the future: the clock jumped back since (or the writer's
    /// clock was ahead). Such an entry is never served as fresh.
    fn obtained_in_the_future(&self, now: i64) -> bool {
        self.obtained_at > now.saturating_add(SKEW_TOLERANCE)
    }
}

/// What a caller accepts.
#[derive(Debug, Clone, Copy)]
pub struct Freshness {
    /// Serve a cached credential only with more than this many seconds left
    /// (plus the engine's jitter).
    pub min_validity: i64,
    /// Fetch anew even when the cached credential is fresh.
    pub force: bool,
    /// Give this caller an unfixable failure that another process recorded
    /// in the last [`FAILURE_TTL`] seconds instead of asking again (off for a
    /// caller that may sign a person in).
    pub share_failures: bool,
}

impl Freshness {
    /// A margin of `min_validity` seconds; no forced fetch; failures shared.
    pub fn margin(min_validity: i64) -> Freshness {
        Freshness {
            min_validity,
            force: false,
            share_failures: true,
        }
    }
}

/// One cached credential: where it lives and how a new one is obtained.
pub trait Slot {
    /// What the caller gets (and what [`Slot::save`] needs).
    type Value;
    /// The cache kind and name of the lock that makes fetches single-flight
    /// (several slots may share one, e.g. the scopes of one sign-in).
    fn lock_name(&self) -> (&str, String);
    /// This slot's name among those sharing the lock (recorded failures are
    /// given only to callers of the same slot).
    fn id(&self) -> String;
    /// Reads the cached entry. Reads only: no lock is held on the hot path.
    fn load(&self) -> Result<Option<Entry<Self::Value>>>;
    /// Obtains a new credential (under the lock, when one could be taken).
    /// `current` is the cached entry, if any.
    fn fetch(&self, current: Option<&Entry<Self::Value>>) -> Result<Entry<Self::Value>>;
    /// Stores a fetched entry (use [`save_pair`]: secret first, then state).
    fn save(&self, entry: &Entry<Self::Value>) -> Result<()>;
}

/// A credential as served.
#[derive(Debug, Clone)]
pub struct Served<V> {
    /// The entry.
    pub entry: Entry<V>,
    /// Whether it came from the cache (rather than a fetch by this process).
    pub from_cache: bool,
}

/// Stores a credential in the one order every slot uses: the secret (when
/// there is one) into the secret store first, then the state that refers to
/// it (`write_state` gets the store the secret went to).
pub fn save_pair(
    cache: &Cache,
    secret: Option<(&str, &Secret<String>)>,
    write_state: impl FnOnce(Option<StoreKind>) -> Result<()>,
) -> Result<()> {
    let kind = match secret {
        Some((key, value)) => Some(cache.secrets().put(key, value)?),
        None => None,
    };
    write_state(kind)
}

/// Whether this process already said that the cache cannot be written.
static UNWRITABLE_WARNED: AtomicBool = AtomicBool::new(false);

fn warn_unwritable(e: &Error) {
    if !UNWRITABLE_WARNED.swap(true, Ordering::Relaxed) {
        // Shown at every log level (SPEC.md: one warning line): the call succeeds, but every
        // call will fetch anew until the cache is fixed, and a rotated refresh token is lost.
        eprintln!(
            "entra-cred [warn] the token cache cannot be written ({e}); the new credential is used but not kept"
        );
    }
}

/// A failure as recorded in a lock file's ledger.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Recorded {
    slot: String,
    /// When, POSIX seconds.
    at: i64,
    /// When, POSIX milliseconds (to tell the failure a caller waited for
    /// from one that was there before it began).
    #[serde(default)]
    at_ms: i64,
    /// Whether retrying cannot fix it (then later callers get it too, for
    /// [`FAILURE_TTL`] seconds; otherwise only those that waited for it).
    unfixable: bool,
    error: RecordedError,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
enum RecordedError {
    LoginExpired {
        context: String,
        entra: RecordedEntra,
    },
    Entra {
        context: String,
        entra: RecordedEntra,
    },
    Network {
        message: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RecordedEntra {
    error: String,
    code: Option<u32>,
    description: String,
    status: u16,
}

impl RecordedEntra {
    fn of(e: &EntraError) -> RecordedEntra {
        RecordedEntra {
            error: e.error.clone(),
            code: e.code,
            description: e.description.clone(),
            status: e.status,
        }
    }
    fn back(self) -> EntraError {
        EntraError {
            error: self.error,
            code: self.code,
            description: self.description,
            status: self.status,
        }
    }
}

impl RecordedError {
    /// The errors worth giving to others: unfixable ones and network failures.
    fn of(e: &Error) -> Option<(RecordedError, bool)> {
        Some(match e {
            Error::LoginExpired { context, entra } => (
                RecordedError::LoginExpired {
                    context: context.clone(),
                    entra: RecordedEntra::of(entra),
                },
                true,
            ),
            // `invalid_client`, any AADSTS error: asking again gives the same answer.
            Error::Entra { context, entra }
                if entra.code.is_some() || entra.error == "invalid_client" =>
            {
                (
                    RecordedError::Entra {
                        context: context.clone(),
                        entra: RecordedEntra::of(entra),
                    },
                    true,
                )
            }
            Error::Network(m) => (RecordedError::Network { message: m.clone() }, false),
            _ => return None,
        })
    }

    fn back(self) -> Error {
        match self {
            RecordedError::LoginExpired { context, entra } => Error::LoginExpired {
                context,
                entra: entra.back(),
            },
            RecordedError::Entra { context, entra } => Error::Entra {
                context,
                entra: entra.back(),
            },
            RecordedError::Network { message } => Error::Network(message),
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Ledger {
    #[serde(default)]
    failures: Vec<Recorded>,
}

impl Ledger {
    fn read(lock: &mut Lock) -> Ledger {
        let text = lock.read_ledger();
        if text.trim().is_empty() {
            return Ledger::default();
        }
        serde_json::from_str(&text).unwrap_or_default()
    }

    fn write(&self, lock: &mut Lock) {
        match serde_json::to_string(self) {
            Ok(s) if !self.failures.is_empty() => lock.write_ledger(&s),
            _ => lock.write_ledger(""),
        }
    }
}

/// The engine of one call: the cache, the call's deadline and its jitter.
pub struct Engine<'a> {
    cache: &'a Cache,
    deadline: Option<Instant>,
    jitter: i64,
}

impl<'a> Engine<'a> {
    /// An engine on `cache` whose lock waits end at `deadline` (`None`:
    /// wait as long as it takes, for interactive sign-ins) and whose margin
    /// gets `jitter` extra seconds.
    pub fn new(cache: &'a Cache, deadline: Option<Instant>, jitter: i64) -> Engine<'a> {
        Engine {
            cache,
            deadline,
            jitter,
        }
    }

    /// Whether `e` is served at `now` to a caller wanting `min_validity`
    /// seconds: fresh by the margin, or (when its whole lifetime is shorter
    /// than the margin) fetched in the last [`RECENT`] seconds with at least
    /// half its lifetime left.
    pub fn usable<V>(&self, e: &Entry<V>, min_validity: i64, now: i64) -> bool {
        if e.obtained_in_the_future(now) {
            return false;
        }
        let left = e.expires_on.saturating_sub(now);
        if left > min_validity.saturating_add(self.jitter) {
            return true;
        }
        let age = now.saturating_sub(e.obtained_at);
        let lifetime = e.expires_on.saturating_sub(e.obtained_at);
        lifetime < min_validity
            && (0..=RECENT).contains(&age)
            && left > 0
            && left.saturating_mul(2) >= lifetime
    }

    /// The credential of `slot`: from the cache when `fresh` accepts it, else
    /// fetched once for every process that wants it (see the module docs).
    pub fn get_or_fetch<S: Slot>(&self, slot: &S, fresh: Freshness) -> Result<Served<S::Value>> {
        let started = now();
        let started_ms = now_ms();
        match slot.load()? {
            Some(e) if !fresh.force && self.usable(&e, fresh.min_validity, started) => Ok(Served {
                entry: e,
                from_cache: true,
            }),
            seen => self.miss(slot, fresh, started_ms, seen),
        }
    }

    fn miss<S: Slot>(
        &self,
        slot: &S,
        fresh: Freshness,
        started_ms: i64,
        seen: Option<Entry<S::Value>>,
    ) -> Result<Served<S::Value>> {
        let (kind, name) = slot.lock_name();
        let mut lock = match self.cache.lock_until(kind, &name, self.deadline) {
            Ok(Some(l)) => Some(l),
            Ok(None) => {
                // The budget is spent waiting for another process's fetch.
                let now = now();
                if let Some(e) = seen.filter(|e| valid_for_fallback(e, now)) {
                    warn!("another entra-cred process is still renewing this credential; using the cached one, which is still valid");
                    return Ok(Served {
                        entry: e,
                        from_cache: true,
                    });
                }
                return Err(Error::Network(
                    "gave up waiting for another entra-cred process that is renewing the same credential (ENTRA_CRED_HTTP_TIMEOUT)".into(),
                ));
            }
            Err(e @ (Error::Config(_) | Error::ProfileNotFound(_))) => return Err(e),
            Err(e) => {
                // A cache that cannot be written: fetch without the lock.
                warn_unwritable(&e);
                None
            }
        };

        let now_ = now();
        let current = match slot.load()? {
            Some(c) if !fresh.force => {
                let changed = seen.as_ref().is_none_or(|s| !s.same_as(&c));
                if self.usable(&c, fresh.min_validity, now_)
                    || (changed && !c.obtained_in_the_future(now_) && c.expires_on > now_)
                {
                    debug!("another process renewed the credential");
                    return Ok(Served {
                        entry: c,
                        from_cache: true,
                    });
                }
                Some(c)
            }
            c => c,
        };
        let slot_id = slot.id();
        if let Some(l) = lock.as_mut() {
            let ledger = Ledger::read(l);
            if let Some(r) = ledger.failures.iter().find(|r| r.slot == slot_id) {
                let plausible = r.at <= now_ + SKEW_TOLERANCE;
                let since_we_began = plausible && r.at_ms >= started_ms;
                let recent = plausible && now_ - r.at <= FAILURE_TTL;
                // A caller that may sign a person in takes no unfixable failure for an answer
                // (it asks, and signs in); a network failure it waited for, it does.
                let shared = if r.unfixable {
                    fresh.share_failures && (since_we_began || recent)
                } else {
                    since_we_began
                };
                if !fresh.force && shared {
                    debug!("another process's renewal failed moments ago: same answer");
                    return Err(r.error.clone().back());
                }
            }
        }

        match slot.fetch(current.as_ref()) {
            Ok(entry) => {
                let now_ = now();
                if entry.expires_on <= now_ {
                    return Err(Error::Other(
                        "the credential received has already expired (check this machine's clock)"
                            .into(),
                    ));
                }
                match slot.save(&entry) {
                    Ok(()) => {}
                    Err(e @ (Error::Config(_) | Error::ProfileNotFound(_))) => return Err(e),
                    Err(e) => warn_unwritable(&e),
                }
                if let Some(l) = lock.as_mut() {
                    let mut ledger = Ledger::read(l);
                    let before = ledger.failures.len();
                    ledger.failures.retain(|r| r.slot != slot_id);
                    if ledger.failures.len() != before {
                        ledger.write(l);
                    }
                }
                Ok(Served {
                    entry,
                    from_cache: false,
                })
            }
            Err(e) => {
                if let (Some(l), Some((rec, unfixable))) = (lock.as_mut(), RecordedError::of(&e)) {
                    let mut ledger = Ledger::read(l);
                    let t = now();
                    ledger
                        .failures
                        .retain(|r| r.slot != slot_id && t - r.at <= FAILURE_TTL);
                    ledger.failures.push(Recorded {
                        slot: slot_id,
                        at: t,
                        at_ms: now_ms(),
                        unfixable,
                        error: rec,
                    });
                    ledger.write(l);
                }
                if let Error::Network(m) = &e {
                    let now_ = now();
                    if let Some(c) = current.filter(|c| !fresh.force && valid_for_fallback(c, now_))
                    {
                        warn!("could not renew the credential ({m}); using the cached one, which is still valid");
                        return Ok(Served {
                            entry: c,
                            from_cache: true,
                        });
                    }
                }
                Err(e)
            }
        }
    }
}

/// Now, as POSIX milliseconds.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn valid_for_fallback<V>(e: &Entry<V>, now: i64) -> bool {
    !e.obtained_in_the_future(now) && e.expires_on.saturating_sub(now) > STALE_GRACE
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::file;
    use std::sync::atomic::AtomicUsize;
    use std::sync::{Arc, Barrier};
    use std::time::Duration;

    #[derive(Serialize, Deserialize)]
    struct Stored {
        value: String,
        expires_on: i64,
        obtained_at: i64,
    }

    type Fetch = dyn Fn(usize) -> Result<(String, i64)> + Send + Sync;

    /// A slot whose entry is a JSON file in the cache and whose fetch is a
    /// closure (given the fetch's number, answering a value and its lifetime).
    struct TestSlot {
        cache: Cache,
        fetches: Arc<AtomicUsize>,
        fetch: Arc<Fetch>,
        save_fails: bool,
    }

    impl TestSlot {
        fn path(&self) -> std::path::PathBuf {
            self.cache.state_path("test", "one")
        }
        fn put(&self, value: &str, expires_on: i64, obtained_at: i64) {
            let s = Stored {
                value: value.into(),
                expires_on,
                obtained_at,
            };
            file::write_json(&self.path(), &s).expect("write");
        }
    }

    impl Slot for TestSlot {
        type Value = String;
        fn lock_name(&self) -> (&str, String) {
            ("test", "one".into())
        }
        fn id(&self) -> String {
            "one".into()
        }
        fn load(&self) -> Result<Option<Entry<String>>> {
            self.cache.verify(Some("test"))?;
            Ok(
                file::read_json_checked::<Stored>(&self.path())?.map(|s| Entry {
                    expires_on: cap_expiry(&s.value, s.expires_on),
                    value: s.value,
                    obtained_at: s.obtained_at,
                }),
            )
        }
        fn fetch(&self, _: Option<&Entry<String>>) -> Result<Entry<String>> {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst);
            let (value, lifetime) = (self.fetch)(n)?;
            let t = now();
            Ok(Entry {
                expires_on: cap_expiry(&value, t + lifetime),
                value,
                obtained_at: t,
            })
        }
        fn save(&self, e: &Entry<String>) -> Result<()> {
            if self.save_fails {
                return Err(Error::Other("cannot write (test)".into()));
            }
            self.put(&e.value, e.expires_on, e.obtained_at);
            Ok(())
        }
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        cache: Cache,
        fetches: Arc<AtomicUsize>,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().expect("tempdir");
            let cache = Cache::at(dir.path().join("cache"));
            Fixture {
                _dir: dir,
                cache,
                fetches: Arc::new(AtomicUsize::new(0)),
            }
        }
        fn slot(
            &self,
            fetch: impl Fn(usize) -> Result<(String, i64)> + Send + Sync + 'static,
        ) -> TestSlot {
            TestSlot {
                cache: self.cache.clone(),
                fetches: Arc::clone(&self.fetches),
                fetch: Arc::new(fetch),
                save_fails: false,
            }
        }
        fn fetches(&self) -> usize {
            self.fetches.load(Ordering::SeqCst)
        }
    }

    fn engine(cache: &Cache, budget: Duration) -> Engine<'_> {
        Engine::new(cache, Some(Instant::now() + budget), 0)
    }

    /// The value `e` serves for `slot` with a 300 s margin.
    fn served(e: &Engine<'_>, slot: &TestSlot) -> Result<String> {
        e.get_or_fetch(slot, Freshness::margin(300))
            .map(|s| s.entry.value)
    }

    /// A forced refresh with a 300 s margin.
    fn forced() -> Freshness {
        Freshness {
            force: true,
            ..Freshness::margin(300)
        }
    }

    /// Twelve callers at once, each with its own engine, ask for one slot
    /// whose fetch takes 300 ms (so that they all overlap) and then answers
    /// `fetch`: what each was served.
    fn storm(
        fx: &Fixture,
        fetch: impl Fn(usize) -> Result<(String, i64)> + Send + Sync + 'static,
    ) -> Vec<Result<String>> {
        let cache = fx.cache.clone();
        let slot = Arc::new(fx.slot(move |n| {
            std::thread::sleep(Duration::from_millis(300));
            fetch(n)
        }));
        parallel(12, move || {
            served(&engine(&cache, Duration::from_secs(10)), &slot)
        })
    }

    fn revoked() -> Error {
        Error::from_entra(
            "refreshing the token",
            EntraError {
                error: "invalid_grant".into(),
                code: Some(50173),
                description: "AADSTS50173: revoked".into(),
                status: 400,
            },
        )
    }

    /// An unsigned JWT with this `exp`.
    fn jwt(exp: i64) -> String {
        use base64::Engine as _;
        let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!(
            "{}.{}.sig",
            e(r#"{"alg":"none"}"#),
            e(&format!(r#"{{"exp":{exp}}}"#))
        )
    }

    /// Runs `n` threads (each its own "process": own lock file handle) at once.
    fn parallel<T: Send + 'static>(n: usize, f: impl Fn() -> T + Send + Sync + 'static) -> Vec<T> {
        let f = Arc::new(f);
        let barrier = Arc::new(Barrier::new(n));
        let hs: Vec<_> = (0..n)
            .map(|_| {
                let (f, b) = (Arc::clone(&f), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    b.wait();
                    f()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("thread")).collect()
    }

    #[test]
    fn hit_miss_and_margin() {
        let fx = Fixture::new();
        let slot = fx.slot(|n| Ok((format!("v{n}"), 3600)));
        let e = engine(&fx.cache, Duration::from_secs(5));
        let a = e
            .get_or_fetch(&slot, Freshness::margin(300))
            .expect("fetch");
        assert!(!a.from_cache);
        let b = e.get_or_fetch(&slot, Freshness::margin(300)).expect("hit");
        assert!(b.from_cache);
        assert_eq!(
            (a.entry.value.as_str(), b.entry.value.as_str()),
            ("v0", "v0")
        );
        // Inside the margin, obtained long ago: fetched anew.
        slot.put("old", now() + 200, now() - 3400);
        let c = e
            .get_or_fetch(&slot, Freshness::margin(300))
            .expect("refetch");
        assert_eq!(c.entry.value, "v1");
        // Forced.
        let d = e.get_or_fetch(&slot, forced()).expect("forced");
        assert_eq!(d.entry.value, "v2");
        assert_eq!(fx.fetches(), 3);
    }

    #[test]
    fn waiters_use_a_new_token_shorter_than_the_margin() {
        let fx = Fixture::new();
        let out = storm(&fx, |n| Ok((format!("short{n}"), 200)));
        assert_eq!(fx.fetches(), 1, "one fetch for all");
        assert!(out.iter().all(|r| r.as_deref() == Ok("short0")), "{out:?}");
        // A process that starts moments later gets it too (fetched seconds ago, most of it left).
        let later = fx.slot(|_| Ok(("again".into(), 200)));
        let e = engine(&fx.cache, Duration::from_secs(5));
        assert_eq!(served(&e, &later).expect("served"), "short0");
        assert_eq!(fx.fetches(), 1);
    }

    #[test]
    fn waiters_get_the_same_unfixable_error_without_asking_again() {
        let fx = Fixture::new();
        let out = storm(&fx, |_| Err(revoked()));
        assert_eq!(fx.fetches(), 1, "the dead refresh token was tried once");
        for r in &out {
            let e = r.as_ref().expect_err("failed");
            assert_eq!(e.exit_code(), 4, "{e}");
            assert_eq!(e.aadsts().as_deref(), Some("AADSTS50173"));
        }
        // Briefly, later callers get it too; a caller that may sign in, or a forced one, asks.
        let slot = fx.slot(|_| Ok(("new".into(), 3600)));
        let e = engine(&fx.cache, Duration::from_secs(5));
        assert_eq!(served(&e, &slot).expect_err("shared").exit_code(), 4);
        assert_eq!(fx.fetches(), 1);
        let interactive = Freshness {
            share_failures: false,
            ..Freshness::margin(300)
        };
        assert_eq!(
            e.get_or_fetch(&slot, interactive)
                .expect("asked")
                .entry
                .value,
            "new"
        );
        assert_eq!(fx.fetches(), 2);
        // Success cleared the record.
        slot.put("x", now() + 10, now() - 1000);
        assert_eq!(served(&e, &slot).expect("asked"), "new");
        assert_eq!(fx.fetches(), 3);
    }

    #[test]
    fn lock_waits_end_at_the_deadline() {
        let fx = Fixture::new();
        // Another process holds the lock (a hanging refresh).
        let held = fx
            .cache
            .lock_until("test", "one", None)
            .expect("lock")
            .expect("taken");
        let slot = fx.slot(|_| Ok(("never".into(), 3600)));
        let t = Instant::now();
        let e = engine(&fx.cache, Duration::from_millis(400));
        let err = served(&e, &slot).expect_err("gave up");
        assert_eq!(err.exit_code(), 5, "{err}");
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        // With a cached credential still valid, that one is served instead.
        slot.put("cached", now() + 200, now() - 3000);
        let e = engine(&fx.cache, Duration::from_millis(200));
        assert_eq!(served(&e, &slot).expect("stale"), "cached");
        assert_eq!(fx.fetches(), 0);
        drop(held);
    }

    #[test]
    fn a_network_failure_serves_a_still_valid_token() {
        let fx = Fixture::new();
        let slot = fx.slot(|_| Err(Error::Network("down".into())));
        slot.put("cached", now() + 200, now() - 3000);
        let e = engine(&fx.cache, Duration::from_secs(5));
        assert_eq!(served(&e, &slot).expect("stale"), "cached");
        // Not when it is nearly gone.
        slot.put("cached", now() + 30, now() - 3000);
        assert_eq!(served(&e, &slot).expect_err("down").exit_code(), 5);
    }

    #[test]
    fn clock_skew_rules() {
        let fx = Fixture::new();
        let slot = fx.slot(|n| Ok((format!("v{n}"), 3600)));
        let e = engine(&fx.cache, Duration::from_secs(5));
        // Written under a clock two days ahead: obtained in the future, stale.
        slot.put("skewed", now() + 2 * 86400 + 3600, now() + 2 * 86400);
        assert_eq!(served(&e, &slot).expect("fetched"), "v0");
        // An expiry beyond the JWT's own exp is capped to it.
        let short = jwt(now() + 100);
        slot.put(&short, now() + 86400, now() - 1000);
        assert_eq!(cap_expiry(&short, now() + 86400), now() + 100);
        assert_eq!(served(&e, &slot).expect("fetched"), "v1");
        // A fetched credential that is already expired is an error.
        let expired = fx.slot(|_| Ok((jwt(now() - 10), 3600)));
        let err = e.get_or_fetch(&expired, forced()).expect_err("expired");
        assert!(err.to_string().contains("expired"), "{err}");
    }

    #[test]
    fn an_unwritable_cache_still_serves_the_new_token() {
        let fx = Fixture::new();
        let mut slot = fx.slot(|_| Ok(("fresh".into(), 3600)));
        slot.save_fails = true;
        let e = engine(&fx.cache, Duration::from_secs(5));
        let got = e
            .get_or_fetch(&slot, Freshness::margin(300))
            .expect("served");
        assert_eq!(got.entry.value, "fresh");
        assert!(!got.from_cache);
    }

    #[cfg(unix)]
    #[test]
    fn a_read_only_cache_directory_still_serves() {
        if file::my_uid() == 0 {
            eprintln!("skipped as root (root writes anywhere); the e2e tests cover it");
            return;
        }
        use std::os::unix::fs::PermissionsExt;
        let fx = Fixture::new();
        std::fs::create_dir_all(fx.cache.dir()).expect("mkdir");
        std::fs::set_permissions(fx.cache.dir(), std::fs::Permissions::from_mode(0o500))
            .expect("chmod");
        let slot = fx.slot(|_| Ok(("fresh".into(), 3600)));
        let e = engine(&fx.cache, Duration::from_secs(5));
        assert_eq!(served(&e, &slot).expect("served"), "fresh");
        std::fs::set_permissions(fx.cache.dir(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
    }

    #[cfg(unix)]
    #[test]
    fn untrusted_cache_entries_are_refused_naming_the_path() {
        let fx = Fixture::new();
        let slot = fx.slot(|_| Ok(("fresh".into(), 3600)));
        std::fs::create_dir_all(fx.cache.dir()).expect("mkdir");
        let elsewhere = fx._dir.path().join("elsewhere");
        std::fs::create_dir_all(&elsewhere).expect("mkdir");
        std::os::unix::fs::symlink(&elsewhere, fx.cache.dir().join("test")).expect("symlink");
        let e = engine(&fx.cache, Duration::from_secs(5));
        let err = served(&e, &slot).expect_err("refused");
        assert_eq!(err.exit_code(), 2, "{err}");
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(err
            .to_string()
            .contains(&fx.cache.dir().join("test").display().to_string()));
        assert_eq!(std::fs::read_dir(&elsewhere).expect("dir").count(), 0);
        assert_eq!(fx.fetches(), 0);
        // A file that is a symlink.
        std::fs::remove_file(fx.cache.dir().join("test")).expect("rm");
        std::fs::create_dir_all(fx.cache.dir().join("test")).expect("mkdir");
        std::os::unix::fs::symlink(elsewhere.join("x"), slot.path()).expect("symlink");
        let err = served(&e, &slot).expect_err("refused");
        assert_eq!(err.exit_code(), 2, "{err}");
    }
}
