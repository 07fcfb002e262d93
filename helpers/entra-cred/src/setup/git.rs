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
//! The edit is made on the text (see `gitconfig`), in git's own syntax, without a copy of the
//! file anywhere; git itself checks the result (reading it on stdin) before the file is
//! replaced, with a temporary file beside it. `--remove` takes out exactly those lines.

use super::{gitconfig, ConfigFile, Outcome};
use entra_cred_core::config::{is_loopback_host, split_hosts, HostKind};
use entra_cred_core::hostport::bare_host;
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
    /// Take git-credential-entra out of the git config again (every URL it was set up for).
    #[arg(long)]
    pub remove: bool,
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

/// Runs `git config --file - --no-includes ARGS` with `text` on stdin: git reads the text
/// without any file being written.
fn git_stdin(args: &[&str], text: &str) -> Result<std::process::Output> {
    use std::io::Write;
    let mut child = Command::new("git")
        .args(["config", "--file", "-", "--no-includes"])
        .args(args)
        .env_remove("GIT_CONFIG_PARAMETERS")
        .env_remove("GIT_CONFIG_COUNT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::Other(format!(
                "cannot run git ({e}); install git, then run `entra-cred setup git` again"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // git may exit before reading everything (a parse error): that is its answer.
        let _ = stdin.write_all(text.as_bytes());
    }
    child
        .wait_with_output()
        .map_err(|e| Error::Other(format!("cannot run git: {e}")))
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

/// `git config --list` of a text (`--no-includes`: only this file's own lines); an error when
/// git cannot read it.
fn list(path: &Path, text: &str) -> Result<Vec<String>> {
    let out = git_stdin(&["--list"], text)?;
    if !out.status.success() {
        return Err(super::unparsable(
            path,
            &first_line(&out.stderr).replace("standard input", "the file"),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

/// Whether a `--list` line is a key setup owns (`credential.<url>.helper` / `.usehttppath`).
fn owned_key(line: &str) -> bool {
    let key = line.split('=').next().unwrap_or("").to_ascii_lowercase();
    key.starts_with("credential.") && (key.ends_with(".helper") || key.ends_with(".usehttppath"))
}

/// Checks with git itself that `new` says what we meant and that every line setup does not own
/// reads as before; otherwise nothing is written.
fn verify(path: &Path, old: &str, new: &str, check: impl Fn(&[String]) -> bool) -> Result<()> {
    let before = list(path, old)?;
    let after = list(path, new)?;
    let rest =
        |l: &[String]| -> Vec<String> { l.iter().filter(|x| !owned_key(x)).cloned().collect() };
    if rest(&before) != rest(&after) || !check(&after) {
        return Err(Error::Config(format!(
            "cannot edit {} safely (its [credential] sections use a syntax this edit does not handle); nothing was changed: edit it with `git config --global`",
            path.display()
        )));
    }
    Ok(())
}

/// The text with each wire's sections set up: `helper =` (reset), `helper = <ours>` and, when
/// wanted, `useHttpPath = true`. Lines are changed in place where they exist; a missing section
/// is appended. Returns the new text and the other helpers that were replaced.
pub fn add(old: &str, wires: &[Wire], helper: &str) -> (String, Vec<String>) {
    let mut text = old.to_string();
    let mut replaced = Vec::new();
    for w in wires {
        let want = [Some(String::new()), Some(helper.to_string())];
        let doc = gitconfig::Doc::parse(&text);
        let nl = doc.nl;
        let have = doc.values("credential", &w.url, "helper");
        let mut next = None;
        if have != want {
            replaced.extend(
                have.iter()
                    .flatten()
                    .filter(|h| !h.is_empty() && !is_ours(h))
                    .map(|h| format!("{h} (for {})", w.url)),
            );
            let helpers: Vec<&gitconfig::Entry> = doc
                .find("credential", &w.url)
                .flat_map(|s| s.entries.iter())
                .filter(|e| e.key == "helper")
                .collect();
            let line = |e: &gitconfig::Entry, v: &str| {
                let ind = gitconfig::indent_of(doc.lines[e.lines.start]);
                format!("{ind}helper = {}{nl}", gitconfig::quote(v))
            };
            if have.len() == 2 && have[0].as_deref() == Some("") && have[1].is_some() {
                // Only the helper line differs (another path or profile): replace it in place.
                next = Some(doc.render(
                    std::slice::from_ref(&helpers[1].lines),
                    &[(helpers[1].lines.start, line(helpers[1], helper))],
                ));
            } else if let Some(first) = helpers.first() {
                let drop: Vec<_> = helpers.iter().map(|e| e.lines.clone()).collect();
                let text = format!("{}{}", line(first, ""), line(first, helper));
                next = Some(doc.render(&drop, &[(first.lines.start, text)]));
            } else if let Some(s) = doc.find("credential", &w.url).last() {
                let at = s
                    .entries
                    .last()
                    .map(|e| e.lines.end)
                    .unwrap_or(s.header + 1);
                let text = format!("\thelper = {nl}\thelper = {}{nl}", gitconfig::quote(helper));
                next = Some(doc.render(&[], &[(at, text)]));
            } else {
                let mut t = format!(
                    "{}{nl}\thelper = {nl}\thelper = {}{nl}",
                    gitconfig::header("credential", &w.url),
                    gitconfig::quote(helper)
                );
                if w.use_http_path {
                    t.push_str(&format!("\tuseHttpPath = true{nl}"));
                }
                next = Some(doc.render(&[], &[(doc.lines.len(), t)]));
            }
        }
        if let Some(n) = next {
            text = n;
        }
        if w.use_http_path {
            let doc = gitconfig::Doc::parse(&text);
            let nl = doc.nl;
            let have = doc.values("credential", &w.url, "usehttppath");
            if !(have.len() == 1 && gitconfig::is_true(&have[0])) {
                let entries: Vec<&gitconfig::Entry> = doc
                    .find("credential", &w.url)
                    .flat_map(|s| s.entries.iter())
                    .collect();
                let old_lines: Vec<_> = entries
                    .iter()
                    .filter(|e| e.key == "usehttppath")
                    .map(|e| e.lines.clone())
                    .collect();
                // In place of the first old line, else right after our helper line.
                let at = old_lines.first().map(|r| r.start).or_else(|| {
                    entries
                        .iter()
                        .rfind(|e| e.key == "helper")
                        .map(|e| e.lines.end)
                });
                if let Some(at) = at {
                    let ind = doc
                        .lines
                        .get(at)
                        .map(|l| gitconfig::indent_of(l))
                        .unwrap_or("\t");
                    text = doc.render(&old_lines, &[(at, format!("{ind}useHttpPath = true{nl}"))]);
                }
            }
        }
    }
    (text, replaced)
}

/// The text without what [`add`] writes: in every `[credential "<url>"]` section, our
/// `helper = <git-credential-entra ...>` line, the `helper =` reset right before it and the
/// `useHttpPath = true` right after it; a section left with nothing in it goes too. Returns the
/// new text and the URLs it unwired.
pub fn remove(old: &str) -> (String, Vec<String>) {
    let doc = gitconfig::Doc::parse(old);
    let mut drop: Vec<std::ops::Range<usize>> = Vec::new();
    let mut urls = Vec::new();
    for s in doc
        .sections
        .iter()
        .filter(|s| s.name == "credential" && s.sub.is_some())
    {
        let e = &s.entries;
        let mut mine = vec![false; e.len()];
        for i in 0..e.len() {
            let ours = e[i].key == "helper" && e[i].value.as_deref().is_some_and(is_ours);
            if !ours {
                continue;
            }
            mine[i] = true;
            if i > 0
                && e[i - 1].key == "helper"
                && e[i - 1].value.as_deref() == Some("")
                && e[i - 1].lines.end == e[i].lines.start
            {
                mine[i - 1] = true;
            }
            if i + 1 < e.len()
                && e[i + 1].key == "usehttppath"
                && gitconfig::is_true(&e[i + 1].value)
                && e[i + 1].lines.start == e[i].lines.end
            {
                mine[i + 1] = true;
            }
        }
        if !mine.contains(&true) {
            continue;
        }
        urls.push(s.sub.clone().unwrap_or_default());
        let last_mine = e
            .iter()
            .zip(&mine)
            .filter(|(_, m)| **m)
            .map(|(x, _)| x.lines.end)
            .max()
            .unwrap_or(s.header + 1);
        // The whole section goes when everything in it up to our last line was ours.
        let all_mine = mine.iter().all(|m| *m)
            && !s.header_has_more
            && (s.header + 1..last_mine).all(|l| e.iter().any(|x| x.lines.contains(&l)));
        if all_mine {
            drop.push(s.header..last_mine);
        } else {
            drop.extend(
                e.iter()
                    .zip(&mine)
                    .filter(|(_, m)| **m)
                    .map(|(x, _)| x.lines.clone()),
            );
        }
    }
    (doc.render(&drop, &[]), urls)
}

/// Runs `setup git` (or `setup git --remove`).
pub fn run(args: &Args, profile: Option<&str>) -> Result<()> {
    if args.remove {
        return run_remove(args);
    }
    let config = super::check_profile(profile)?;
    let wires = wires(&args.hosts)?;
    let helper_path = super::sibling_binary("git-credential-entra");
    let helper = helper_value(helper_path.as_deref(), profile);
    let file = ConfigFile::read(global_config_path()?)?;
    let old_text = file.old_text();
    // Refuse a file git itself cannot read, before anything else.
    list(&file.target, old_text)?;
    let (new, replaced) = add(old_text, &wires, &helper);
    let want = ["".to_string(), helper.clone()];
    verify(&file.target, old_text, &new, |after| {
        wires.iter().all(|w| {
            let prefix = format!("credential.{}.", w.url);
            let helpers: Vec<&str> = after
                .iter()
                .filter_map(|l| l.strip_prefix(&prefix))
                .filter_map(|l| l.strip_prefix("helper="))
                .collect();
            let http = after
                .iter()
                .filter_map(|l| l.strip_prefix(&prefix))
                .any(|l| l == "usehttppath=true");
            helpers == want && (!w.use_http_path || http)
        })
    })?;

    let urls: Vec<&str> = wires.iter().map(|w| w.url.as_str()).collect();
    let what = format!(
        "git asks git-credential-entra{} for {}",
        profile.map(|p| format!(" -p {p}")).unwrap_or_default(),
        urls.join(", ")
    );
    let outcome = file.apply(&new, args.dry_run, &what)?;

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

/// `setup git --remove`: takes git-credential-entra out of every `[credential "<url>"]`
/// section of the global config (whatever `--host` it was set up with).
fn run_remove(args: &Args) -> Result<()> {
    let file = ConfigFile::read(global_config_path()?)?;
    let old_text = file.old_text();
    if file.old.is_some() {
        list(&file.target, old_text)?;
    }
    let (new, urls) = remove(old_text);
    verify(&file.target, old_text, &new, |after| {
        !after
            .iter()
            .filter(|l| owned_key(l))
            .filter_map(|l| l.split_once('=').map(|x| x.1))
            .any(is_ours)
    })?;
    let what = if urls.is_empty() {
        "git-credential-entra is not in it".to_string()
    } else {
        format!(
            "git no longer asks git-credential-entra for {}",
            urls.join(", ")
        )
    };
    file.apply_removal(&new, args.dry_run, &what)?;
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
    use super::super::test_support::random_texts;
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
    fn add_then_remove_gives_back_the_bytes() {
        let w = wires(&["127.0.0.1:9".into()]).unwrap();
        for old in [
            "",
            "[user]\n\tname = A\n",
            "[credential]\n\thelper = store\n# end\n",
            "[credential \"https://dev.azure.com\"]\n\tusername = me\n[core]\n\tx = 1\n",
            "[user]\r\n\tname = A\r\n",
        ] {
            let (new, replaced) = add(old, &w, "/b/git-credential-entra -p w");
            assert!(replaced.is_empty());
            assert_eq!(add(&new, &w, "/b/git-credential-entra -p w").0, new);
            let (back, urls) = remove(&new);
            assert_eq!(back, old, "after {new}");
            assert_eq!(urls.len(), 3);
            assert_eq!(remove(&back), (back.clone(), vec![]));
        }
    }

    #[test]
    fn add_replaces_in_place_and_remove_keeps_what_is_not_ours() {
        let w = wires(&[]).unwrap();
        let old = "[credential \"https://dev.azure.com\"]\n  helper =\n  helper = /old/git-credential-entra\n  useHttpPath = true\n  username = me\n";
        let (new, _) = add(old, &w, "/b/git-credential-entra");
        assert!(new.starts_with("[credential \"https://dev.azure.com\"]\n  helper =\n  helper = /b/git-credential-entra\n  useHttpPath = true\n  username = me\n[credential \"https://*.visualstudio.com\"]\n"), "{new}");
        let (back, _) = remove(&new);
        assert_eq!(
            back,
            "[credential \"https://dev.azure.com\"]\n  username = me\n"
        );
        // Another helper in the section is replaced (and named).
        let (new, replaced) = add(
            "[credential \"https://dev.azure.com\"]\n\thelper = manager\n",
            &w,
            "/b/git-credential-entra",
        );
        assert_eq!(
            replaced,
            vec!["manager (for https://dev.azure.com)".to_string()]
        );
        assert!(new.starts_with("[credential \"https://dev.azure.com\"]\n\thelper = \n\thelper = /b/git-credential-entra\n\tuseHttpPath = true\n"), "{new}");
    }

    /// A small deterministic fuzz: random texts of git config's special characters never make
    /// the editor panic, and add/remove keep working on whatever they produce.
    #[test]
    fn random_texts_do_not_panic() {
        let w = wires(&[]).unwrap();
        let alphabet = "[]\"\\ \t\n\r=#;credntialhpu.:/-xé";
        for (seed, mut text) in random_texts(alphabet, 0x9e37_79b9_7f4a_7c15, 5_000) {
            if seed.is_multiple_of(3) {
                text = format!("[credential \"https://dev.azure.com\"]\n{text}");
            }
            let (added, _) = add(&text, &w, "/b/git-credential-entra");
            let _ = remove(&added);
            let _ = remove(&text);
        }
    }

    #[test]
    fn default_and_extra_wires() {
        let w = wires(&["git.example".into(), "git.example".into()]).unwrap();
        assert_eq!(w.len(), 3);
        assert!(w[0].use_http_path && !w[1].use_http_path && w[2].use_http_path);
    }
}
