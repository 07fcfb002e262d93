//! `entra-cred setup git|docker|kubectl|aws`: wire the helpers into each tool's own
//! configuration file, idempotently, keeping everything else in the file.
//!
//! Shared rules (SPEC.md "entra-cred"): a second run changes nothing and says so; `--dry-run`
//! prints the change (a unified diff) on stdout and writes nothing; a file that cannot be parsed
//! is refused with one line (exit 2) and left untouched; files are replaced atomically (temporary
//! file in the same directory, then `rename`) with their mode kept; a symlinked file is edited at
//! its target so dotfile managers keep their link. Messages go to stderr.
//!
//! No setup copies a user's file anywhere but beside it: the only file ever created is the
//! temporary one [`write_atomic`] makes in the file's own directory, with the file's mode
//! ([`NEW_FILE_MODE`] for a new file), and `--dry-run` creates nothing at all.
//!
//! `--remove` (git, docker, aws; the shape for any setup that edits a file): the tool's module
//! has a pure `remove(old text) -> new text` that takes out exactly what its `add` writes (so
//! that setup then `--remove` gives the original bytes back, and a second `--remove` finds
//! nothing), then ends with [`ConfigFile::apply_removal`] as setup ends with [`ConfigFile::apply`].

pub mod aws;
pub mod cargo;
pub mod diff;
pub mod docker;
pub mod git;
pub mod gitconfig;
pub mod kubectl;
#[cfg(test)]
mod test_support;

use clap::Subcommand;
use entra_cred_core::{Error, Result};
use std::fs;
use std::path::{Path, PathBuf};

/// The tools `setup` knows.
#[derive(Subcommand)]
pub enum Tool {
    /// Credential helper for Azure Repos in the global git config.
    Git(git::Args),
    /// `credHelpers` entries for registries in ~/.docker/config.json.
    Docker(docker::Args),
    /// Convert a kubeconfig's AKS users to `kubectl-entra` (as `kubectl-entra convert-kubeconfig`).
    Kubectl(kubectl::Args),
    /// `credential_process` for an AWS profile in ~/.aws/config.
    Aws(aws::Args),
    /// cargo-credential-entra in $CARGO_HOME/config.toml (every registry, or one with --registry).
    Cargo(cargo::Args),
}

/// Runs one setup. `profile` is the `-p` flag as given (only the flag is carried into the
/// written lines: `ENTRA_CRED_PROFILE` may not be set where the tool runs later).
pub fn run(tool: &Tool, profile: Option<&str>) -> Result<()> {
    let profile = profile.filter(|p| !p.is_empty());
    match tool {
        Tool::Git(a) => git::run(a, profile),
        Tool::Docker(a) => docker::run(a, profile),
        Tool::Kubectl(a) => kubectl::run(a, profile),
        Tool::Aws(a) => aws::run(a, profile),
        Tool::Cargo(a) => cargo::run(a, profile),
    }
}

/// The mode of a file a setup creates (temporary files take the existing file's mode).
pub const NEW_FILE_MODE: u32 = 0o600;

/// A sibling binary of the running `entra-cred` (the installed helpers live side by side).
pub fn sibling_binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let p = exe
        .parent()?
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    p.is_file().then_some(p)
}

/// Checks that `-p P` names a profile that exists (or `default`), so that no line is written
/// that would fail later with "profile not found".
pub fn check_profile(profile: Option<&str>) -> Result<entra_cred_core::config::Config> {
    let config = entra_cred_core::config::Config::load()?;
    if let Some(p) = profile {
        config.profile(&entra_cred_core::Overrides {
            profile: Some(p.to_string()),
            ..Default::default()
        })?;
    }
    Ok(config)
}

/// `$HOME`, or a configuration error.
pub fn home() -> Result<PathBuf> {
    entra_cred_core::paths::home()
        .ok_or_else(|| Error::Config("HOME is not set: cannot find the configuration files".into()))
}

/// An environment variable as a path, treating empty as unset.
pub fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// A file that cannot be parsed: exit 2, nothing changed.
pub fn unparsable(path: &Path, why: &str) -> Error {
    Error::Config(format!(
        "cannot parse {}: {}; nothing was changed (fix the file, or move it away and run setup again)",
        path.display(),
        entra_cred_core::error::one_line(why)
    ))
}

/// Reads a text file: `None` when it does not exist; a file that is not UTF-8 cannot be parsed.
pub fn read_text(path: &Path) -> Result<Option<String>> {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| unparsable(path, "it is not UTF-8 text")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("cannot read", path, &e)),
    }
}

/// The path to write: a symlink is followed to its target (the core's rule for users' files).
pub use entra_cred_core::atomic::write_target;

/// Replaces `path` with `data` atomically, keeping the old file's mode (else `new_mode`)
/// and following a symlink: [`entra_cred_core::atomic::replace_config`].
pub fn write_atomic(path: &Path, data: &[u8], new_mode: u32) -> Result<()> {
    entra_cred_core::atomic::replace_config(path, data, new_mode)
}

