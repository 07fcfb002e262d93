//! git: the credential helpers git will actually run for Azure Repos.
//!
//! git is asked for every `credential.*` entry of every scope it reads here (system, global,
//! local, worktree, command line), in its own order (`git config --show-scope -z --get-regexp`).
//! For credentials git does not pick the most specific URL (that is what `--get-urlmatch`
//! shows): it collects the `helper` values of every matching `credential.<url>` section and of
//! `credential.helper`, in the order it reads them, and an empty value empties the list. It then
//! asks each helper in turn until one answers, and hands the answer to every helper to `store`.
//! So a helper before ours that answers wins (a stale PAT in `store`, a GCM prompt), a reset after
//! ours drops ours, and a helper after ours receives our tokens.

use super::{find_program, missing_profile, shell_words, Check, Ctx};
use entra_cred_core::hostport::{bare_host, split_port};
use entra_cred_core::net;
use std::process::{Command, Stdio};

const TOOL: &str = "git";

/// One `credential.*` entry as git reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `system`, `global`, `local`, `worktree`, `command`.
    pub scope: String,
    /// The URL of `credential.<url>.<var>`; empty for `credential.<var>`.
    pub url: String,
    /// `helper`, `usehttppath`, ... (lower case).
    pub var: String,
    /// The value (`None` for a bare key, which git reads as true).
    pub value: Option<String>,
}

/// Parses `git config --show-scope -z --get-regexp '^credential\.'` output.
pub fn parse_entries(out: &[u8]) -> Vec<Entry> {
    let text = String::from_utf8_lossy(out);
    let mut parts = text.split('\0');
    let mut v = Vec::new();
    while let (Some(scope), Some(kv)) = (parts.next(), parts.next()) {
        if scope.is_empty() {
            break;
        }
        let (key, value) = match kv.split_once('\n') {
            Some((k, val)) => (k, Some(val.to_string())),
            None => (kv, None),
        };
        let Some(rest) = key.strip_prefix("credential.") else {
            continue;
        };
        let (url, var) = match rest.rsplit_once('.') {
            Some((u, var)) => (u.to_string(), var.to_ascii_lowercase()),
            None => (String::new(), rest.to_ascii_lowercase()),
        };
        v.push(Entry {
            scope: scope.to_string(),
            url,
            var,
            value,
        });
    }
    v
}

/// A URL split as git's urlmatch compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parts {
    scheme: Option<String>,
    user: Option<String>,
    host: String,
    port: Option<u16>,
    path: String,
}

fn split_url(s: &str) -> Option<Parts> {
    let (scheme, rest) = match s.split_once("://") {
        Some((sc, r)) => (Some(sc.to_ascii_lowercase()), r),
        None => (None, s),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (user, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_string()), h),
        None => (None, authority),
    };
    let (host, port) = split_port(hostport)?;
    let port = match port {
        Some(p) => Some(p.parse().ok()?),
        None => None,
    };
    if host.is_empty() {
        return None;
    }
    let default = match scheme.as_deref() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    };
    Some(Parts {
        port: port.or(default),
        scheme,
        user,
        host: host.to_ascii_lowercase(),
        path: path.trim_end_matches('/').to_string(),
    })
}

/// One host label against a config label that may hold `*` (any run of characters in the label).
fn label_matches(pattern: &str, label: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == label;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = label;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.len() >= part.len() && rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(p) => rest = &rest[p + part.len()..],
                None => return false,
            }
        }
    }
    rest.is_empty()
}

/// Whether the `credential.<pattern>` section applies to `url` (git's urlmatch: same scheme,
/// same user when the pattern has one, host labels with `*` globs, same port, and the pattern's
/// path a prefix of the URL's at a `/`). A pattern without a scheme matches any scheme.
pub fn url_matches(pattern: &str, url: &str) -> bool {
    if pattern.is_empty() {
        return true;
    }
    let (Some(p), Some(u)) = (split_url(pattern), split_url(url)) else {
        return false;
    };
    if p.scheme.is_some() && p.scheme != u.scheme {
        return false;
    }
    if p.user.is_some() && p.user != u.user {
        return false;
    }
    let pl: Vec<&str> = p.host.split('.').collect();
    let ul: Vec<&str> = u.host.split('.').collect();
    if pl.len() != ul.len() || !pl.iter().zip(&ul).all(|(a, b)| label_matches(a, b)) {
        return false;
    }
    if p.port.is_some() && u.port.is_some() && p.port != u.port {
        return false;
    }
    p.path.is_empty()
        || u.path == p.path
        || u.path
            .strip_prefix(&p.path)
            .is_some_and(|r| r.starts_with('/'))
}

