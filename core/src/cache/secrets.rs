//! Where long-lived secrets live: refresh tokens, ACR refresh tokens, AWS
//! session credentials.
//!
//! `ENTRA_CRED_KEYRING` chooses: `auto` (default) puts them in the OS keyring
//! when one is usable (macOS Keychain, Windows Credential Manager, the Secret
//! Service on a Linux desktop, else the Linux kernel's *persistent* keyring,
//! which outlives logins and expires after days unused) and otherwise in a 0600
//! file in the cache directory; `file` always uses the file; `keyring` insists
//! on a keyring and also accepts the kernel's *user* keyring, which lasts only
//! while the user has a process running (an error when none is usable).
//!
//! Where each secret went is recorded next to it (in the cache file that refers
//! to it), so that reading never probes: it asks the one store that has it.
//! Access tokens are not here: they live in the cache directory, and a cache
//! hit never touches the keyring.
//!
//! A keyring may hang (a Secret Service that accepts the D-Bus connection and
//! never answers, as a locked keyring over SSH does). Every keyring call runs
//! on its own thread and is given up after [`KEYRING_TIMEOUT`]: a secret being
//! stored then goes to the 0600 file instead (one warning line), so a rotated
//! refresh token is never lost and no lock is held longer than that. A
//! keyring that hung is remembered for [`STALL_MEMORY`] seconds in
//! `<cache>/keyring/stalled-<kind>.json` (no secret in it): stores skip it
//! meanwhile and go to the file at once.

use crate::cache::file;
use crate::error::{Error, Result};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

/// How long one keyring call may take before it is given up.
pub const KEYRING_TIMEOUT: Duration = Duration::from_secs(5);
/// Seconds a keyring that hung is passed over by stores.
pub const STALL_MEMORY: i64 = 600;

/// Why a keyring call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyringError {
    /// It answered with an error.
    Failed(String),
    /// It did not answer within [`KEYRING_TIMEOUT`].
    Stalled,
}

impl std::fmt::Display for KeyringError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyringError::Failed(m) => f.write_str(m),
            KeyringError::Stalled => {
                write!(f, "did not answer within {} s", KEYRING_TIMEOUT.as_secs())
            }
        }
    }
}

/// Runs a keyring call on its own thread and waits at most `timeout` for it.
/// A call that does not finish in time is left behind (it ends with the process).
fn bounded<T: Send + 'static>(
    timeout: Duration,
    f: impl FnOnce() -> std::result::Result<T, String> + Send + 'static,
) -> std::result::Result<T, KeyringError> {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("keyring".into())
        .spawn(move || {
            let _ = tx.send(f());
        });
    if let Err(e) = spawned {
        return Err(KeyringError::Failed(format!("cannot start a thread: {e}")));
    }
    match rx.recv_timeout(timeout) {
        Ok(r) => r.map_err(KeyringError::Failed),
        Err(_) => Err(KeyringError::Stalled),
    }
}

/// A keyring that hung, remembered.
#[derive(Serialize, Deserialize)]
struct Stall {
    kind: StoreKind,
    at: i64,
}

/// One warning line, shown whatever `ENTRA_CRED_LOG` says.
fn warn_always(msg: &str) {
    eprintln!("entra-cred [warn] {}", crate::error::one_line(msg));
}

/// The keyring service name.
const SERVICE: &str = "entra-cred";

/// A store a secret can be kept in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreKind {
    /// A 0600 file in the cache directory.
    File,
    /// The freedesktop Secret Service (GNOME Keyring, KWallet).
    SecretService,
    /// The Linux kernel's persistent keyring of the user.
    KernelKeyring,
    /// The Linux kernel's user keyring (lives while the user has processes).
    KernelUserKeyring,
    /// The platform keyring (macOS Keychain, Windows Credential Manager).
    Native,
}

impl StoreKind {
    /// A name for people.
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::File => "file (0600) in the cache directory",
            StoreKind::SecretService => "Secret Service keyring",
            StoreKind::KernelKeyring => "Linux kernel keyring (persistent)",
            StoreKind::KernelUserKeyring => "Linux kernel keyring (user)",
            StoreKind::Native => "OS keyring",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Auto,
    File,
    Keyring,
}

