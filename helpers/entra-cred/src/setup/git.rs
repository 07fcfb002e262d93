//! `entra-cred setup git [--host H]... [--dry-run]`.
//!
//! Writes, in the global git config, for each URL it wires (`https://dev.azure.com`,
//! `https://*.visualstudio.com`, and each `--host`):
//!
//! ```text
//! [credential "https://dev.azure.com"]
//!     helper =
//!     helper = /abs/path/git-credential-entra [-p P]
//!     useHttpPath = true
//! ```
//!
//! The empty `helper =` resets the list of helpers that git collected so far (system config,
//! a generic `credential.helper = manager` or `store`) for those URLs only, so that no other
//! helper races ours or offers a stale PAT; other hosts keep their helpers. `useHttpPath` lets
//! git send the path, whose first segment is the organisation (not needed on
//! `*.visualstudio.com`, where the organisation is the subdomain). Git 2.47 matches
//! `https://*.visualstudio.com` against one subdomain label (its URL matching is shared with
//! `http.<url>.*`).
//!
//! The edit is done by `git config --file` on a copy of the file, then renamed over it: git
//! writes its own syntax, and `--dry-run` shows the exact diff.

use super::{report, Outcome};
use entra_cred_core::config::{is_loopback_host, split_hosts, HostKind};
use entra_cred_core::{Error, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `setup git` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Another Azure DevOps host (`host` or `host:port`; loopback hosts use http). Repeatable.
    #[arg(long = "host", value_name = "H")]
    pub hosts: Vec<String>,
    /// Print the change as a diff on stdout; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// The URLs wired by default.
pub const DEFAULT_URLS: [&str; 2] = ["https://dev.azure.com", "https://*.visualstudio.com"];

/// One `[credential "<url>"]` section to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wire {
    /// The URL (`https://dev.azure.com`, ...).
    pub url: String,
    /// Whether to set `useHttpPath = true`.
    pub use_http_path: bool,
}

/// The URL for a `--host` value: `host[:port]`, optionally with a scheme; `http` only on loopback.
pub fn host_url(raw: &str) -> Result<String> {
    let raw = raw.trim();
    let (scheme, rest) = match raw.split_once("://") {
        Some((s, r)) => (Some(s.to_ascii_lowercase()), r),
        None => (None, raw),
    };
    let host = rest.trim_end_matches('/').to_ascii_lowercase();
    let bad = host.is_empty()
        || host.contains('/')
        || host.contains('@')
        || host.chars().any(|c| c.is_whitespace() || c.is_control());
    if bad {
        return Err(Error::Config(format!(
            "--host '{}' is not a host or host:port",
            entra_cred_core::error::one_line(raw)
        )));
    }
    let bare = bare_host(&host);
    let loopback = is_loopback_host(bare);
    let scheme = match scheme.as_deref() {
        None if loopback => "http",
        None | Some("https") => "https",
        Some("http") if loopback => "http",
        Some("http") => {
            return Err(Error::Config(format!(
                "--host {raw}: http is accepted only for loopback hosts; use https"
            )))
        }
        Some(other) => {
            return Err(Error::Config(format!(
                "--host {raw}: unsupported scheme '{other}' (use host or host:port)"
            )))
        }
    };
    Ok(format!("{scheme}://{host}"))
}

/// `host` without its port (`[::1]:8080` → `[::1]`).
fn bare_host(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.split(':').next().unwrap_or(host)
}

/// The sections to write for these `--host` values.
pub fn wires(hosts: &[String]) -> Result<Vec<Wire>> {
    let mut out = vec![
        Wire {
            url: DEFAULT_URLS[0].into(),
            use_http_path: true,
        },
        Wire {
            url: DEFAULT_URLS[1].into(),
            use_http_path: false,
        },
    ];
    for h in hosts {
        let url = host_url(h)?;
        if !out.iter().any(|w| w.url == url) {
            out.push(Wire {
                url,
                use_http_path: true,
            });
        }
    }
    Ok(out)
}

/// The `helper` value: the absolute path of the installed helper (quoted for git's shell when
/// needed with git's `!` form), else `entra` (git then runs `git credential-entra` from PATH).
pub fn helper_value(helper: Option<&Path>, profile: Option<&str>) -> String {
    let args = profile
        .map(|p| format!(" -p {}", super::sh_quote(p)))
        .unwrap_or_default();
    match helper {
        Some(p) => {
            let s = p.to_string_lossy();
            let quoted = super::sh_quote(&s);
            if quoted == s {
                format!("{s}{args}")
            } else {
                // git runs an absolute path through the shell without quoting it; `!` lets us quote.
                format!("!{quoted}{args}")
            }
        }
        None => format!("entra{args}"),
    }
}