/// Whether a helper value is (some version of) git-credential-entra.
pub fn is_ours(h: &str) -> bool {
    h.contains("git-credential-entra") || h == "entra" || h.starts_with("entra ")
}

/// The helpers git runs for `url`, in order, each with the entry it came from; and the
/// `useHttpPath` in effect.
pub fn effective(entries: &[Entry], url: &str) -> (Vec<Entry>, bool) {
    let mut list: Vec<Entry> = Vec::new();
    let mut use_path = false;
    for e in entries.iter().filter(|e| url_matches(&e.url, url)) {
        match e.var.as_str() {
            "helper" => match e.value.as_deref() {
                Some("") => list.clear(),
                Some(_) => list.push(e.clone()),
                None => {}
            },
            "usehttppath" => {
                use_path = matches!(
                    e.value.as_deref().map(str::to_ascii_lowercase).as_deref(),
                    None | Some("true" | "yes" | "on" | "1")
                )
            }
            _ => {}
        }
    }
    (list, use_path)
}

/// The program git runs for a helper value: `!cmd` and absolute paths through the shell,
/// anything else as `git credential-<name>` (a `git-credential-<name>` on PATH or in git's
/// exec path).
fn helper_program(value: &str) -> String {
    if let Some(cmd) = value.strip_prefix('!') {
        return shell_words(cmd).into_iter().next().unwrap_or_default();
    }
    let first = shell_words(value).into_iter().next().unwrap_or_default();
    if first.starts_with('/') || first.contains(std::path::MAIN_SEPARATOR) {
        first
    } else {
        format!("git-credential-{first}")
    }
}

fn scope_flag(scope: &str) -> Option<&'static str> {
    match scope {
        "system" => Some("--system"),
        "global" => Some("--global"),
        "local" => Some("--local"),
        "worktree" => Some("--worktree"),
        _ => None,
    }
}

/// The command that removes entry `e` (git's own `--fixed-value --unset`). A value that is more
/// than one word (a `!` shell snippet may hold an inline password) is not repeated: the fix then
/// opens the file in git's editor.
fn unset_command(e: &Entry) -> String {
    let key = if e.url.is_empty() {
        format!("credential.{}", e.var)
    } else {
        format!("credential.{}.{}", e.url, e.var)
    };
    let value = e.value.as_deref().unwrap_or("");
    let one_word = !value.starts_with('!') && shell_words(value).len() <= 1;
    match scope_flag(&e.scope) {
        Some(f) if one_word => format!(
            "git config {f} --fixed-value --unset-all {} {}",
            crate::setup::sh_quote(&key),
            crate::setup::sh_quote(value)
        ),
        Some(f) => format!("git config {f} --edit   # delete the {key} line that runs {}", shown_helper(value)),
        None => "unset GIT_CONFIG_PARAMETERS GIT_CONFIG_COUNT (the helper comes from `git -c` or the environment)".into(),
    }
}

/// A helper for messages: its program only (arguments and shell snippets may hold secrets).
fn shown_helper(value: &str) -> String {
    if is_ours(value) {
        return "git-credential-entra".into();
    }
    let program = helper_program(value);
    let name = program.rsplit('/').next().unwrap_or(&program).to_string();
    let name = entra_cred_core::error::one_line(&name);
    if value.starts_with('!') {
        format!("a shell command ({name} ...)")
    } else {
        format!(
            "'{}'",
            name.strip_prefix("git-credential-").unwrap_or(&name)
        )
    }
}

fn describe(e: &Entry) -> String {
    let at = if e.url.is_empty() {
        "credential.helper".to_string()
    } else {
        format!("credential.{}.helper", e.url)
    };
    format!(
        "{} ({at}, {} config)",
        shown_helper(e.value.as_deref().unwrap_or("")),
        e.scope
    )
}