/// The secret store of one cache directory.
#[derive(Debug, Clone)]
pub struct SecretStore {
    dir: PathBuf,
    /// The cache directory as given (the keyring namespace is derived from it).
    cache_dir: PathBuf,
    /// Keys in the keyring are namespaced by the cache directory, so that two
    /// cache directories (two users of one account, tests) never collide.
    /// Computed on first use: the hot path never needs it.
    namespace: OnceLock<String>,
    mode: Mode,
    /// How long one keyring call may take ([`KEYRING_TIMEOUT`]).
    timeout: Duration,
}

#[derive(Serialize, Deserialize)]
struct FileSecret {
    value: Secret<String>,
}

impl SecretStore {
    /// The store for the cache directory `cache_dir`.
    pub fn new(cache_dir: &Path) -> SecretStore {
        let mode = match std::env::var("ENTRA_CRED_KEYRING")
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "file" | "none" | "off" | "no" | "0" => Mode::File,
            "keyring" | "on" | "yes" | "1" => Mode::Keyring,
            _ => Mode::Auto,
        };
        SecretStore {
            dir: cache_dir.join("secrets"),
            cache_dir: cache_dir.to_path_buf(),
            namespace: OnceLock::new(),
            mode,
            timeout: KEYRING_TIMEOUT,
        }
    }

    fn file_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    fn keyring_user(&self, key: &str) -> String {
        let ns = self.namespace.get_or_init(|| {
            crate::cache::short_hash(&self.cache_dir.to_string_lossy())[..12].to_string()
        });
        format!("{key}@{ns}")
    }

    /// Keyring stores to try, best first.
    fn keyring_candidates(&self) -> Vec<StoreKind> {
        let mut v = Vec::new();
        #[cfg(target_os = "linux")]
        {
            if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() {
                v.push(StoreKind::SecretService);
            }
            v.push(StoreKind::KernelKeyring);
            if self.mode == Mode::Keyring {
                v.push(StoreKind::KernelUserKeyring);
            }
        }
        #[cfg(any(target_os = "macos", windows))]
        v.push(StoreKind::Native);
        v
    }

    fn keyring_put(
        &self,
        kind: StoreKind,
        key: &str,
        value: &str,
    ) -> std::result::Result<(), KeyringError> {
        let user = self.keyring_user(key);
        let value = Secret::new(value.to_string());
        bounded(self.timeout, move || {
            keyring_op::put(kind, &user, value.expose())
        })
    }

    fn keyring_get(&self, kind: StoreKind, key: &str) -> std::result::Result<String, KeyringError> {
        let user = self.keyring_user(key);
        bounded(self.timeout, move || keyring_op::get(kind, &user))
    }

    fn keyring_delete(&self, kind: StoreKind, key: &str) -> std::result::Result<(), KeyringError> {
        let user = self.keyring_user(key);
        bounded(self.timeout, move || {
            keyring_op::delete(kind, &user);
            Ok(())
        })
    }

    fn stall_path(&self, kind: StoreKind) -> PathBuf {
        let name = serde_json::to_value(kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "keyring".into());
        self.cache_dir
            .join("keyring")
            .join(format!("stalled-{name}.json"))
    }

    /// Whether `kind` hung a moment ago (then stores pass it over).
    fn recently_stalled(&self, kind: StoreKind) -> bool {
        let now = crate::timefmt::now();
        file::read_json::<Stall>(&self.stall_path(kind))
            .is_some_and(|s| s.kind == kind && s.at <= now && now - s.at < STALL_MEMORY)
    }

    fn remember_stall(&self, kind: StoreKind) {
        let s = Stall {
            kind,
            at: crate::timefmt::now(),
        };
        if let Err(e) = file::write_json(&self.stall_path(kind), &s) {
            crate::debug!("cannot remember that the keyring hung: {e}");
        }
    }

    /// Stores `value` under `key`; returns the store it went to. When a
    /// keyring is used, a file copy from an earlier run is removed.
    pub fn put(&self, key: &str, value: &Secret<String>) -> Result<StoreKind> {
        if self.mode != Mode::File {
            let mut last_err = String::new();
            let mut stalled = false;
            for kind in self.keyring_candidates() {
                if self.recently_stalled(kind) {
                    warn_always(&format!(
                        "the {} did not answer a moment ago: keeping the secret in a 0600 file in the cache directory instead",
                        kind.name()
                    ));
                    stalled = true;
                    break;
                }
                match self.keyring_put(kind, key, value.expose()) {
                    Ok(()) => {
                        let _ = std::fs::remove_file(self.file_path(key));
                        crate::debug!("secret {key} kept in the {}", kind.name());
                        return Ok(kind);
                    }
                    Err(KeyringError::Stalled) => {
                        // Given up for this call: the file store, at once (SPEC.md "Token cache").
                        self.remember_stall(kind);
                        warn_always(&format!(
                            "the {} did not answer within {} s: keeping the secret in a 0600 file in the cache directory instead",
                            kind.name(),
                            self.timeout.as_secs()
                        ));
                        stalled = true;
                        break;
                    }
                    Err(e) => {
                        crate::debug!("{} not usable: {e}", kind.name());
                        last_err = e.to_string();
                    }
                }
            }
            // A keyring that hung: the file, even with ENTRA_CRED_KEYRING=keyring, so that a
            // rotated refresh token is never lost.
            if self.mode == Mode::Keyring && !stalled {
                return Err(Error::Config(format!(
                    "ENTRA_CRED_KEYRING=keyring, but no keyring is usable here ({})",
                    crate::error::one_line(&last_err)
                )));
            }
        }
        file::write_json(
            &self.file_path(key),
            &FileSecret {
                value: value.clone(),
            },
        )?;
        Ok(StoreKind::File)
    }

    /// Reads the secret `key` from the store `kind` it was put in.
    pub fn get(&self, key: &str, kind: StoreKind) -> Option<Secret<String>> {
        match kind {
            StoreKind::File => file::read_json::<FileSecret>(&self.file_path(key)).map(|f| f.value),
            k => match self.keyring_get(k, key) {
                Ok(v) => Some(Secret::new(v)),
                Err(KeyringError::Stalled) => {
                    self.remember_stall(k);
                    warn_always(&format!(
                        "the {} did not answer within {} s: the secret kept there cannot be read now (unlock the keyring, or sign in again)",
                        k.name(),
                        self.timeout.as_secs()
                    ));
                    None
                }
                Err(e) => {
                    crate::debug!("secret {key} not found in the {}: {e}", k.name());
                    None
                }
            },
        }
    }

    /// Forgets the secret `key` wherever it may be.
    pub fn delete(&self, key: &str) {
        let _ = std::fs::remove_file(self.file_path(key));
        if self.mode != Mode::File {
            let mut kinds = self.keyring_candidates();
            #[cfg(target_os = "linux")]
            if !kinds.contains(&StoreKind::KernelUserKeyring) {
                kinds.push(StoreKind::KernelUserKeyring);
            }
            for kind in kinds {
                if self.recently_stalled(kind) {
                    continue;
                }
                if self.keyring_delete(kind, key) == Err(KeyringError::Stalled) {
                    self.remember_stall(kind);
                    warn_always(&format!(
                        "the {} did not answer within {} s: a copy of the secret may remain there",
                        kind.name(),
                        self.timeout.as_secs()
                    ));
                }
            }
        }
    }
}

