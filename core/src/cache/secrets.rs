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

use crate::cache::file;
use crate::error::{Error, Result};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

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

    /// The `keyring` crate's entry for the Secret Service or the platform keyring.
    fn keyring_entry(kind: StoreKind, user: &str) -> std::result::Result<keyring::Entry, String> {
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

    fn keyring_put(
        &self,
        kind: StoreKind,
        key: &str,
        value: &str,
    ) -> std::result::Result<(), String> {
        let user = self.keyring_user(key);
        match kind {
            #[cfg(target_os = "linux")]
            StoreKind::KernelKeyring => kernel::put(true, &user, value),
            #[cfg(target_os = "linux")]
            StoreKind::KernelUserKeyring => kernel::put(false, &user, value),
            _ => Self::keyring_entry(kind, &user)?
                .set_password(value)
                .map_err(|e| e.to_string()),
        }
    }

    fn keyring_get(&self, kind: StoreKind, key: &str) -> std::result::Result<String, String> {
        let user = self.keyring_user(key);
        match kind {
            #[cfg(target_os = "linux")]
            StoreKind::KernelKeyring => kernel::get(true, &user),
            #[cfg(target_os = "linux")]
            StoreKind::KernelUserKeyring => kernel::get(false, &user),
            _ => Self::keyring_entry(kind, &user)?
                .get_password()
                .map_err(|e| e.to_string()),
        }
    }

    fn keyring_delete(&self, kind: StoreKind, key: &str) {
        let user = self.keyring_user(key);
        match kind {
            #[cfg(target_os = "linux")]
            StoreKind::KernelKeyring => kernel::delete(true, &user),
            #[cfg(target_os = "linux")]
            StoreKind::KernelUserKeyring => kernel::delete(false, &user),
            _ => {
                if let Ok(e) = Self::keyring_entry(kind, &user) {
                    let _ = e.delete_credential();
                }
            }
        }
    }

    /// Stores `value` under `key`; returns the store it went to. When a
    /// keyring is used, a file copy from an earlier run is removed.
    pub fn put(&self, key: &str, value: &Secret<String>) -> Result<StoreKind> {
        if self.mode != Mode::File {
            let mut last_err = String::new();
            for kind in self.keyring_candidates() {
                match self.keyring_put(kind, key, value.expose()) {
                    Ok(()) => {
                        let _ = std::fs::remove_file(self.file_path(key));
                        crate::debug!("secret {key} kept in the {}", kind.name());
                        return Ok(kind);
                    }
                    Err(e) => {
                        crate::debug!("{} not usable: {e}", kind.name());
                        last_err = e;
                    }
                }
            }
            if self.mode == Mode::Keyring {
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
                self.keyring_delete(kind, key);
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
}