/// The URLs checked: Azure Repos' own hosts and every profile's `git_hosts`.
pub fn urls(ctx: &Ctx) -> Vec<(String, String)> {
    let mut v = vec![
        (
            "https://dev.azure.com".to_string(),
            "https://dev.azure.com/org/project/_git/repo".to_string(),
        ),
        (
            "https://*.visualstudio.com".to_string(),
            "https://org.visualstudio.com/project/_git/repo".to_string(),
        ),
    ];
    for h in ctx.hosts(|p| &p.git_hosts) {
        let base = base_url(&h);
        v.push((base.clone(), format!("{base}/org/project/_git/repo")));
    }
    v
}

/// The URL `setup git --host` writes for a `git_hosts` entry (`host[:port]`): `http` on
/// loopback only (`net`'s rule), brackets or not.
fn base_url(host: &str) -> String {
    format!("{}://{host}", net::scheme_for(bare_host(host)))
}

/// The git checks.
pub fn checks(ctx: &Ctx) -> Vec<Check> {
    let out = Command::new("git")
        .args([
            "config",
            "--show-scope",
            "-z",
            "--get-regexp",
            r"^credential\.",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let out = match out {
        Ok(o) => o,
        Err(_) => {
            return vec![Check::warn(
                TOOL,
                "git",
                "git is not installed (or not on PATH): nothing to check",
                None,
            )]
        }
    };
    match out.status.code() {
        Some(0) | Some(1) => {}
        _ => {
            return vec![Check::fail(
            TOOL,
            "git config",
            "git cannot read its configuration (`git config --list` fails): git itself will fail",
            Some("git config --list --show-origin   # shows the file and line to fix".into()),
        )]
        }
    }
    let entries = parse_entries(&out.stdout);
    evaluate(ctx, &entries)
}

/// The verdicts for `entries` (separate from running git, for tests).
pub fn evaluate(ctx: &Ctx, entries: &[Entry]) -> Vec<Check> {
    let wired_anywhere = entries
        .iter()
        .any(|e| e.var == "helper" && e.value.as_deref().is_some_and(is_ours));
    // `--host` values to carry into `setup git` fix lines: the extra hosts wired before.
    let extra_hosts: Vec<String> = urls(ctx)
        .into_iter()
        .skip(2)
        .filter_map(|(base, _)| base.split_once("://").map(|(_, h)| h.to_string()))
        .collect();
    let setup = format!(
        "{}setup git{}",
        ctx.entra_cred(),
        extra_hosts
            .iter()
            .map(|h| format!(" --host {h}"))
            .collect::<String>()
    );
    let mut checks = Vec::new();
    if !wired_anywhere {
        checks.push(Check::warn(
            TOOL,
            "https://dev.azure.com",
            "not set up: no git credential helper runs git-credential-entra",
            Some(setup),
        ));
        return checks;
    }
    for (name, url) in with_path_sections(urls(ctx), entries) {
        let (list, use_path) = effective(entries, &url);
        let ours = list
            .iter()
            .position(|e| is_ours(e.value.as_deref().unwrap_or("")));
        let Some(i) = ours else {
            // Our helper is configured somewhere but not in the list for this URL: reset after it.
            let matching: Vec<&Entry> = entries
                .iter()
                .filter(|e| url_matches(&e.url, &url) && e.var == "helper")
                .collect();
            let reset = matching
                .iter()
                .rposition(|e| e.value.as_deref() == Some(""))
                .map(|r| matching[r]);
            let mut fix = Vec::new();
            let mut why = String::new();
            if let Some(r) = reset {
                why = format!(
                    "; an empty `helper =` ({}, {} config) after it resets the list",
                    if r.url.is_empty() {
                        "credential.helper".to_string()
                    } else {
                        format!("credential.{}.helper", r.url)
                    },
                    r.scope
                );
                if !is_own_section(r, &name) {
                    fix.push(unset_command(r));
                }
            }
            for e in &list {
                if !is_own_section(e, &name) {
                    fix.push(unset_command(e));
                }
            }
            fix.push(setup.clone());
            let runs = if list.is_empty() {
                "no helper (git will prompt for a password)".to_string()
            } else {
                list.iter()
                    .map(describe)
                    .collect::<Vec<_>>()
                    .join(", then ")
            };
            checks.push(Check::fail(
                TOOL,
                name,
                format!("git-credential-entra is shadowed: git runs {runs}{why}"),
                Some(fix.join(" && ")),
            ));
            continue;
        };
        let value = list[i].value.clone().unwrap_or_default();
        let before = &list[..i];
        let after = &list[i + 1..];
        if !before.is_empty() {
            let mut fix: Vec<String> = before
                .iter()
                .filter(|e| !is_own_section(e, &name))
                .map(unset_command)
                .collect();
            fix.push(setup.clone());
            checks.push(Check::fail(
                TOOL,
                name,
                format!(
                    "git asks {} before git-credential-entra: its answer (a stored password, a prompt) wins",
                    before.iter().map(describe).collect::<Vec<_>>().join(", then ")
                ),
                Some(fix.join(" && ")),
            ));
            continue;
        }
        let words = if let Some(cmd) = value.strip_prefix('!') {
            shell_words(cmd)
        } else {
            shell_words(&value)
        };
        let program = helper_program(&value);
        if find_program(&program).is_none() {
            checks.push(Check::fail(
                TOOL,
                name,
                format!(
                    "git runs {program}, which does not exist or is not executable (moved or uninstalled?)"
                ),
                Some(setup.clone()),
            ));
            continue;
        }
        if let Some(p) = missing_profile(ctx, &words) {
            checks.push(Check::fail(
                TOOL,
                name,
                format!("git runs git-credential-entra -p {p}, but profile '{p}' does not exist"),
                Some(super::missing_profile_fix(&p, &setup)),
            ));
            continue;
        }
        if !after.is_empty() {
            checks.push(Check::warn(
                TOOL,
                name.clone(),
                format!(
                    "git-credential-entra answers first, but git also hands every token to {} (`store` keeps it in plain text)",
                    after.iter().map(describe).collect::<Vec<_>>().join(", ")
                ),
                Some(
                    after
                        .iter()
                        .filter(|e| !is_own_section(e, &name))
                        .map(unset_command)
                        .chain(std::iter::once(setup.clone()))
                        .collect::<Vec<_>>()
                        .join(" && "),
                ),
            ));
        } else {
            checks.push(Check::ok(
                TOOL,
                name.clone(),
                format!("git runs only git-credential-entra ({program})"),
            ));
        }
        if name == "https://dev.azure.com" && !use_path {
            checks.push(Check::warn(
                TOOL,
                "https://dev.azure.com useHttpPath",
                "credential.useHttpPath is off: git does not send the organisation, so its tenant is known only from the server's challenge",
                Some(setup.clone()),
            ));
        }
    }
    checks
}

/// The URLs to check plus every more specific section that names a path under one of them
/// (`[credential "https://dev.azure.com/contoso"]`): git adds its helpers for that organisation
/// only, so it gets a line of its own.
fn with_path_sections(base: Vec<(String, String)>, entries: &[Entry]) -> Vec<(String, String)> {
    let mut out = base.clone();
    for e in entries.iter().filter(|e| e.var == "helper") {
        let Some(parts) = split_url(&e.url) else {
            continue;
        };
        if parts.path.is_empty() || out.iter().any(|(n, _)| n.eq_ignore_ascii_case(&e.url)) {
            continue;
        }
        let url = format!("{}/_git/repo", e.url.trim_end_matches('/'));
        if base.iter().any(|(n, _)| url_matches(n, &url)) {
            out.push((e.url.trim_end_matches('/').to_string(), url));
        }
    }
    out
}

/// Whether an entry sits in the section `setup git` writes (then `setup git` itself fixes it).
fn is_own_section(e: &Entry, name: &str) -> bool {
    e.scope == "global"
        && e.url.eq_ignore_ascii_case(name)
        && split_url(name).is_some_and(|p| p.path.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(scope: &str, url: &str, value: &str) -> Entry {
        Entry {
            scope: scope.into(),
            url: url.into(),
            var: "helper".into(),
            value: Some(value.into()),
        }
    }

    #[test]
    fn parses_git_output() {
        let out = b"global\0credential.helper\nstore\0global\0credential.https://dev.azure.com.helper\n\0global\0credential.https://dev.azure.com.useHttpPath\0";
        let v = parse_entries(out);
        assert_eq!(v.len(), 3);
        assert_eq!(v[0], e("global", "", "store"));
        assert_eq!(v[1], e("global", "https://dev.azure.com", ""));
        assert_eq!(v[2].var, "usehttppath");
        assert_eq!(v[2].value, None);
    }

    #[test]
    fn url_matching() {
        let u = "https://dev.azure.com/org/p/_git/r";
        assert!(url_matches("https://dev.azure.com", u));
        assert!(url_matches("https://dev.azure.com/", u));
        assert!(url_matches("https://dev.azure.com/org", u));
        assert!(url_matches("https://dev.azure.com:443", u));
        assert!(url_matches("dev.azure.com", u));
        assert!(!url_matches("https://dev.azure.com/or", u));
        assert!(!url_matches("http://dev.azure.com", u));
        assert!(!url_matches("https://user@dev.azure.com", u));
        assert!(!url_matches("https://azure.com", u));
        let v = "https://org.visualstudio.com/p/_git/r";
        assert!(url_matches("https://*.visualstudio.com", v));
        assert!(!url_matches(
            "https://*.visualstudio.com",
            "https://a.b.visualstudio.com/"
        ));
        assert!(url_matches(
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/o/p"
        ));
        assert!(!url_matches(
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8081/o/p"
        ));
        assert!(url_matches("http://[::1]:8080", "http://[::1]:8080/o/p"));
        assert!(url_matches(
            "https://[2001:db8::1]",
            "https://[2001:db8::1]:443/o"
        ));
        assert!(!url_matches("http://[::1]:8080", "http://[::1]:8081/o/p"));
        assert!(!url_matches("http://[::1]x", "http://[::1]/o/p"));
    }

    #[test]
    fn resets_and_order() {
        let u = "https://dev.azure.com/org/p/_git/r";
        let entries = vec![
            e("system", "", "manager"),
            e("global", "https://dev.azure.com", ""),
            e(
                "global",
                "https://dev.azure.com",
                "/bin/git-credential-entra",
            ),
            e("global", "", "store"),
        ];
        let (l, _) = effective(&entries, u);
        assert_eq!(l.len(), 2);
        assert!(is_ours(l[0].value.as_deref().unwrap_or("")));
        let mut later_reset = entries.clone();
        later_reset.push(e("global", "", ""));
        later_reset.push(e("global", "", "manager"));
        let (l, _) = effective(&later_reset, u);
        assert_eq!(l, vec![e("global", "", "manager")]);
    }

    #[test]
    fn path_sections_get_their_own_line() {
        let base = vec![(
            "https://dev.azure.com".to_string(),
            "https://dev.azure.com/org/project/_git/repo".to_string(),
        )];
        let entries = vec![
            e("global", "https://dev.azure.com/contoso", "manager"),
            e("global", "https://github.com/x", "store"),
        ];
        let v = with_path_sections(base, &entries);
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].0, "https://dev.azure.com/contoso");
        let (l, _) = effective(&entries, &v[1].1);
        assert_eq!(l, vec![entries[0].clone()]);
    }

    #[test]
    fn extra_hosts_use_http_on_loopback_only() {
        assert_eq!(base_url("127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(base_url("localhost"), "http://localhost");
        assert_eq!(base_url("[::1]:8080"), "http://[::1]:8080");
        assert_eq!(base_url("git.example:8443"), "https://git.example:8443");
        // An IPv6 host that is not loopback is https, as `setup git --host` writes it.
        assert_eq!(base_url("[2001:db8::1]:8443"), "https://[2001:db8::1]:8443");
        assert_eq!(base_url("[fd00::1]"), "https://[fd00::1]");
    }

    #[test]
    fn programs() {
        assert_eq!(helper_program("store --file x"), "git-credential-store");
        assert_eq!(
            helper_program("/a/git-credential-entra -p w"),
            "/a/git-credential-entra"
        );
        assert_eq!(
            helper_program("!'/My x/git-credential-entra' -p w"),
            "/My x/git-credential-entra"
        );
        assert_eq!(helper_program("entra"), "git-credential-entra");
        // Arguments and shell snippets are never shown: they may hold a password.
        assert_eq!(shown_helper("store --file /x"), "'store'");
        assert_eq!(
            shown_helper("!f() { echo password=hunter2; }; f"),
            "a shell command (f() ...)"
        );
        let e = Entry {
            scope: "global".into(),
            url: String::new(),
            var: "helper".into(),
            value: Some("!f() { echo password=hunter2; }; f".into()),
        };
        assert!(
            !unset_command(&e).contains("hunter2"),
            "{}",
            unset_command(&e)
        );
        assert!(unset_command(&e).starts_with("git config --global --edit"));
    }
}
