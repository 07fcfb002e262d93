//! Where entra-cred keeps its files (SPEC.md "Configuration" and "Token cache").

use std::path::PathBuf;

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The home directory (`$HOME`, `%USERPROFILE%` on Windows).
pub fn home() -> Option<PathBuf> {
    env_path("HOME").or_else(|| env_path("USERPROFILE"))
}

/// `$ENTRA_CRED_CONFIG`, else `$XDG_CONFIG_HOME/entra-cred/config.toml`, else
/// `~/.config/entra-cred/config.toml`.
pub fn config_file() -> Option<PathBuf> {
    if let Some(p) = env_path("ENTRA_CRED_CONFIG") {
        return Some(p);
    }
    let base = env_path("XDG_CONFIG_HOME").or_else(|| home().map(|h| h.join(".config")))?;
    Some(base.join("entra-cred").join("config.toml"))
}

/// `$ENTRA_CRED_CACHE_DIR`, else `$XDG_CACHE_HOME/entra-cred`, else `~/.cache/entra-cred`.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(p) = env_path("ENTRA_CRED_CACHE_DIR") {
        return Some(p);
    }
    let base = env_path("XDG_CACHE_HOME").or_else(|| home().map(|h| h.join(".cache")))?;
    Some(base.join("entra-cred"))
}