/// The keyring calls themselves (run on a bounded thread by [`SecretStore`]).
mod keyring_op {
    use super::{StoreKind, SERVICE};

    /// The `keyring` crate's entry for the Secret Service or the platform keyring.
    fn entry(kind: StoreKind, user: &str) -> std::result::Result<keyring::Entry, String> {
        match kind {
            #[cfg(target_os = "linux")]
            StoreKind::SecretService => {
                keyring::secret_service::SsCredential::new_with_target(None, SERVICE, user)
                    .map(|c| keyring::Entry::new_with_credential(Box::new(c)))
                    .map_err(|e| e.to_string())
            }
            #[cfg(any(target_os = "macos", windows))]
            StoreKind::Native => keyring::Entry::new(SERVICE, user).map_err(|e| e.to_string()),
            _ => Err("this keyring is not available on this platform".into()),
        }
    }

    pub fn put(kind: StoreKind, user: &str, value: &str) -> Result<(), String> {
        match kind {
            #[cfg(target_os = "linux")]
            StoreKind::KernelKeyring => super::kernel::put(true, user, value),
            #[cfg(target_os = "linux")]
            StoreKind::KernelUserKeyring => super::kernel::put(false, user, value),
            _ => entry(kind, user)?
                .set_password(value)
                .map_err(|e| e.to_string()),
        }
    }

