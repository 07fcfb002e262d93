//! `convert-kubeconfig` as a whole: find the kubeconfig ([`kubeconfig_path`]),
//! read it, convert its AKS users ([`super::convert()`]), write it back
//! ([`write_atomic`]; or not, with `--dry-run`) and say what happened. Shared by
//! `kubectl-entra convert-kubeconfig` and `entra-cred setup kubectl`, which
//! print the report on stdout.

use crate::kubeconfig;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Converts the kubeconfig `file` (default: KUBECONFIG's first file, else ~/.kube/config),
/// only the user of `context` when given, carrying `-p profile` into the written users.
/// Returns the report (one line per change, then the next step).
pub fn run(
    profile: Option<&str>,
    file: Option<&Path>,
    context: Option<&str>,
    dry_run: bool,
) -> Result<String> {
    let path = kubeconfig_path(file)?;
    let shown = path.display().to_string();
    let text = match std::fs::read(&path) {
        Ok(b) => String::from_utf8(b).map_err(|_| {
            Error::Config(format!("{shown} is not UTF-8 text; not changed"))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Config(format!(
                "kubeconfig {shown} does not exist (give --kubeconfig, or run `az aks get-credentials` first)"
            )))
        }
        Err(e) => return Err(Error::io("cannot read", &path, &e)),
    };
    let opts = kubeconfig::Options {
        context: context.map(str::to_string),
        profile: profile.map(str::to_string),
    };
    let out = kubeconfig::convert(&text, &opts).map_err(|e| match e {
        Error::Config(m) => Error::Config(format!("{shown}: {m}; the file was not changed")),
        other => other,
    })?;

    let mut report = String::new();
    for c in &out.changes {
        let verb = if dry_run {
            "would convert"
        } else {
            "converted"
        };
        report.push_str(&format!(
            "{verb} user '{}' ({} -> {} {})\n",
            c.user,
            c.from.describe(),
            kubeconfig::COMMAND,
            c.args.join(" ")
        ));
        for n in &c.notes {
            report.push_str(&format!("  note: {n}\n"));
        }
        if dry_run {
            for line in c.yaml.lines() {
                report.push_str(&format!("    {line}\n"));
            }
        }
    }
    for (u, why) in &out.skipped {
        report.push_str(&format!("left user '{u}' alone: {why}\n"));
    }
    match &out.text {
        None => {
            let detail = if out.already.is_empty() {
                "no user uses the azure auth-provider or kubelogin".to_string()
            } else {
                format!(
                    "{} already use{} kubectl-entra",
                    quote_list(&out.already),
                    if out.already.len() == 1 { "s" } else { "" }
                )
            };
            report.push_str(&format!("{shown}: nothing to change ({detail})\n"));
        }
        Some(new_text) => {
            // Only the converted users are rewritten in a block-style file; a whole rewrite
            // (other layouts) drops the comments below the leading block.
            let comments = |t: &str| t.lines().filter(|l| l.contains('#')).count();
            if kubeconfig::has_inner_comments(&text) && comments(new_text) < comments(&text) {
                report.push_str(&format!(
                    "note: comments inside {shown} (other than the leading block) are not kept\n"
                ));
            }
            if dry_run {
                report.push_str(&format!("dry run: {shown} was not written\n"));
            } else {
                write_atomic(&path, new_text)?;
                report.push_str(&format!("wrote {shown}\n"));
                report.push_str(&next_step(profile, &out.changes));
            }
        }
    }
    Ok(report)
}

fn quote_list(names: &[String]) -> String {
    let q: Vec<String> = names.iter().map(|n| format!("user '{n}'")).collect();
    q.join(", ")
}

/// The account of a sign-in that already serves this client id (one sign-in serves every
/// tenant), read from the cache without creating or changing anything.
fn signed_in(profile: Option<&str>, client_id: Option<&str>) -> Option<String> {
    let config = crate::config::Config::load().ok()?;
    let profile = config
        .profile(&crate::config::Overrides {
            profile: profile.map(str::to_string),
            client_id: client_id.map(str::to_string),
            ..Default::default()
        })
        .ok()?;
    if !crate::paths::cache_dir().is_some_and(|d| d.is_dir()) {
        return None;
    }
    let cache = crate::cache::Cache::open().ok()?;
    cache
        .sessions()
        .into_iter()
        .find(|s| {
            s.refresh_token.is_some()
                && s.authority.eq_ignore_ascii_case(&profile.authority)
                && s.client_id.eq_ignore_ascii_case(&profile.client_id)
        })
        .map(|s| {
            s.account
                .and_then(|a| a.username)
                .unwrap_or_else(|| "an unnamed account".into())
        })
}

/// What to run next: one `entra-cred login` per distinct session the users need (none for a
/// sign-in that already serves them).
fn next_step(profile: Option<&str>, changes: &[kubeconfig::Change]) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut signed: Vec<String> = Vec::new();
    for c in changes {
        let mut cmd = String::from("entra-cred login");
        if let Some(p) = profile {
            cmd.push_str(&format!(" -p {p}"));
        }
        let mut it = c.args.iter();
        let mut flow: Option<&str> = None;
        let mut client_id: Option<&str> = None;
        while let Some(a) = it.next() {
            match a.as_str() {
                // No --tenant: one sign-in serves every tenant the person may reach.
                "--client-id" => {
                    if let Some(v) = it.next() {
                        cmd.push_str(&format!(" {a} {v}"));
                        client_id = Some(v);
                    }
                }
                "--flow" => flow = it.next().map(String::as_str),
                _ => {}
            }
        }
        match flow {
            None | Some("device-code") => {}
            Some("browser") => cmd.push_str(" --flow browser"),
            // Application flows need no sign-in.
            Some(_) => continue,
        }
        if let Some(who) = signed_in(profile, client_id) {
            if !signed.contains(&who) {
                signed.push(who);
            }
            continue;
        }
        if !lines.contains(&cmd) {
            lines.push(cmd);
        }
    }
    let mut s = String::new();
    for who in signed {
        s.push_str(&format!(
            "already signed in as {who}: kubectl gets its tokens without a prompt\n"
        ));
    }
    if lines.is_empty() {
        return s;
    }
    s.push_str("next: sign in once (tokens then come without a prompt):\n");
    for l in lines {
        s.push_str(&format!("  {l}\n"));
    }
    s
}

/// The kubeconfig to convert: `flag`, else the first entry of `KUBECONFIG`
/// (a path list), else `~/.kube/config`.
pub fn kubeconfig_path(flag: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    if let Some(list) = std::env::var_os("KUBECONFIG") {
        if let Some(first) = std::env::split_paths(&list).find(|p| !p.as_os_str().is_empty()) {
            return Ok(first);
        }
    }
    let home = crate::paths::home()
        .ok_or_else(|| Error::Config("cannot find the home directory: give --kubeconfig".into()))?;
    Ok(home.join(".kube").join("config"))
}

/// Replaces the kubeconfig `path` with `text` (the one rule for users' configuration files,
/// [`crate::atomic::replace_config`]: a symlink's target is written, its mode kept).
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    crate::atomic::replace_config(path, text.as_bytes(), 0o600)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_keeps_mode() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config");
        std::fs::write(&p, "old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&p, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