/// What happened to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Already as wanted; nothing written.
    Unchanged,
    /// `--dry-run`: the diff was printed, nothing written.
    WouldChange,
    /// Written.
    Changed,
}

/// Applies a whole-file change: no change → says so; `--dry-run` → diff on stdout; else writes.
pub fn apply(
    path: &Path,
    old: Option<&str>,
    new: &str,
    dry_run: bool,
    new_mode: u32,
) -> Result<Outcome> {
    if old == Some(new) || (old.is_none() && new.is_empty()) {
        return Ok(Outcome::Unchanged);
    }
    if dry_run {
        print_diff(path, old, new)?;
        return Ok(Outcome::WouldChange);
    }
    write_atomic(path, new.as_bytes(), new_mode)?;
    Ok(Outcome::Changed)
}

/// Prints the unified diff of a change on stdout.
pub fn print_diff(path: &Path, old: Option<&str>, new: &str) -> Result<()> {
    let shown = path.display().to_string();
    let text = diff::unified(
        if old.is_some() { &shown } else { "/dev/null" },
        &shown,
        old.unwrap_or(""),
        new,
    );
    entra_cred_core::cli::print(&text)
}

/// The standard closing message of a setup on stderr (`what` says what the file now does).
pub fn report(outcome: Outcome, path: &Path, what: &str) {
    match outcome {
        Outcome::Unchanged => eprintln!(
            "{} is already set up ({what}): nothing changed.",
            path.display()
        ),
        changed => report_change(changed, path, what),
    }
}

/// The closing message of a `--remove` on stderr (`what` says what was taken out).
pub fn report_removed(outcome: Outcome, path: &Path, what: &str) {
    match outcome {
        Outcome::Unchanged => eprintln!(
            "{}: nothing to remove ({what}): nothing changed.",
            path.display()
        ),
        changed => report_change(changed, path, what),
    }
}

/// The closing message of a change, the same for setup and `--remove`.
fn report_change(outcome: Outcome, path: &Path, what: &str) {
    if outcome == Outcome::WouldChange {
        eprintln!(
            "dry run: {} would be changed as shown above ({what}); nothing was written.",
            path.display()
        );
    } else {
        eprintln!("Updated {}: {what}.", path.display());
    }
}

/// A tool's configuration file as a setup found it: every setup that edits a file reads it
/// with [`ConfigFile::read`], computes the new text from [`ConfigFile::old_text`], then ends
/// with [`ConfigFile::apply`] (or [`ConfigFile::apply_removal`] for `--remove`).
pub struct ConfigFile {
    /// The path as named (the one the closing message shows).
    pub path: PathBuf,
    /// Where it is read and written: [`write_target`] of `path`.
    pub target: PathBuf,
    /// Its text before the change; `None` when it does not exist.
    pub old: Option<String>,
}

impl ConfigFile {
    /// Reads `path` at its [`write_target`] ([`read_text`]: a missing file has no text, one
    /// that is not UTF-8 is refused).
    pub fn read(path: PathBuf) -> Result<ConfigFile> {
        let target = write_target(&path);
        let old = read_text(&target)?;
        Ok(ConfigFile { path, target, old })
    }

    /// The text before the change (empty when the file does not exist).
    pub fn old_text(&self) -> &str {
        self.old.as_deref().unwrap_or("")
    }

    /// [`apply`]s `new` (a new file gets [`NEW_FILE_MODE`]) and [`report`]s `what` the file
    /// now does.
    pub fn apply(&self, new: &str, dry_run: bool, what: &str) -> Result<Outcome> {
        self.apply_then(new, dry_run, what, report)
    }

    /// [`apply`]s the text a `--remove` made and reports `what` was taken out
    /// ([`report_removed`]).
    pub fn apply_removal(&self, new: &str, dry_run: bool, what: &str) -> Result<Outcome> {
        self.apply_then(new, dry_run, what, report_removed)
    }

    fn apply_then(
        &self,
        new: &str,
        dry_run: bool,
        what: &str,
        say: fn(Outcome, &Path, &str),
    ) -> Result<Outcome> {
        let outcome = apply(
            &self.target,
            self.old.as_deref(),
            new,
            dry_run,
            NEW_FILE_MODE,
        )?;
        say(outcome, &self.path, what);
        Ok(outcome)
    }
}

/// Quotes a word for a POSIX shell (and for Python's `shlex.split`, which reads single quotes
/// the same way). Words of safe characters stay bare.
pub fn sh_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '_' | '-' | '.' | '/' | ':' | '@' | '%' | '+' | '=' | ',')
        });
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r#"'"'"'"#))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(sh_quote("abc/-x.y"), "abc/-x.y");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), r#"'it'"'"'s'"#);
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("$x"), "'$x'");
    }
}