    pub fn get(kind: StoreKind, user: &str) -> Result<String, String> {
        match kind {
            #[cfg(target_os = "linux")]
            StoreKind::KernelKeyring => super::kernel::get(true, user),
            #[cfg(target_os = "linux")]
            StoreKind::KernelUserKeyring => super::kernel::get(false, user),
            _ => entry(kind, user)?.get_password().map_err(|e| e.to_string()),
        }
    }

    pub fn delete(kind: StoreKind, user: &str) {
        match kind {
            #[cfg(target_os = "linux")]
            StoreKind::KernelKeyring => super::kernel::delete(true, user),
            #[cfg(target_os = "linux")]
            StoreKind::KernelUserKeyring => super::kernel::delete(false, user),
            _ => {
                if let Ok(e) = entry(kind, user) {
                    let _ = e.delete_credential();
                }
            }
        }
    }
}

/// The Linux kernel keyring, used directly: the persistent keyring of the
/// user (survives logout; the kernel expires it after days without use, and
/// every access renews it), or the user keyring.
#[cfg(target_os = "linux")]
mod kernel {
    use linux_keyutils::{KeyRing, KeyRingIdentifier};

    fn ring(persistent: bool) -> Result<KeyRing, String> {
        let r = if persistent {
            KeyRing::get_persistent(KeyRingIdentifier::Session)
        } else {
            KeyRing::from_special_id(KeyRingIdentifier::User, true)
        };
        r.map_err(|e| format!("kernel keyring: {e:?}"))
    }

    fn description(user: &str) -> String {
        format!("{}:{user}", super::SERVICE)
    }

    pub fn put(persistent: bool, user: &str, value: &str) -> Result<(), String> {
        ring(persistent)?
            .add_key(&description(user), value.as_bytes())
            .map(|_| ())
            .map_err(|e| format!("kernel keyring: {e:?}"))
    }

    pub fn get(persistent: bool, user: &str) -> Result<String, String> {
        let key = ring(persistent)?
            .search(&description(user))
            .map_err(|e| format!("kernel keyring: {e:?}"))?;
        let bytes = key
            .read_to_vec()
            .map_err(|e| format!("kernel keyring: {e:?}"))?;
        String::from_utf8(bytes).map_err(|_| "kernel keyring: not text".to_string())
    }

    pub fn delete(persistent: bool, user: &str) {
        if let Ok(r) = ring(persistent) {
            if let Ok(k) = r.search(&description(user)) {
                let _ = k.invalidate();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_store_roundtrip() {
        let d = tempfile::tempdir().expect("tempdir");
        let s = SecretStore {
            dir: d.path().join("secrets"),
            cache_dir: d.path().to_path_buf(),
            namespace: OnceLock::new(),
            mode: Mode::File,
            timeout: KEYRING_TIMEOUT,
        };
        let kind = s.put("rt-x", &Secret::new("v1".into())).expect("put");
        assert_eq!(kind, StoreKind::File);
        assert_eq!(
            s.get("rt-x", kind).map(Secret::into_inner).as_deref(),
            Some("v1")
        );
        s.delete("rt-x");
        assert!(s.get("rt-x", kind).is_none());
    }

    #[test]
    fn keyring_calls_are_bounded() {
        let t = std::time::Instant::now();
        let r: std::result::Result<(), KeyringError> = bounded(Duration::from_millis(200), || {
            std::thread::sleep(Duration::from_secs(30));
            Ok(())
        });
        assert_eq!(r, Err(KeyringError::Stalled));
        assert!(t.elapsed() < Duration::from_secs(2));
        assert_eq!(bounded(Duration::from_secs(5), || Ok(7)), Ok(7));
        assert_eq!(
            bounded::<()>(Duration::from_secs(5), || Err("locked".into())),
            Err(KeyringError::Failed("locked".into()))
        );
    }

    #[test]
    fn stalls_are_remembered_briefly() {
        let d = tempfile::tempdir().expect("tempdir");
        let s = SecretStore::new(d.path());
        assert!(!s.recently_stalled(StoreKind::SecretService));
        s.remember_stall(StoreKind::SecretService);
        assert!(s.recently_stalled(StoreKind::SecretService));
        assert!(!s.recently_stalled(StoreKind::KernelKeyring));
        assert!(s
            .stall_path(StoreKind::SecretService)
            .ends_with("keyring/stalled-secret-service.json"));
    }
}