/// Whether a helper value is (some version of) ours.
fn is_ours(h: &str) -> bool {
    h.contains("git-credential-entra") || h == "entra" || h.starts_with("entra ")
}

/// The global config file git writes with `--global`: `$GIT_CONFIG_GLOBAL`, else `~/.gitconfig`,
/// except that git writes the XDG file when it exists and `~/.gitconfig` does not.
pub fn global_config_path() -> Result<PathBuf> {
    if let Some(p) = super::env_path("GIT_CONFIG_GLOBAL") {
        return Ok(p);
    }
    let home = super::home()?;
    let user = home.join(".gitconfig");
    let xdg = super::env_path("XDG_CONFIG_HOME")
        .unwrap_or_else(|| home.join(".config"))
        .join("git")
        .join("config");
    Ok(if !user.exists() && xdg.exists() {
        xdg
    } else {
        user
    })
}

fn git(args: &[&str], file: &Path) -> Result<std::process::Output> {
    Command::new("git")
        .arg("config")
        .arg("--file")
        .arg(file)
        .args(args)
        .env_remove("GIT_CONFIG_PARAMETERS")
        .env_remove("GIT_CONFIG_COUNT")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            Error::Other(format!(
                "cannot run git ({e}); install git, then run `entra-cred setup git` again"
            ))
        })
}

fn first_line(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    s.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim_start_matches("fatal: ")
        .trim_start_matches("error: ")
        .to_string()
}

fn get_all(file: &Path, key: &str) -> Result<Vec<String>> {
    let out = git(&["--get-all", key], file)?;
    match out.status.code() {
        Some(0) => Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()),
        Some(1) => Ok(Vec::new()),
        _ => Err(super::unparsable(file, &first_line(&out.stderr))),
    }
}

fn get_bool(file: &Path, key: &str) -> Result<Option<bool>> {
    let out = git(&["--type=bool", "--get", key], file)?;
    match out.status.code() {
        Some(0) => Ok(Some(String::from_utf8_lossy(&out.stdout).trim() == "true")),
        Some(1) => Ok(None),
        // A value that is not a boolean: we will overwrite it.
        _ => Ok(Some(false)),
    }
}

fn set(file: &Path, args: &[&str]) -> Result<()> {
    let out = git(args, file)?;
    // 5 = `--unset-all` of a key that is not there.
    if out.status.success()
        || (args.first() == Some(&"--unset-all") && out.status.code() == Some(5))
    {
        Ok(())
    } else {
        Err(Error::Other(format!(
            "git config {} failed: {}",
            args.join(" "),
            first_line(&out.stderr)
        )))
    }
}

