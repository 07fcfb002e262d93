//! `entra-cred doctor [-p P] [--output table|json] [--network]`: what is wired for each tool,
//! and what is wrong, with the command that fixes it.
//!
//! Read-only and fast: no sign-in, no prompt, no token requested. Each tool's own configuration
//! is read the way the tool reads it (git is asked itself); only names, paths and statuses are
//! reported, never a token, a secret or the content of a user's file. The few checks that may
//! wait (the keyring, and with `--network` DNS, the authority and its clock) run on a thread
//! with a bound of a few seconds each.
//!
//! One module per concern: [`git`], [`docker`], [`kubectl`], [`aws`], [`cargo`] (the tools),
//! [`identity`] (profile, source, sign-in, refresh token, keyring) and [`environment`]
//! (proxies, custom roots, and with `--network` reachability and clock offset).
//!
//! Status: `ok`; `warn` (worth knowing, nothing is broken: a tool that is not set up, a helper
//! that also receives our tokens); `fail` (a tool will not get its token, or a check shows it
//! would break). `ok` in the JSON and exit 0 mean: no `fail`.

pub mod aws;
pub mod cargo;
pub mod docker;
pub mod environment;
pub mod git;
pub mod identity;
pub mod kubectl;

use crate::TableJson;
use entra_cred_core::cli;
use entra_cred_core::config::{Config, Overrides, Profile};
use entra_cred_core::{Error, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// `doctor` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = TableJson::Table)]
    pub output: TableJson,
    /// Also check DNS, TLS reachability and the clock against the authority (a few seconds each).
    #[arg(long)]
    pub network: bool,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Fine.
    Ok,
    /// Worth knowing; nothing is broken.
    Warn,
    /// A tool will not get its token (or something would break).
    Fail,
}

impl Status {
    /// `ok`, `warn`, `fail`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Check {
    /// `git`, `docker`, `kubectl`, `aws`, `cargo`, `identity`, `environment`.
    pub tool: &'static str,
    /// What was checked (a URL, a registry, a kubeconfig user, ...).
    pub name: String,
    /// The verdict.
    pub status: Status,
    /// What was found (names, paths, statuses only).
    pub detail: String,
    /// The command that fixes it; `None` when there is nothing to do.
    pub fix: Option<String>,
}

impl Check {
    /// A check that passed.
    pub fn ok(tool: &'static str, name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(tool, name.into(), Status::Ok, detail.into(), None)
    }

    /// A warning with an optional fix.
    pub fn warn(
        tool: &'static str,
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: Option<String>,
    ) -> Check {
        Check::new(tool, name.into(), Status::Warn, detail.into(), fix)
    }

    /// A failure with its fix.
    pub fn fail(
        tool: &'static str,
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: Option<String>,
    ) -> Check {
        Check::new(tool, name.into(), Status::Fail, detail.into(), fix)
    }

    fn new(
        tool: &'static str,
        name: String,
        status: Status,
        detail: String,
        fix: Option<String>,
    ) -> Check {
        Check {
            tool,
            name,
            status,
            detail,
            fix,
        }
    }

    fn to_json(&self) -> Value {
        let mut v = json!({
            "tool": self.tool,
            "name": self.name,
            "status": self.status.name(),
            "detail": self.detail,
        });
        if let (Some(f), Some(m)) = (&self.fix, v.as_object_mut()) {
            m.insert("fix".into(), json!(f));
        }
        v
    }
}

/// What every check may need: the configuration, the chosen profile (when it resolves), the
/// `-p` flag as given (carried into fix commands).
pub struct Ctx {
    /// The entra-cred configuration (empty when the file is absent or invalid).
    pub config: Config,
    /// Why the configuration could not be loaded, when it could not.
    pub config_error: Option<String>,
    /// The chosen profile, when it resolves.
    pub profile: Option<Profile>,
    /// The `-p` flag as given.
    pub flag_profile: Option<String>,
    /// Every profile of the configuration that resolves (for host lists).
    pub all_profiles: Vec<Profile>,
}

impl Ctx {
    /// `entra-cred [-p P] ` for fix commands.
    pub fn entra_cred(&self) -> String {
        match &self.flag_profile {
            Some(p) => format!("entra-cred -p {} ", crate::setup::sh_quote(p)),
            None => "entra-cred ".into(),
        }
    }

