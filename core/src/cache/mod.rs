//! The token cache (SPEC.md "Token cache").
//!
//! Layout of the cache directory (0700; every file 0600):
//!
//! ```text
//! sessions/<id>.json   one per (authority, tenant, client): the signed-in
//!                      account, where its refresh token is kept, and the
//!                      access tokens by (request tenant, scope)
//! sessions/<id>.lock   the cross-process lock taken while fetching for it
//! secrets/<key>.json   secrets when no keyring is usable (see [`secrets`])
//! <kind>/<id>.json     other helpers' state (ACR tokens, STS credentials, ...)
//! ```
//!
//! Readers never lock: every file is replaced atomically, so a reader sees
//! the old or the new file, never half of one. A file that does not parse is
//! treated as absent and replaced by the next write.

pub mod file;
pub mod lock;
pub mod secrets;

use crate::error::{Error, Result};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use lock::Lock;
pub use secrets::{SecretStore, StoreKind};

/// The current session file format.
pub const SESSION_VERSION: u32 = 1;

/// A SHA-256 of `s` as 32 hex digits (file names; never of a secret's value).
pub fn short_hash(s: &str) -> String {
    // Hex by hand: this runs on every cache hit (the session file's name), and
    // a `format!` per byte cost more than the hash itself.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let d = Sha256::digest(s.as_bytes());
    let mut out = String::with_capacity(32);
    for b in d.iter().take(16) {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

/// Which session a token belongs to: (authority, tenant, client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKey {
    /// Authority base URL.
    pub authority: String,
    /// The profile's tenant (as configured: a GUID, a domain or `organizations`).
    pub tenant: String,
    /// Client id (for managed identity: `managed-identity:<id or system>`).
    pub client_id: String,
}

impl SessionKey {
    /// The file stem of this session.
    pub fn id(&self) -> String {
        short_hash(&format!(
            "{}\n{}\n{}",
            self.authority.to_ascii_lowercase(),
            self.tenant.to_ascii_lowercase(),
            self.client_id.to_ascii_lowercase()
        ))
    }

    /// The secret-store key of this session's refresh token.
    pub fn refresh_token_key(&self) -> String {
        format!("rt-{}", self.id())
    }
}

/// The signed-in account of a session.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Account {
    /// User principal name, or the application's client id.
    #[serde(default)]
    pub username: Option<String>,
    /// Object id.
    #[serde(default)]
    pub oid: Option<String>,
    /// Home tenant id.
    #[serde(default)]
    pub tenant: Option<String>,
}

/// One cached access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedToken {
    /// The token.
    pub access_token: Secret<String>,
    /// Expiry, POSIX seconds.
    pub expires_on: i64,
    /// `Bearer`.
    #[serde(default = "bearer")]
    pub token_type: String,
    /// The scope it was asked for.
    pub scope: String,
    /// The tenant it was asked at.
    pub tenant: String,
    /// When it was obtained.
    #[serde(default)]
    pub obtained_at: i64,
}

fn bearer() -> String {
    "Bearer".into()
}

/// The state of one (authority, tenant, client).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Session {
    /// Format version.
    pub version: u32,
    /// Authority.
    pub authority: String,
    /// Tenant as configured.
    pub tenant: String,
    /// Client id.
    pub client_id: String,
    /// The source that produced the tokens (`device-code`, `client-secret`, ...).
    #[serde(default)]
    pub source: Option<String>,
    /// The signed-in account.
    #[serde(default)]
    pub account: Option<Account>,
    /// Where the refresh token is, when there is one.
    #[serde(default)]
    pub refresh_token: Option<StoreKind>,
    /// Access tokens by [`Session::slot`].
    #[serde(default)]
    pub tokens: BTreeMap<String, CachedToken>,
}

impl Session {
    /// An empty session for `key`.
    pub fn new(key: &SessionKey) -> Session {
        Session {
            version: SESSION_VERSION,
            authority: key.authority.clone(),
            tenant: key.tenant.clone(),
            client_id: key.client_id.clone(),
            ..Session::default()
        }
    }

    /// The map key of an access token: request tenant and scope.
    pub fn slot(tenant: &str, scope: &str) -> String {
        format!("{} {}", tenant.to_ascii_lowercase(), scope)
    }

    /// Drops tokens that expired more than a day ago (keeps the file small).
    pub fn prune(&mut self, now: i64) {
        self.tokens.retain(|_, t| t.expires_on > now - 86400);
    }
}

/// The cache directory and its secret store.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
    secrets: SecretStore,
    /// The outcome of the trust checks of the directory itself (made once).
    verified: std::sync::OnceLock<Result<()>>,
}

