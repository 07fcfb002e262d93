//! The identity: the configuration, the profile, which source `auto` picks here and why (the
//! variables it saw, by name only), the signed-in account and tenant, where the refresh token
//! lives and whether it is there, and whether the keyring answers (bounded).
//!
//! The keyring probe is read-only: it looks up an entry that does not exist (the Secret Service,
//! the platform keyring) or opens the kernel's persistent keyring; it never reads a secret (a
//! Secret Service read could ask to unlock the keyring, which is a prompt).

use super::{bounded, Check, Ctx};
#[cfg(target_os = "linux")]
use entra_cred_core::cache::short_hash;
use entra_cred_core::cache::{Cache, StoreKind};
use entra_cred_core::config::{env_var, Flow, Overrides};
use entra_cred_core::sources;
use entra_cred_core::Broker;
use std::time::Duration;

const TOOL: &str = "identity";

/// How long the keyring may take to answer.
pub const KEYRING_LIMIT: Duration = Duration::from_secs(3);

/// The variables (SPEC.md's names) that take part in choosing the identity: the core's list,
/// and entra-cred's own that pick the profile, the cache and the secret store.
pub fn identity_vars() -> impl Iterator<Item = &'static str> {
    entra_cred_core::variables::IDENTITY.iter().copied().chain([
        "ENTRA_CRED_PROFILE",
        "ENTRA_CRED_CONFIG",
        "ENTRA_CRED_CACHE_DIR",
        "ENTRA_CRED_KEYRING",
        "ENTRA_CRED_HTTP_TIMEOUT",
    ])
}

/// Which secret store `ENTRA_CRED_KEYRING` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyringMode {
    /// A keyring when one is usable, else the file.
    Auto,
    /// Always the 0600 file.
    File,
    /// A keyring or an error.
    Keyring,
}

/// `ENTRA_CRED_KEYRING` read as the secret store reads it.
pub fn keyring_mode() -> KeyringMode {
    match std::env::var("ENTRA_CRED_KEYRING")
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
        .as_str()
    {
        "file" | "none" | "off" | "no" | "0" => KeyringMode::File,
        "keyring" | "on" | "yes" | "1" => KeyringMode::Keyring,
        _ => KeyringMode::Auto,
    }
}

/// What one keyring answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// It answered (an entry that does not exist was looked up).
    Works,
    /// It answered with an error.
    Broken(String),
    /// It did not answer in time.
    Silent,
}

/// The keyring stores the secret store would try, best first, and what each answered.
pub fn probe_keyrings(mode: KeyringMode) -> Vec<(StoreKind, Answer)> {
    let mut out = Vec::new();
    #[cfg(target_os = "linux")]
    {
        if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() {
            let a = bounded(KEYRING_LIMIT, || {
                keyring::secret_service::SsCredential::new_with_target(
                    None,
                    "entra-cred",
                    "entra-cred-doctor-probe",
                )
                .map(|c| keyring::Entry::new_with_credential(Box::new(c)))
                .and_then(|e| e.get_password().map(|_| ()))
                .map_err(|e| e.to_string())
            });
            out.push((StoreKind::SecretService, classify(a)));
        }
        let kernel = |persistent: bool| {
            bounded(KEYRING_LIMIT, move || {
                use linux_keyutils::{KeyRing, KeyRingIdentifier};
                let r = if persistent {
                    KeyRing::get_persistent(KeyRingIdentifier::Session)
                } else {
                    KeyRing::from_special_id(KeyRingIdentifier::User, true)
                };
                r.map(|_| ()).map_err(|e| format!("{e:?}"))
            })
        };
        out.push((StoreKind::KernelKeyring, classify_ok(kernel(true))));
        if mode == KeyringMode::Keyring {
            out.push((StoreKind::KernelUserKeyring, classify_ok(kernel(false))));
        }
    }
    #[cfg(any(target_os = "macos", windows))]
    {
        let a = bounded(KEYRING_LIMIT, || {
            keyring::Entry::new("entra-cred", "entra-cred-doctor-probe")
                .and_then(|e| e.get_password().map(|_| ()))
                .map_err(|e| e.to_string())
        });
        out.push((StoreKind::Native, classify(a)));
    }
    let _ = mode;
    out
}

/// A lookup of an entry that does not exist: "no entry" means the keyring works.
#[allow(dead_code)]
fn classify(a: Option<Result<(), String>>) -> Answer {
    match a {
        None => Answer::Silent,
        Some(Ok(())) => Answer::Works,
        Some(Err(e)) if e.contains("No matching entry") => Answer::Works,
        Some(Err(e)) => Answer::Broken(entra_cred_core::error::one_line(&e)),
    }
}

#[allow(dead_code)]
fn classify_ok(a: Option<Result<(), String>>) -> Answer {
    match a {
        None => Answer::Silent,
        Some(Ok(())) => Answer::Works,
        Some(Err(e)) => Answer::Broken(entra_cred_core::error::one_line(&e)),
    }
}

