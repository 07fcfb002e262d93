//! `entra-cred setup cargo [--registry NAME --index URL] [--remove] [--dry-run]`.
//!
//! Edits `$CARGO_HOME/config.toml` (default `~/.cargo/config.toml`) with `toml_edit`, so that
//! comments, order and layout stay:
//! - without `--registry`: appends `cargo-credential-entra` (with `-p P`) to
//!   `[registry] global-credential-providers` (the last entry is asked first), after cargo's own
//!   default `cargo:token` when the key was absent, so that registries entra-cred does not serve
//!   (it answers `url-not-supported`) fall through to cargo's built-in providers;
//! - with `--registry NAME --index URL`: `[registries.NAME]` with that `index` and
//!   `credential-provider = ["cargo-credential-entra"(, "-p", P)]`.
//!
//! `--remove` takes out only what setup writes: our provider entry; then the key when only the
//! `cargo:token` setup put before it is left, the `[registry]` table when it is empty; with
//! `--registry N` the registry's `credential-provider` when it is ours, and the registry when
//! only the `index` given with `--index` is left. Remove right after setup restores the file.

use super::{report, ConfigFile, Outcome};
use entra_cred_core::{Error, Result};
use std::path::{Path, PathBuf};
use toml_edit::{Array, DocumentMut, Item, Table, Value};

/// The provider's program name (cargo runs it from PATH).
pub const PROVIDER: &str = "cargo-credential-entra";
/// Cargo's default provider list when `global-credential-providers` is absent.
const CARGO_DEFAULT: &str = "cargo:token";

/// `setup cargo` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Configure only this registry (`[registries.NAME]`) instead of every registry.
    #[arg(long, value_name = "NAME", requires = "index")]
    pub registry: Option<String>,
    /// The registry's index URL: the `index` of `[registries.NAME]` (sparse+https://...)
    #[arg(long, value_name = "URL", requires = "registry")]
    pub index: Option<String>,
    /// Undo what this setup writes.
    #[arg(long)]
    pub remove: bool,
    /// Print the change as a diff on stdout; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `$CARGO_HOME/config.toml`, else `~/.cargo/config.toml` (the legacy `config` when only it exists).
pub fn config_path() -> Result<PathBuf> {
    let dir = match super::env_path("CARGO_HOME") {
        Some(d) => d,
        None => super::home()?.join(".cargo"),
    };
    let legacy = dir.join("config");
    if !dir.join("config.toml").exists() && legacy.is_file() {
        return Ok(legacy);
    }
    Ok(dir.join("config.toml"))
}

fn words(profile: Option<&str>) -> Vec<String> {
    let mut w = vec![PROVIDER.to_string()];
    if let Some(p) = profile {
        w.extend(["-p".to_string(), p.to_string()]);
    }
    w
}

/// Whether a global provider string (`"prog arg..."`) is ours.
fn is_ours(entry: &str) -> bool {
    entry.split_whitespace().next() == Some(PROVIDER)
}

fn table<'a>(doc: &'a mut Table, key: &str, path: &Path) -> Result<&'a mut Table> {
    let item = doc.entry(key).or_insert_with(|| {
        let mut t = Table::new();
        t.set_implicit(true);
        Item::Table(t)
    });
    item.as_table_mut()
        .ok_or_else(|| super::unparsable(path, &format!("`{key}` is not a table")))
}

/// The new text of the file after setup (or `--remove`).
pub fn edit(path: &Path, old: Option<&str>, args: &Args, profile: Option<&str>) -> Result<String> {
    let mut doc: DocumentMut = old
        .unwrap_or("")
        .parse()
        .map_err(|e: toml_edit::TomlError| super::unparsable(path, e.message()))?;
    let ours = words(profile);
    match (&args.registry, args.remove) {
        (None, false) => {
            let reg = table(doc.as_table_mut(), "registry", path)?;
            let list = reg
                .entry("global-credential-providers")
                .or_insert_with(|| Item::Value(Value::Array(Array::from_iter([CARGO_DEFAULT]))));
            let arr = list.as_array_mut().ok_or_else(|| {
                super::unparsable(path, "registry.global-credential-providers is not an array")
            })?;
            let line = ours.join(" ");
            if !arr.iter().any(|v| v.as_str() == Some(line.as_str())) {
                arr.retain(|v| !v.as_str().is_some_and(is_ours));
                arr.push(line);
            }
        }
        (None, true) => {
            if let Some(reg) = doc.get_mut("registry").and_then(Item::as_table_mut) {
                if let Some(arr) = reg
                    .get_mut("global-credential-providers")
                    .and_then(Item::as_array_mut)
                {
                    let before = arr.len();
                    arr.retain(|v| !v.as_str().is_some_and(is_ours));
                    let only_default =
                        arr.len() == 1 && arr.get(0).and_then(Value::as_str) == Some(CARGO_DEFAULT);
                    if arr.len() != before && only_default {
                        reg.remove("global-credential-providers");
                    }
                }
                if reg.is_empty() {
                    doc.remove("registry");
                }
            }
        }
        (Some(name), false) => {
            let index = args.index.as_deref().unwrap_or_default();
            if entra_cred_core::artifacts::index_host(index).is_none() {
                return Err(Error::Config(format!(
                    "--index {index}: expected the feed's https index URL, e.g. sparse+https://pkgs.dev.azure.com/ORG/_packaging/FEED/Cargo/index/"
                )));
            }
            let regs = table(doc.as_table_mut(), "registries", path)?;
            let t = regs
                .entry(name)
                .or_insert_with(|| Item::Table(Table::new()));
            let t = t.as_table_like_mut().ok_or_else(|| {
                super::unparsable(path, &format!("registries.{name} is not a table"))
            })?;
            match t.get("index").and_then(Item::as_str) {
                Some(i) if i != index => {
                    return Err(Error::Config(format!(
                    "registries.{name} in {} has the index {i}, not {index}: nothing was changed",
                    path.display()
                )))
                }
                Some(_) => {}
                None => {
                    t.insert("index", toml_edit::value(index));
                }
            }
            let wanted = Array::from_iter(ours.iter().map(String::as_str));
            let same = t
                .get("credential-provider")
                .and_then(Item::as_array)
                .is_some_and(|a| {
                    a.iter()
                        .map(Value::as_str)
                        .eq(wanted.iter().map(Value::as_str))
                });
            if !same {
                t.insert("credential-provider", toml_edit::value(wanted));
            }
        }
        (Some(name), true) => {
            let Some(regs) = doc.get_mut("registries").and_then(Item::as_table_like_mut) else {
                return Ok(old.unwrap_or("").to_string());
            };
            if let Some(t) = regs.get_mut(name).and_then(Item::as_table_like_mut) {
                let provider_ours = match t.get("credential-provider") {
                    Some(Item::Value(Value::Array(a))) => {
                        a.get(0).and_then(Value::as_str) == Some(PROVIDER)
                    }
                    Some(i) => i.as_str().is_some_and(is_ours),
                    None => false,
                };
                if provider_ours {
                    t.remove("credential-provider");
                    let only_index = t.len() == 1
                        && args.index.is_some()
                        && t.get("index").and_then(Item::as_str) == args.index.as_deref();
                    if only_index {
                        regs.remove(name);
                    }
                }
            }
            if regs.is_empty() {
                doc.remove("registries");
            }
        }
    }
    Ok(doc.to_string())
}