    /// Every extra host of a kind, from every profile (file and environment).
    pub fn hosts(&self, pick: impl Fn(&Profile) -> &Vec<String>) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for p in &self.all_profiles {
            for h in pick(p) {
                if !v.contains(h) {
                    v.push(h.clone());
                }
            }
        }
        v
    }
}

/// Runs `doctor`. Exit 0 when no check failed, 1 otherwise.
pub fn run(o: &Overrides, args: &Args) -> Result<()> {
    let (config, config_error) = match Config::load() {
        Ok(c) => (c, None),
        Err(e) => (Config::default(), Some(e.to_string())),
    };
    let profile = if config_error.is_none() {
        config.profile(o).ok()
    } else {
        None
    };
    let all_profiles = config
        .profile_names()
        .into_iter()
        .filter_map(|n| {
            config
                .profile(&Overrides {
                    profile: Some(n),
                    ..o.clone()
                })
                .ok()
        })
        .collect();
    let ctx = Ctx {
        config,
        config_error,
        profile,
        flag_profile: o.profile.clone().filter(|p| !p.is_empty()),
        all_profiles,
    };
    let mut checks = Vec::new();
    checks.extend(git::checks(&ctx));
    checks.extend(docker::checks(&ctx));
    checks.extend(kubectl::checks(&ctx));
    checks.extend(aws::checks(&ctx));
    checks.extend(cargo::checks(&ctx));
    checks.extend(identity::checks(&ctx, o));
    checks.extend(environment::checks(&ctx, args.network));
    let ok = checks.iter().all(|c| c.status != Status::Fail);
    match args.output {
        TableJson::Json => {
            let doc = json!({
                "ok": ok,
                "checks": checks.iter().map(Check::to_json).collect::<Vec<_>>(),
            });
            cli::print(&format!("{doc:#}\n"))?;
        }
        TableJson::Table => cli::print(&table(&checks, ok))?,
    }
    let fails = checks.iter().filter(|c| c.status == Status::Fail).count();
    if ok {
        Ok(())
    } else {
        Err(Error::Other(format!(
            "doctor: {fails} problem{} need{} attention",
            if fails == 1 { "" } else { "s" },
            if fails == 1 { "s" } else { "" }
        )))
    }
}

/// The report for people: one line per check, the fix indented below it, a verdict at the end.
pub fn table(checks: &[Check], ok: bool) -> String {
    let mut out = String::new();
    for c in checks {
        let mark = match c.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        out.push_str(&format!(
            "{:<12} {mark}  {}: {}\n",
            c.tool, c.name, c.detail
        ));
        if let Some(f) = &c.fix {
            out.push_str(&format!("{:<19}fix: {f}\n", ""));
        }
    }
    let fails = checks.iter().filter(|c| c.status == Status::Fail).count();
    let warns = checks.iter().filter(|c| c.status == Status::Warn).count();
    out.push('\n');
    if ok {
        out.push_str(&format!(
            "All is well{}.\n",
            if warns > 0 {
                format!(" ({warns} note{} above)", if warns == 1 { "" } else { "s" })
            } else {
                String::new()
            }
        ));
    } else {
        out.push_str(&format!(
            "{fails} problem{} need{} attention (run the fix lines above){}.\n",
            if fails == 1 { "" } else { "s" },
            if fails == 1 { "s" } else { "" },
            if warns > 0 {
                format!("; {warns} note{}", if warns == 1 { "" } else { "s" })
            } else {
                String::new()
            }
        ));
    }
    out
}

/// Runs `f` on a thread and waits at most `limit` for it; `None` when it did not finish (the
/// thread is left behind: it ends with the process).
pub fn bounded<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("doctor-probe".into())
        .spawn(move || {
            let _ = tx.send(f());
        });
    if spawned.is_err() {
        return None;
    }
    rx.recv_timeout(limit).ok()
}

/// Where a program named in a tool's configuration is: an absolute or relative path as given
/// (when it is an executable file), else the first executable `name` on `PATH`.
pub fn find_program(word: &str) -> Option<PathBuf> {
    if word.is_empty() {
        return None;
    }
    if word.contains('/') || word.contains(std::path::MAIN_SEPARATOR) {
        let p = PathBuf::from(word);
        return is_executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(format!("{word}{}", std::env::consts::EXE_SUFFIX)))
        .find(|p| is_executable(p))
}