impl Cache {
    /// The cache at its standard place (SPEC.md). Creates nothing yet.
    pub fn open() -> Result<Cache> {
        let dir = crate::paths::cache_dir().ok_or_else(|| {
            Error::Config(
                "no cache directory: set ENTRA_CRED_CACHE_DIR, XDG_CACHE_HOME or HOME".into(),
            )
        })?;
        if !dir.is_absolute() {
            // For git that would be a cache inside whatever repository it runs in.
            return Err(Error::Config(format!(
                "the cache directory '{}' is a relative path: ENTRA_CRED_CACHE_DIR (or XDG_CACHE_HOME, HOME) must be absolute",
                dir.display()
            )));
        }
        let cache = Cache::at(dir);
        // Refused before anything is read or written (a few lstat calls).
        cache.verify(None)?;
        Ok(cache)
    }

    /// The cache in `dir`.
    pub fn at(dir: PathBuf) -> Cache {
        let secrets = SecretStore::new(&dir);
        Cache {
            dir,
            secrets,
            verified: std::sync::OnceLock::new(),
        }
    }

    /// The trust checks of SPEC.md, before anything is read or written: the
    /// directory (when it exists) belongs to the user and is not a symlink,
    /// the directories above it belong to root or the user, and so does the
    /// `kind` subdirectory (when given and present). Exit 2 naming the path.
    pub fn verify(&self, kind: Option<&str>) -> Result<()> {
        self.verified
            .get_or_init(|| {
                file::check_ancestors(&self.dir)?;
                file::check_entry(&self.dir, true).map(|_| ())
            })
            .clone()?;
        if let Some(k) = kind {
            file::check_entry(&self.dir.join(k), true)?;
        }
        Ok(())
    }

    /// Takes the lock of `<kind>/<name>`, waiting at most until `deadline`
    /// (`Ok(None)` when another process still holds it then).
    pub fn lock_until(
        &self,
        kind: &str,
        name: &str,
        deadline: Option<std::time::Instant>,
    ) -> Result<Option<Lock>> {
        self.verify(None)?;
        let p = self
            .dir
            .join(kind)
            .join(format!("{}.lock", file_stem(name)));
        file::ensure_private_dir(&self.dir)?;
        file::ensure_private_dir(p.parent().unwrap_or(&self.dir))?;
        Lock::acquire_until(&p, deadline)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The secret store.
    pub fn secrets(&self) -> &SecretStore {
        &self.secrets
    }

    /// `<dir>/<kind>/<name>.json`: a state file for other modules (name is
    /// hashed when it is not a plain file name).
    pub fn state_path(&self, kind: &str, name: &str) -> PathBuf {
        self.dir
            .join(kind)
            .join(format!("{}.json", file_stem(name)))
    }

    /// The lock that guards [`Cache::state_path`].
    pub fn state_lock(&self, kind: &str, name: &str) -> Result<Lock> {
        self.lock_until(kind, name, None)?
            .ok_or_else(|| Error::Other("the lock was not taken".into()))
    }

    fn session_path(&self, key: &SessionKey) -> PathBuf {
        self.state_path("sessions", &key.id())
    }

    /// Reads a session (`None` when absent or corrupt, or for another key).
    pub fn load_session(&self, key: &SessionKey) -> Option<Session> {
        self.try_load_session(key).ok().flatten()
    }

    /// Reads a session after the trust checks: `Ok(None)` when absent or
    /// corrupt, or for another key; an error (exit 2) when the cache may not
    /// be trusted.
    pub fn try_load_session(&self, key: &SessionKey) -> Result<Option<Session>> {
        self.verify(Some("sessions"))?;
        let Some(s) = file::read_json_checked::<Session>(&self.session_path(key))? else {
            return Ok(None);
        };
        Ok((s.client_id.eq_ignore_ascii_case(&key.client_id)
            && s.tenant.eq_ignore_ascii_case(&key.tenant)
            && s.authority.eq_ignore_ascii_case(&key.authority))
        .then_some(s))
    }

    /// Writes a session atomically.
    pub fn save_session(&self, key: &SessionKey, session: &Session) -> Result<()> {
        self.verify(None)?;
        file::ensure_private_dir(&self.dir)?;
        file::write_json(&self.session_path(key), session)
    }

    /// Locks a session against other processes.
    pub fn lock_session(&self, key: &SessionKey) -> Result<Lock> {
        self.state_lock("sessions", &key.id())
    }

    /// Removes a session and its refresh token (and temporary files a killed
    /// writer left for them; call with the session's lock held).
    pub fn remove_session(&self, key: &SessionKey) {
        let _ = std::fs::remove_file(self.session_path(key));
        self.secrets.delete(&key.refresh_token_key());
        let now = std::time::Duration::ZERO;
        file::sweep_temp_files(
            &self.dir.join("sessions"),
            &format!("{}.json.", key.id()),
            now,
        );
        file::sweep_temp_files(
            &self.dir.join("secrets"),
            &format!("{}.json.", key.refresh_token_key()),
            now,
        );
    }

    /// The secret-store key of the state file `<kind>/<stem>.json`: by
    /// convention `<kind>-<stem>`, so that `logout` can find every secret.
    pub fn state_secret_key(kind: &str, name: &str) -> String {
        format!("{kind}-{}", file_stem(name))
    }

    /// State files of other modules (`<kind>/<stem>.json`, kinds other than
    /// `sessions` and `secrets`), as (kind, stem, path).
    fn state_files(&self) -> Vec<(String, String, PathBuf)> {
        let mut out = Vec::new();
        let Ok(kinds) = std::fs::read_dir(&self.dir) else {
            return out;
        };
        for k in kinds.flatten() {
            let kind = k.file_name().to_string_lossy().into_owned();
            if kind == "sessions" || kind == "secrets" || !k.path().is_dir() {
                continue;
            }
            let Ok(files) = std::fs::read_dir(k.path()) else {
                continue;
            };
            for f in files.flatten() {
                let p = f.path();
                if p.extension().is_some_and(|x| x == "json") {
                    if let Some(stem) = p.file_stem() {
                        out.push((kind.clone(), stem.to_string_lossy().into_owned(), p));
                    }
                }
            }
        }
        out
    }

    /// Removes the state derived from session `session_id`: every state file
    /// whose JSON has `"session": "<session_id>"`, with its secret. Returns
    /// how many were removed.
    pub fn remove_derived_state(&self, session_id: &str) -> usize {
        let mut n = 0;
        for (kind, stem, path) in self.state_files() {
            let owner = file::read_json::<serde_json::Value>(&path).and_then(|v| {
                v.get("session")
                    .and_then(|s| s.as_str())
                    .map(str::to_string)
            });
            if owner.as_deref() == Some(session_id) {
                self.secrets.delete(&format!("{kind}-{stem}"));
                let _ = std::fs::remove_file(&path);
                n += 1;
            }
        }
        n
    }

    /// Forgets everything: every session, refresh token, state file and its
    /// secret. Returns how many sessions and state files were removed.
    pub fn clear_all(&self) -> usize {
        let mut n = 0;
        if let Ok(rd) = std::fs::read_dir(self.dir.join("sessions")) {
            for e in rd.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "json") {
                    if let Some(stem) = p.file_stem() {
                        self.secrets
                            .delete(&format!("rt-{}", stem.to_string_lossy()));
                    }
                    let _ = std::fs::remove_file(&p);
                    n += 1;
                }
            }
        }
        for (kind, stem, path) in self.state_files() {
            self.secrets.delete(&format!("{kind}-{stem}"));
            let _ = std::fs::remove_file(&path);
            n += 1;
        }
        let _ = std::fs::remove_dir_all(self.dir.join("secrets"));
        // Temporary files of killed writers may hold tokens too.
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for d in rd.flatten().filter(|e| e.path().is_dir()) {
                file::sweep_temp_files(&d.path(), "", std::time::Duration::ZERO);
            }
        }
        n
    }

    /// Every readable session in the cache.
    pub fn sessions(&self) -> Vec<Session> {
        let Ok(rd) = std::fs::read_dir(self.dir.join("sessions")) else {
            return Vec::new();
        };
        let mut v: Vec<Session> = rd
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| file::read_json(&e.path()))
            .collect();
        v.sort_by(|a, b| (&a.tenant, &a.client_id).cmp(&(&b.tenant, &b.client_id)));
        v
    }
}