/// Runs `setup cargo`.
pub fn run(args: &Args, profile: Option<&str>) -> Result<()> {
    if !args.remove {
        super::check_profile(profile)?;
    }
    let file = ConfigFile::read(config_path()?)?;
    let new = edit(&file.target, file.old.as_deref(), args, profile)?;
    if args.remove && file.old.is_none() {
        report(
            Outcome::Unchanged,
            &file.path,
            "no cargo-credential-entra in it",
        );
        return Ok(());
    }
    let what = match (&args.registry, args.remove) {
        (None, false) => "cargo asks cargo-credential-entra first for every registry (others fall through to cargo:token)".to_string(),
        (Some(n), false) => format!("cargo uses cargo-credential-entra for registry '{n}'"),
        (None, true) => "cargo-credential-entra removed from registry.global-credential-providers".to_string(),
        (Some(n), true) => format!("cargo-credential-entra removed from registry '{n}'"),
    };
    file.apply(&new, args.dry_run, &what)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(registry: Option<&str>, index: Option<&str>, remove: bool) -> Args {
        Args {
            registry: registry.map(str::to_string),
            index: index.map(str::to_string),
            remove,
            dry_run: false,
        }
    }

    #[test]
    fn global_then_remove_restores_the_text() {
        let p = Path::new("config.toml");
        let old =
            "# my cargo config\n[net]\ngit-fetch-with-cli = true  # keep\n\n[build]\njobs = 2\n";
        let new = edit(p, Some(old), &args(None, None, false), Some("work")).unwrap();
        assert!(new.starts_with(old), "{new}");
        assert!(new.contains("global-credential-providers = [\"cargo:token\", \"cargo-credential-entra -p work\"]"), "{new}");
        assert_eq!(
            edit(p, Some(&new), &args(None, None, false), Some("work")).unwrap(),
            new
        );
        let back = edit(p, Some(&new), &args(None, None, true), None).unwrap();
        assert_eq!(back, old);
        assert_eq!(
            edit(p, Some(&back), &args(None, None, true), None).unwrap(),
            old
        );
    }

    #[test]
    fn global_keeps_other_providers() {
        let p = Path::new("c");
        let old =
            "[registry]\nglobal-credential-providers = [\"cargo:libsecret\"]\ndefault = \"x\"\n";
        let new = edit(p, Some(old), &args(None, None, false), None).unwrap();
        assert!(
            new.contains("[\"cargo:libsecret\", \"cargo-credential-entra\"]"),
            "{new}"
        );
        assert_eq!(
            edit(p, Some(&new), &args(None, None, true), None).unwrap(),
            old
        );
    }

    #[test]
    fn one_registry_then_remove() {
        let p = Path::new("c");
        let idx = "sparse+https://pkgs.dev.azure.com/o/_packaging/f/Cargo/index/";
        let old = "[registries.other]\nindex = \"sparse+https://example.com/\"\n";
        let new = edit(p, Some(old), &args(Some("az"), Some(idx), false), None).unwrap();
        assert!(new.contains("[registries.az]"), "{new}");
        assert!(
            new.contains("credential-provider = [\"cargo-credential-entra\"]"),
            "{new}"
        );
        assert_eq!(
            edit(p, Some(&new), &args(Some("az"), Some(idx), true), None).unwrap(),
            old
        );
        let e = edit(
            p,
            Some(&new),
            &args(
                Some("az"),
                Some("sparse+https://pkgs.dev.azure.com/x/"),
                false,
            ),
            None,
        );
        assert_eq!(e.unwrap_err().exit_code(), 2);
    }

    #[test]
    fn refuses_what_it_cannot_parse() {
        for bad in [
            "[registry",
            "registry = 1",
            "[registry]\nglobal-credential-providers = 3\n",
        ] {
            let e = edit(Path::new("c"), Some(bad), &args(None, None, false), None).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
        }
    }
}