/// Whether a refresh token kept in the kernel keyring is there (a search: the value is not read).
#[cfg(target_os = "linux")]
fn kernel_has(persistent: bool, user: String) -> Option<bool> {
    bounded(KEYRING_LIMIT, move || {
        use linux_keyutils::{KeyRing, KeyRingIdentifier};
        let r = if persistent {
            KeyRing::get_persistent(KeyRingIdentifier::Session)
        } else {
            KeyRing::from_special_id(KeyRingIdentifier::User, false)
        };
        r.ok()
            .map(|r| r.search(&format!("entra-cred:{user}")).is_ok())
            .unwrap_or(false)
    })
}

/// The identity checks.
pub fn checks(ctx: &Ctx, o: &Overrides) -> Vec<Check> {
    let mut checks = Vec::new();
    let cfg_name = crate::setup::git::config_path_shown(&ctx.config);
    if let Some(e) = &ctx.config_error {
        checks.push(Check::fail(
            TOOL,
            "configuration",
            format!("every helper fails with exit 2: {e}"),
            Some("fix the file at the line named (entra-cred status shows the same error)".into()),
        ));
        return checks;
    }
    let profile = match &ctx.profile {
        Some(p) => p.clone(),
        None => {
            let err = ctx
                .config
                .profile(o)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            checks.push(Check::fail(
                TOOL,
                "profile",
                err,
                Some(format!(
                    "add the profile to {cfg_name}, or choose another with -p"
                )),
            ));
            return checks;
        }
    };
    let seen: Vec<&str> = identity_vars().filter(|v| env_var(v).is_some()).collect();
    let cache = match Cache::open() {
        Ok(c) => c,
        Err(e) => {
            checks.push(Check::fail(TOOL, "cache", e.to_string(), None));
            return checks;
        }
    };
    let (source, why) = match sources::resolve(&profile, &cache) {
        Ok(x) => x,
        Err(e) => {
            checks.push(Check::fail(
                TOOL,
                format!("profile {}", profile.name),
                e.to_string(),
                None,
            ));
            return checks;
        }
    };
    checks.push(Check::ok(
        TOOL,
        format!("profile {}", profile.name),
        format!(
            "{}; source {} ({why}); variables seen: {}",
            if profile.in_file {
                format!("from {cfg_name}")
            } else {
                "not in the config file: built from the environment and defaults".to_string()
            },
            source.name(),
            if seen.is_empty() {
                "none".to_string()
            } else {
                seen.join(", ")
            }
        ),
    ));
    // Credentials in the environment that the profile ignores (they belong to another app).
    for v in [
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_FEDERATED_TOKEN_FILE",
    ] {
        let used = match v {
            "AZURE_CLIENT_SECRET" => profile.client_secret.is_some(),
            "AZURE_CLIENT_CERTIFICATE_PATH" => profile.certificate.is_some(),
            _ => profile.federated_token_file.is_some(),
        };
        if env_var(v).is_some() && !used {
            checks.push(Check::warn(
                TOOL,
                v,
                format!(
                    "is set but not used by profile '{}': its client_id ({}) is not AZURE_CLIENT_ID's",
                    profile.name, profile.client_id
                ),
                None,
            ));
        }
    }

    // The sign-in and its refresh token.
    let broker = Broker::new(cache.clone());
    let mut account = None;
    let mut rt: Option<(StoreKind, String)> = None;
    for key in broker.session_keys(&profile) {
        if let Some(s) = cache.load_session(&key) {
            if account.is_none() {
                account = s.account.clone();
            }
            if rt.is_none() {
                if let Some(k) = s.refresh_token {
                    rt = Some((k, key.refresh_token_key()));
                }
            }
        }
    }
    let login = format!("{}login", ctx.entra_cred());
    let is_user = source.is_person();
    let mode = keyring_mode();
    let keyrings = if mode == KeyringMode::File {
        Vec::new()
    } else {
        probe_keyrings(mode)
    };
    match (&account, is_user) {
        (Some(a), _) => checks.push(Check::ok(
            TOOL,
            "sign-in",
            format!(
                "{} (tenant {})",
                a.username.as_deref().unwrap_or("an unnamed account"),
                a.tenant.as_deref().unwrap_or(&profile.tenant)
            ),
        )),
        (None, true) => checks.push(Check::fail(
            TOOL,
            "sign-in",
            format!(
                "nobody is signed in for profile '{}': tools that cannot prompt (docker, kubectl in scripts, IDEs) fail with exit 3",
                profile.name
            ),
            Some(login.clone()),
        )),
        (None, false) => checks.push(Check::ok(
            TOOL,
            "sign-in",
            format!("none needed: the {} source signs in by itself", source.name()),
        )),
    }
    if is_user || profile.flow.is_user() || profile.flow == Flow::Auto {
        match &rt {
            None if account.is_some() => checks.push(Check::fail(
                TOOL,
                "refresh token",
                "none kept: every new token needs a new sign-in",
                Some(login.clone()),
            )),
            None => {}
            Some((kind, key)) => {
                checks.push(refresh_token_check(&cache, *kind, key, &keyrings, &login))
            }
        }
    }
    checks.push(keyring_check(
        mode,
        &keyrings,
        &cache,
        rt.as_ref().map(|r| r.0),
        &login,
    ));
    checks
}