/// Runs `setup git`.
pub fn run(args: &Args, profile: Option<&str>) -> Result<()> {
    let config = super::check_profile(profile)?;
    let wires = wires(&args.hosts)?;
    let helper_path = super::sibling_binary("git-credential-entra");
    let helper = helper_value(helper_path.as_deref(), profile);
    let path = global_config_path()?;
    let target = super::write_target(&path);

    let old = super::read_text(&target)?;
    if old.is_some() {
        // Refuse a file git itself cannot read, before anything else.
        let out = git(&["--list"], &target)?;
        if !out.status.success() {
            return Err(super::unparsable(&target, &first_line(&out.stderr)));
        }
    }

    // What needs doing, read from the file itself (other scopes are not ours to change).
    let want_helpers = vec![String::new(), helper.clone()];
    let mut edits: Vec<Vec<String>> = Vec::new();
    let mut replaced: Vec<String> = Vec::new();
    for w in &wires {
        let key = format!("credential.{}.helper", w.url);
        let have = if old.is_some() {
            get_all(&target, &key)?
        } else {
            Vec::new()
        };
        if have != want_helpers {
            replaced.extend(
                have.iter()
                    .filter(|h| !h.is_empty() && !is_ours(h))
                    .map(|h| format!("{h} (for {})", w.url)),
            );
            if have.len() == 2 && have[0].is_empty() && !have[1].is_empty() {
                // Only the helper line differs (another path or profile): replace it in place.
                edits.push(vec![
                    "--fixed-value".into(),
                    "--replace-all".into(),
                    key,
                    helper.clone(),
                    have[1].clone(),
                ]);
            } else {
                edits.push(vec!["--unset-all".into(), key.clone()]);
                edits.push(vec!["--add".into(), key.clone(), String::new()]);
                edits.push(vec!["--add".into(), key, helper.clone()]);
            }
        }
        if w.use_http_path {
            let key = format!("credential.{}.useHttpPath", w.url);
            let have = if old.is_some() {
                get_bool(&target, &key)?
            } else {
                None
            };
            if have != Some(true) {
                edits.push(vec!["--replace-all".into(), key, "true".into()]);
            }
        }
    }

    let urls: Vec<&str> = wires.iter().map(|w| w.url.as_str()).collect();
    let what = format!(
        "git asks git-credential-entra{} for {}",
        profile.map(|p| format!(" -p {p}")).unwrap_or_default(),
        urls.join(", ")
    );
    let outcome = if edits.is_empty() {
        Outcome::Unchanged
    } else {
        // Edit a copy with git itself, then diff or rename it over the file.
        // The scratch copy lives in the temp dir: a dry run creates nothing next to the file.
        let tmp =
            std::env::temp_dir().join(super::temp_path(&target)?.file_name().unwrap_or_default());
        let result = (|| {
            std::fs::write(&tmp, old.as_deref().unwrap_or(""))
                .map_err(|e| Error::io("cannot write", &tmp, &e))?;
            for e in &edits {
                let a: Vec<&str> = e.iter().map(String::as_str).collect();
                set(&tmp, &a)?;
            }
            let new =
                std::fs::read_to_string(&tmp).map_err(|e| Error::io("cannot read", &tmp, &e))?;
            let outcome = super::apply(&target, old.as_deref(), &new, args.dry_run, 0o644)?;
            Ok(outcome)
        })();
        let _ = std::fs::remove_file(&tmp);
        result?
    };
    report(outcome, &path, &what);

    if outcome != Outcome::Unchanged {
        for r in &replaced {
            eprintln!("note: replaced the helper {r}");
        }
    }
    if helper_path.is_none() {
        eprintln!(
            "note: git-credential-entra is not installed next to entra-cred; git will run `git credential-entra` from PATH"
        );
    }
    // Extra hosts are served only when listed in git_hosts / ENTRA_CRED_GIT_HOSTS.
    let env_hosts = entra_cred_core::config::env_var("ENTRA_CRED_GIT_HOSTS")
        .map(|v| split_hosts(&v))
        .unwrap_or_default();
    for w in wires.iter().skip(DEFAULT_URLS.len()) {
        let host = w.url.split_once("://").map(|x| x.1).unwrap_or(&w.url);
        if let Some(p) = config.profile_for_host(host, HostKind::Git) {
            if profile.is_some_and(|chosen| chosen != p) {
                eprintln!(
                    "note: {host} is listed in git_hosts of profile '{p}', but git will pass -p {}",
                    profile.unwrap_or_default()
                );
            }
        } else if env_hosts.iter().any(|h| h == host) {
            eprintln!(
                "note: {host} is served because ENTRA_CRED_GIT_HOSTS lists it: set it wherever git runs, or add git_hosts = [\"{host}\"] to a profile in {}",
                config_path_shown(&config)
            );
        } else {
            eprintln!(
                "warning: git-credential-entra serves {host} only when it is listed in git_hosts: add git_hosts = [\"{host}\"] to [profiles.{}] in {} (or set ENTRA_CRED_GIT_HOSTS={host})",
                profile.unwrap_or("default"),
                config_path_shown(&config)
            );
        }
    }
    Ok(())
}

/// The entra-cred config file's path for messages.
pub fn config_path_shown(config: &entra_cred_core::config::Config) -> String {
    config
        .path()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "~/.config/entra-cred/config.toml".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_urls() {
        assert_eq!(host_url("git.example").unwrap(), "https://git.example");
        assert_eq!(
            host_url("Git.Example:8443").unwrap(),
            "https://git.example:8443"
        );
        assert_eq!(host_url("127.0.0.1:8080").unwrap(), "http://127.0.0.1:8080");
        assert_eq!(host_url("localhost").unwrap(), "http://localhost");
        assert_eq!(host_url("[::1]:9").unwrap(), "http://[::1]:9");
        assert_eq!(
            host_url("https://127.0.0.1:1/").unwrap(),
            "https://127.0.0.1:1"
        );
        assert!(host_url("http://git.example").is_err());
        assert!(host_url("ftp://git.example").is_err());
        assert!(host_url("a/b").is_err());
        assert!(host_url("").is_err());
    }

    #[test]
    fn helper_values() {
        let p = Path::new("/opt/bin/git-credential-entra");
        assert_eq!(helper_value(Some(p), None), "/opt/bin/git-credential-entra");
        assert_eq!(
            helper_value(Some(p), Some("work")),
            "/opt/bin/git-credential-entra -p work"
        );
        assert_eq!(
            helper_value(
                Some(Path::new("/My Tools/git-credential-entra")),
                Some("a b")
            ),
            "!'/My Tools/git-credential-entra' -p 'a b'"
        );
        assert_eq!(helper_value(None, None), "entra");
    }

    #[test]
    fn default_and_extra_wires() {
        let w = wires(&["git.example".into(), "git.example".into()]).unwrap();
        assert_eq!(w.len(), 3);
        assert!(w[0].use_http_path && !w[1].use_http_path && w[2].use_http_path);
    }
}