/// A safe file stem: plain names are kept, anything else is hashed.
fn file_stem(name: &str) -> String {
    let plain = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if plain {
        name.to_string()
    } else {
        short_hash(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SessionKey {
        SessionKey {
            authority: "https://login.microsoftonline.com".into(),
            tenant: "organizations".into(),
            client_id: "c".into(),
        }
    }

    #[test]
    fn session_roundtrip_and_corruption() {
        let d = tempfile::tempdir().expect("tempdir");
        let c = Cache::at(d.path().join("cache"));
        assert!(c.load_session(&key()).is_none());
        let mut s = Session::new(&key());
        s.tokens.insert(
            Session::slot("organizations", "x/.default"),
            CachedToken {
                access_token: Secret::new("tok".into()),
                expires_on: 10,
                token_type: "Bearer".into(),
                scope: "x/.default".into(),
                tenant: "organizations".into(),
                obtained_at: 1,
            },
        );
        c.save_session(&key(), &s).expect("save");
        let back = c.load_session(&key()).expect("load");
        assert_eq!(back.tokens.len(), 1);
        std::fs::write(c.session_path(&key()), b"\0\0garbage").expect("corrupt");
        assert!(c.load_session(&key()).is_none());
        c.save_session(&key(), &s).expect("rebuilt");
        assert!(c.load_session(&key()).is_some());
        assert_eq!(c.sessions().len(), 1);
    }

    #[test]
    fn short_hash_is_stable() {
        // File names of existing caches depend on it: sha256("abc"), first 16 bytes in hex.
        assert_eq!(short_hash("abc"), "ba7816bf8f01cfea414140de5dae2223");
    }

    #[test]
    fn keys_differ() {
        let mut k2 = key();
        k2.tenant = "other".into();
        assert_ne!(key().id(), k2.id());
        assert_eq!(file_stem("abc-1"), "abc-1");
        assert_eq!(file_stem("a/b").len(), 32);
    }
}
