//! Cargo: the registries of `$CARGO_HOME/config.toml` (default `~/.cargo/config.toml`) that are
//! Azure Artifacts feeds, and the credential provider cargo will use for each.
//!
//! Cargo uses `registries.<name>.credential-provider` when it is set, else
//! `registry.global-credential-providers`, where *later entries have higher precedence*: a
//! provider listed after `cargo-credential-entra` (such as `cargo:token` with a token saved in
//! `credentials.toml`) is asked first. Only the config file is read (never the credentials'
//! values: only whether a token is there).

use super::{find_program, missing_profile, path_fix, shell_words, shown, Check, Ctx};
use std::path::PathBuf;
use toml::Value;

const TOOL: &str = "cargo";
const OURS: &str = "cargo-credential-entra";

fn cargo_home() -> Option<PathBuf> {
    crate::setup::env_path("CARGO_HOME")
        .or_else(|| entra_cred_core::paths::home().map(|h| h.join(".cargo")))
}

/// A provider value (a string, or an array of program and arguments) as words.
fn provider_words(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => shell_words(s),
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// A provider for messages: its program only (arguments may hold secrets).
fn first_word(words: &[String]) -> String {
    entra_cred_core::error::one_line(words.first().map(String::as_str).unwrap_or(""))
}

fn is_ours(words: &[String]) -> bool {
    words.first().is_some_and(|w| w.contains(OURS))
}

/// Whether a registry index URL is an Azure Artifacts feed (`pkgs.dev.azure.com`,
/// `*.pkgs.visualstudio.com`, or `ENTRA_CRED_ARTIFACTS_HOSTS`).
pub fn is_artifacts(index: &str) -> bool {
    let extra = entra_cred_core::config::env_var("ENTRA_CRED_ARTIFACTS_HOSTS")
        .map(|v| entra_cred_core::config::split_hosts(&v))
        .unwrap_or_default();
    entra_cred_core::hosts::Service::Artifacts.serves(index, &extra)
}

/// The cargo checks.
pub fn checks(ctx: &Ctx) -> Vec<Check> {
    let Some(home) = cargo_home() else {
        return vec![];
    };
    let path = [home.join("config.toml"), home.join("config")]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| home.join("config.toml"));
    let setup_generic = format!(
        "{}setup cargo --registry <name> --index sparse+https://pkgs.dev.azure.com/<org>/_packaging/<feed>/Cargo/index/",
        ctx.entra_cred()
    );
    let doc: toml::Table = match std::fs::read_to_string(&path) {
        Ok(t) => match t.parse() {
            Ok(d) => d,
            Err(_) => {
                return vec![Check::fail(
                    TOOL,
                    shown(&path),
                    "cargo cannot parse this file (not valid TOML)",
                    Some(format!("fix {} (cargo prints the line)", shown(&path))),
                )]
            }
        },
        Err(_) => toml::Table::new(),
    };
    let global: Vec<Vec<String>> = doc
        .get("registry")
        .and_then(|r| r.get("global-credential-providers"))
        .and_then(Value::as_array)
        .map(|a| a.iter().map(provider_words).collect())
        .unwrap_or_default();
    let tokens_saved: Vec<String> = std::fs::read_to_string(home.join("credentials.toml"))
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .and_then(|d| d.get("registries").and_then(Value::as_table).cloned())
        .map(|r| {
            r.iter()
                .filter(|(_, v)| v.get("token").is_some())
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();

    let mut checks = Vec::new();
    let registries = doc
        .get("registries")
        .and_then(Value::as_table)
        .cloned()
        .unwrap_or_default();
    for (name, reg) in &registries {
        let Some(index) = reg.get("index").and_then(Value::as_str) else {
            continue;
        };
        let own = reg.get("credential-provider").map(provider_words);
        if !is_artifacts(index) && !own.as_deref().is_some_and(is_ours) {
            continue;
        }
        let label = format!("registry {name}");
        let setup = format!(
            "{}setup cargo --registry {} --index {}",
            ctx.entra_cred(),
            crate::setup::sh_quote(name),
            crate::setup::sh_quote(index)
        );
        let (providers, from) = match &own {
            Some(p) => (
                vec![p.clone()],
                format!("registries.{name}.credential-provider"),
            ),
            None => (
                global.clone(),
                "registry.global-credential-providers".to_string(),
            ),
        };
        // Cargo asks the last provider first.
        let Some(pos) = providers.iter().rposition(|p| is_ours(p)) else {
            let what = if providers.is_empty() {
                "no credential provider (cargo:token: a saved PAT or nothing)".to_string()
            } else {
                providers
                    .iter()
                    .map(|p| first_word(p))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            checks.push(Check::fail(
                TOOL,
                label,
                format!("cargo uses {what} ({from}), not cargo-credential-entra"),
                Some(setup),
            ));
            continue;
        };
        let words = &providers[pos];
        let program = words.first().cloned().unwrap_or_default();
        if find_program(&program).is_none() {
            let fix = if program.contains('/') {
                setup
            } else {
                path_fix(OURS)
            };
            checks.push(Check::fail(
                TOOL,
                label,
                format!("{from} runs {program}, which is not found (moved or uninstalled?)"),
                Some(fix),
            ));
            continue;
        }
        if let Some(p) = missing_profile(ctx, words) {
            checks.push(Check::fail(
                TOOL,
                label,
                format!(
                    "cargo-credential-entra is run with -p {p}, but profile '{p}' does not exist"
                ),
                Some(super::missing_profile_fix(&p, &setup)),
            ));
            continue;
        }
        let ahead: Vec<String> = providers[pos + 1..].iter().map(|p| first_word(p)).collect();
        if !ahead.is_empty() {
            let saved = tokens_saved.iter().any(|t| t == name);
            let detail = format!(
                "cargo asks {} before cargo-credential-entra (later entries of {from} come first){}",
                ahead.join(", "),
                if saved {
                    format!("; credentials.toml holds a token for {name}, which wins")
                } else {
                    String::new()
                }
            );
            let fix = Some(format!(
                "move \"{OURS}\" to the end of {from} in {}{}",
                shown(&path),
                if saved {
                    format!(" and run cargo logout --registry {name}")
                } else {
                    String::new()
                }
            ));
            checks.push(if saved {
                Check::fail(TOOL, label, detail, fix)
            } else {
                Check::warn(TOOL, label, detail, fix)
            });
            continue;
        }
        checks.push(Check::ok(
            TOOL,
            label,
            format!("cargo uses cargo-credential-entra ({from})"),
        ));
    }
    if checks.is_empty() {
        checks.push(Check::warn(
            TOOL,
            "registries",
            format!(
                "not set up: no Azure Artifacts registry in {} uses cargo-credential-entra",
                shown(&path)
            ),
            Some(setup_generic),
        ));
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_hosts() {
        assert!(is_artifacts(
            "sparse+https://pkgs.dev.azure.com/o/_packaging/f/Cargo/index/"
        ));
        assert!(is_artifacts("https://o.pkgs.visualstudio.com/x"));
        assert!(!is_artifacts("sparse+https://index.crates.io/"));
        assert!(!is_artifacts("https://pkgs.visualstudio.com/x"));
    }
}