/// Whether `p` is a file that may be executed.
pub fn is_executable(p: &Path) -> bool {
    let Ok(m) = std::fs::metadata(p) else {
        return false;
    };
    if !m.is_file() {
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    true
}

/// The words of a command line as a POSIX shell would split it (quotes and backslashes; no
/// expansion). Used to find the program of a helper line.
pub fn shell_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for d in chars.by_ref() {
                    if d == '\'' {
                        break;
                    }
                    cur.push(d);
                }
            }
            '"' => {
                in_word = true;
                while let Some(d) = chars.next() {
                    match d {
                        '"' => break,
                        '\\' => {
                            if let Some(e) = chars.next() {
                                cur.push(e);
                            }
                        }
                        _ => cur.push(d),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(d) = chars.next() {
                    cur.push(d);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// `-p P` given to a helper on its command line (`-p P`, `-pP`, `--profile P`, `--profile=P`).
pub fn profile_arg(words: &[String]) -> Option<String> {
    let mut it = words.iter();
    while let Some(w) = it.next() {
        if w == "-p" || w == "--profile" {
            return it.next().cloned();
        }
        if let Some(v) = w.strip_prefix("--profile=") {
            return Some(v.to_string());
        }
        if let Some(v) = w
            .strip_prefix("-p")
            .filter(|v| !v.is_empty() && !w.starts_with("--"))
        {
            return Some(v.to_string());
        }
    }
    None
}

/// A check of a helper's `-p P` against the configuration: `None` when it names a profile that
/// exists (or none).
pub fn missing_profile(ctx: &Ctx, words: &[String]) -> Option<String> {
    let p = profile_arg(words)?;
    if ctx.config_error.is_some() {
        return None;
    }
    let o = Overrides {
        profile: Some(p.clone()),
        ..Default::default()
    };
    matches!(ctx.config.profile(&o), Err(Error::ProfileNotFound(_))).then_some(p)
}

/// How to put the directory of the installed helpers on `PATH`, for fix lines.
pub fn path_fix(binary: &str) -> String {
    match crate::setup::sibling_binary(binary).and_then(|p| p.parent().map(Path::to_path_buf)) {
        Some(dir) => format!(
            "export PATH=\"{}:$PATH\" (in your shell profile)",
            dir.display()
        ),
        None => format!("install entra-cred (install/install.sh) so that {binary} is on PATH"),
    }
}

/// A path for messages: `~/...` under the home directory.
pub fn shown(p: &Path) -> String {
    if let Some(home) = entra_cred_core::paths::home() {
        if let Ok(rest) = p.strip_prefix(&home) {
            return format!("~/{}", rest.display());
        }
    }
    p.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(
            shell_words(r#""/My Bin/x" -p 'a b' c\ d"#),
            vec!["/My Bin/x", "-p", "a b", "c d"]
        );
        assert_eq!(shell_words("  "), Vec::<String>::new());
        assert_eq!(shell_words("''"), vec![""]);
        let w = |s: &str| shell_words(s);
        assert_eq!(profile_arg(&w("x -p work")).as_deref(), Some("work"));
        assert_eq!(profile_arg(&w("x --profile=w2")).as_deref(), Some("w2"));
        assert_eq!(profile_arg(&w("x -pw3")).as_deref(), Some("w3"));
        assert_eq!(profile_arg(&w("x --scope s")), None);
    }

    #[test]
    fn table_verdicts() {
        let c = vec![
            Check::ok("git", "a", "fine"),
            Check::fail(
                "docker",
                "r",
                "broken",
                Some("entra-cred setup docker r".into()),
            ),
        ];
        let t = table(&c, false);
        assert!(t.contains("FAIL  r: broken"), "{t}");
        assert!(t.contains("fix: entra-cred setup docker r"), "{t}");
        assert!(t.contains("1 problem needs attention"), "{t}");
        assert!(table(&c[..1], true).contains("All is well."));
        let j = c[1].to_json();
        assert_eq!(j["status"], "fail");
        assert!(c[0].to_json().get("fix").is_none());
    }
}