fn refresh_token_check(
    cache: &Cache,
    kind: StoreKind,
    key: &str,
    keyrings: &[(StoreKind, Answer)],
    login: &str,
) -> Check {
    let answer = keyrings
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, a)| a.clone());
    let present: Option<bool> = match kind {
        StoreKind::File => Some(
            cache
                .dir()
                .join("secrets")
                .join(format!("{key}.json"))
                .is_file(),
        ),
        #[cfg(target_os = "linux")]
        StoreKind::KernelKeyring | StoreKind::KernelUserKeyring => {
            let ns = short_hash(&cache.dir().to_string_lossy())[..12].to_string();
            kernel_has(kind == StoreKind::KernelKeyring, format!("{key}@{ns}"))
        }
        _ => None,
    };
    match (answer, present) {
        (Some(Answer::Silent), _) | (Some(Answer::Broken(_)), _) => Check::fail(
            TOOL,
            "refresh token",
            format!("kept in the {}, which does not answer: refreshing fails", kind.name()),
            Some(format!("ENTRA_CRED_KEYRING=file {login}   # and export ENTRA_CRED_KEYRING=file where tools run")),
        ),
        (_, Some(false)) => Check::fail(
            TOOL,
            "refresh token",
            format!("recorded in the {}, but not there (removed, or the keyring was reset)", kind.name()),
            Some(login.to_string()),
        ),
        (_, Some(true)) => Check::ok(TOOL, "refresh token", format!("present, in the {}", kind.name())),
        (_, None) => Check::ok(
            TOOL,
            "refresh token",
            format!("kept in the {} (not read: that could ask to unlock it)", kind.name()),
        ),
    }
}

fn keyring_check(
    mode: KeyringMode,
    keyrings: &[(StoreKind, Answer)],
    cache: &Cache,
    rt_kind: Option<StoreKind>,
    login: &str,
) -> Check {
    let files = format!(
        "0600 files in {}",
        super::shown(&cache.dir().join("secrets"))
    );
    if mode == KeyringMode::File {
        return Check::ok(
            TOOL,
            "keyring",
            format!("not used (ENTRA_CRED_KEYRING=file): secrets are kept in {files}"),
        );
    }
    let describe = |(k, a): &(StoreKind, Answer)| match a {
        Answer::Works => format!("{} answers", k.name()),
        Answer::Broken(e) => format!("{} fails ({e})", k.name()),
        Answer::Silent => format!(
            "{} did not answer within {} s",
            k.name(),
            KEYRING_LIMIT.as_secs()
        ),
    };
    let summary = keyrings.iter().map(describe).collect::<Vec<_>>().join("; ");
    let silent = keyrings.iter().find(|(_, a)| *a == Answer::Silent);
    let working = keyrings.iter().find(|(_, a)| *a == Answer::Works);
    let fix = Some(format!(
        "export ENTRA_CRED_KEYRING=file (where the tools run){}",
        if rt_kind.is_some_and(|k| k != StoreKind::File) {
            format!(", then {login}")
        } else {
            String::new()
        }
    ));
    if let Some((k, _)) = silent {
        // The first store that hangs holds up every sign-in and refresh that stores a secret.
        let first_silent = keyrings
            .iter()
            .position(|(_, a)| *a == Answer::Silent)
            .unwrap_or(0);
        let before_working = working
            .map(|w| keyrings.iter().position(|x| x == w).unwrap_or(0) > first_silent)
            .unwrap_or(true);
        if before_working {
            return Check::fail(
                TOOL,
                "keyring",
                format!(
                    "the {} does not answer (dead or locked keyring daemon): every sign-in and refresh waits for it; {summary}",
                    k.name()
                ),
                fix,
            );
        }
    }
    match (working, mode) {
        (Some((k, _)), _) => Check::ok(
            TOOL,
            "keyring",
            format!("new secrets go to the {}; {summary}", k.name()),
        ),
        (None, KeyringMode::Keyring) => Check::fail(
            TOOL,
            "keyring",
            format!(
                "ENTRA_CRED_KEYRING=keyring, but no keyring works here: every sign-in fails; {}",
                if summary.is_empty() {
                    "none found".into()
                } else {
                    summary
                }
            ),
            fix,
        ),
        (None, _) => Check::ok(
            TOOL,
            "keyring",
            format!(
                "no keyring works here{}: secrets are kept in {files}",
                if summary.is_empty() {
                    String::new()
                } else {
                    format!(" ({summary})")
                }
            ),
        ),
    }
}
