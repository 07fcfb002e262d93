//! `entra-cred setup docker REGISTRY... [--dry-run]`.
//!
//! Adds `"credHelpers": {"<registry>": "entra"}` entries to `$DOCKER_CONFIG/config.json`
//! (default `~/.docker/config.json`): docker, skopeo, podman, buildah and crane then run
//! `docker-credential-entra` for those registries only. Every other key (`auths`, other
//! `credHelpers`, `credsStore`, `proxies`, ...) stays, in its order; the file is written with
//! the file's own indentation (a tab, like docker, for a new file), atomically, with its mode kept (0600 for a new file).
//!
//! Docker cannot pass arguments to a helper, so the profile is chosen by the registry: the
//! profile whose `acr_hosts` lists it, else `ENTRA_CRED_PROFILE`, else `default`. With `-p P`,
//! setup checks that and says what to add to the profile when P would not be chosen.

use super::{ConfigFile, Outcome};
use entra_cred_core::config::{split_hosts, HostKind};
use entra_cred_core::error::one_line;
use entra_cred_core::{Error, Result};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// `setup docker` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Registry host names (`myreg.azurecr.io`, `host:port`; a bare `myreg` means
    /// `myreg.azurecr.io`, or the profile's cloud's suffix); a scheme or path is dropped.
    #[arg(value_name = "REGISTRY", required_unless_present = "remove")]
    pub registries: Vec<String>,
    /// Print the change as a diff on stdout; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Take the `entra` entries out again (of these registries; of all when none is given).
    #[arg(long)]
    pub remove: bool,
}

/// The credHelpers value naming `docker-credential-entra`.
pub const HELPER: &str = "entra";

/// The registry's `host[:port]` as docker looks it up in `credHelpers`.
pub fn normalise_registry(raw: &str) -> Result<String> {
    let s = raw.trim();
    let s = s.split_once("://").map(|x| x.1).unwrap_or(s);
    let host = s.split('/').next().unwrap_or("").to_ascii_lowercase();
    if host.is_empty()
        || host.contains('@')
        || host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\\')
    {
        return Err(Error::Config(format!(
            "'{}' is not a registry host (expected e.g. myregistry.azurecr.io)",
            one_line(raw)
        )));
    }
    Ok(host)
}

/// Whether `docker-credential-entra` serves the registry without configuration.
pub fn is_acr(host: &str) -> bool {
    let bare = host.split(':').next().unwrap_or(host);
    [".azurecr.io", ".azurecr.cn", ".azurecr.us"]
        .iter()
        .any(|s| bare.len() > s.len() && bare.ends_with(s))
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn config_path() -> Result<PathBuf> {
    let dir = match super::env_path("DOCKER_CONFIG") {
        Some(d) => d,
        None => super::home()?.join(".docker"),
    };
    Ok(dir.join("config.json"))
}

/// One `"key": value` member of a JSON object, by byte position in the text.
#[derive(Debug, Clone)]
struct Member {
    key: String,
    key_start: usize,
    /// From the end of the key string to the start of the value (`: ` as the file writes it).
    colon: std::ops::Range<usize>,
    value: std::ops::Range<usize>,
}

/// A JSON object in the text: `{` at `open`, `}` at `close`, its members.
#[derive(Debug, Clone)]
struct Object {
    open: usize,
    close: usize,
    members: Vec<Member>,
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The end of the string starting at `i` (one past its closing quote).
fn string_end(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The end of the value starting at `i`.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = string_end(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                j += 1;
            }
            Some(j)
        }
    }
}

/// The object whose `{` is at `open` (the text is valid JSON: serde_json checked it first).
fn object_at(text: &str, open: usize) -> Option<Object> {
    let b = text.as_bytes();
    let mut members = Vec::new();
    let mut i = skip_ws(b, open + 1);
    if b.get(i) == Some(&b'}') {
        return Some(Object {
            open,
            close: i,
            members,
        });
    }
    loop {
        let key_start = i;
        let key_end = string_end(b, i)?;
        let key: String = serde_json::from_str(&text[key_start..key_end]).ok()?;
        let colon = skip_ws(b, key_end);
        let v = skip_ws(b, colon + 1);
        let v_end = value_end(b, v)?;
        members.push(Member {
            key,
            key_start,
            colon: key_end..v,
            value: v..v_end,
        });
        i = skip_ws(b, v_end);
        match b.get(i)? {
            b',' => i = skip_ws(b, i + 1),
            b'}' => {
                return Some(Object {
                    open,
                    close: i,
                    members,
                })
            }
            _ => return None,
        }
    }
}

/// The whitespace before a member's key (from the `{` or `,` before it).
fn lead_ws(text: &str, key_start: usize) -> &str {
    let before = &text[..key_start];
    let ws = before.len() - before.trim_end_matches([' ', '\t', '\n', '\r']).len();
    &text[key_start - ws..key_start]
}

/// The indentation of the line holding byte `at`.
fn line_indent(text: &str, at: usize) -> &str {
    let line_start = text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line = &text[line_start..];
    &line[..line.len() - line.trim_start_matches([' ', '\t']).len()]
}

/// `text` with `"key": <value>` added as the last member of `obj`, in the file's own layout;
/// `value` is rendered by `render(indent of the new member)`.
fn add_member(
    text: &str,
    obj: &Object,
    key: &str,
    unit: &str,
    render: impl Fn(&str) -> String,
) -> String {
    let qkey = serde_json::Value::String(key.to_string()).to_string();
    match obj.members.last() {
        Some(last) => {
            let ws = lead_ws(text, last.key_start);
            let ws = if ws.is_empty() { " " } else { ws };
            let indent = ws.rsplit('\n').next().unwrap_or("");
            let colon = &text[last.colon.clone()];
            let colon = if colon.contains(':') { colon } else { ": " };
            let value = render(indent);
            format!(
                "{}{ws_comma}{ws}{qkey}{colon}{value}{}",
                &text[..last.value.end],
                &text[last.value.end..],
                ws_comma = ","
            )
        }
        None => {
            let nl = if text.contains("\r\n") { "\r\n" } else { "\n" };
            let outer = line_indent(text, obj.open);
            let inner = format!("{outer}{unit}");
            format!(
                "{}{nl}{inner}{qkey}: {}{nl}{outer}{}",
                &text[..obj.open + 1],
                render(&inner),
                &text[obj.close..]
            )
        }
    }
}

/// `text` without member `i` of `obj` (and the comma that joined it).
fn remove_member(text: &str, obj: &Object, i: usize) -> String {
    let m = &obj.members;
    let range = if i > 0 {
        m[i - 1].value.end..m[i].value.end
    } else if m.len() > 1 {
        m[0].key_start..m[1].key_start
    } else {
        obj.open + 1..obj.close
    };
    format!("{}{}", &text[..range.start], &text[range.end..])
}

/// Parses the file: its root object (empty text: none yet); an error when it is not a JSON
/// object or its `credHelpers` is not an object.
fn parse_root(path: &Path, text: &str) -> Result<Option<Object>> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => {
            if m.get("credHelpers").is_some_and(|h| !h.is_object()) {
                return Err(super::unparsable(
                    path,
                    "\"credHelpers\" is not a JSON object",
                ));
            }
        }
        Ok(_) => return Err(super::unparsable(path, "it is not a JSON object")),
        Err(e) => return Err(super::unparsable(path, &format!("invalid JSON: {e}"))),
    }
    let open = text.len() - text.trim_start().len();
    object_at(text, open)
        .map(Some)
        .ok_or_else(|| super::unparsable(path, "unexpected JSON layout"))
}

/// The `credHelpers` object of the root, if any (the last one, as JSON readers take it).
fn cred_helpers(text: &str, root: &Object) -> Option<Object> {
    root.members
        .iter()
        .rfind(|m| m.key == "credHelpers")
        .and_then(|m| object_at(text, m.value.start))
}

/// The new file text with `registries` mapped to `entra`, or an error when the text is not a
/// JSON object (or its `credHelpers` is not an object). Only the entries are added or their
/// values replaced: every other byte of the file stays. Returns the registries whose helper was
/// another one before.
pub fn edit(
    path: &Path,
    old: Option<&str>,
    registries: &[String],
) -> Result<(String, Vec<(String, String)>)> {
    let mut text = old.unwrap_or("").to_string();
    let unit = old.map(indent_unit).unwrap_or_else(|| "\t".into());
    let q = |s: &str| Value::String(s.to_string()).to_string();
    let mut replaced = Vec::new();
    for r in registries {
        let Some(root) = parse_root(path, &text)? else {
            text = format!(
                "{{\n{unit}\"credHelpers\": {{\n{unit}{unit}{}: {}\n{unit}}}\n}}\n",
                q(r),
                q(HELPER)
            );
            continue;
        };
        let Some(helpers) = cred_helpers(&text, &root) else {
            let entry = format!("{}: {}", q(r), q(HELPER));
            text = add_member(&text, &root, "credHelpers", &unit, |indent| {
                let nl = if text.contains("\r\n") { "\r\n" } else { "\n" };
                format!("{{{nl}{indent}{unit}{entry}{nl}{indent}}}")
            });
            continue;
        };
        match helpers.members.iter().rfind(|m| &m.key == r) {
            Some(m) => {
                let v: Value = serde_json::from_str(&text[m.value.clone()]).unwrap_or(Value::Null);
                if v.as_str() != Some(HELPER) {
                    replaced.push((r.clone(), v.as_str().unwrap_or("?").to_string()));
                    text = format!(
                        "{}{}{}",
                        &text[..m.value.start],
                        q(HELPER),
                        &text[m.value.end..]
                    );
                }
            }
            None => text = add_member(&text, &helpers, r, &unit, |_| q(HELPER)),
        }
    }
    check(path, old, &text, |h| {
        registries
            .iter()
            .all(|r| h.get(r).and_then(Value::as_str) == Some(HELPER))
    })?;
    Ok((text, replaced))
}

/// The text without the `credHelpers` entries that name `entra` (only those of `registries`,
/// or all of them when it is empty); `credHelpers` itself goes when nothing is left in it.
/// Returns the new text and the registries removed.
pub fn remove(path: &Path, old: &str, registries: &[String]) -> Result<(String, Vec<String>)> {
    let mut text = old.to_string();
    let mut removed = Vec::new();
    while let Some(root) = parse_root(path, &text)? {
        let Some(helpers) = cred_helpers(&text, &root) else {
            break;
        };
        let ours = helpers.members.iter().position(|m| {
            (registries.is_empty() || registries.contains(&m.key))
                && serde_json::from_str::<Value>(&text[m.value.clone()])
                    .is_ok_and(|v| v.as_str() == Some(HELPER))
        });
        match ours {
            Some(i) => {
                removed.push(helpers.members[i].key.clone());
                text = remove_member(&text, &helpers, i);
            }
            None => {
                if helpers.members.is_empty() && !removed.is_empty() {
                    let i = root.members.iter().rposition(|m| m.key == "credHelpers");
                    if let Some(i) = i {
                        text = remove_member(&text, &root, i);
                    }
                }
                break;
            }
        }
    }
    check(path, Some(old), &text, |h| {
        !h.iter().any(|(k, v)| {
            (registries.is_empty() || registries.contains(k)) && v.as_str() == Some(HELPER)
        })
    })?;
    Ok((text, removed))
}

/// Reads the result back: every key but `credHelpers` as before, and `credHelpers` as meant.
fn check(
    path: &Path,
    old: Option<&str>,
    new: &str,
    helpers_ok: impl Fn(&Map<String, Value>) -> bool,
) -> Result<()> {
    let obj = |t: &str| -> Map<String, Value> {
        match serde_json::from_str::<Value>(t) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        }
    };
    let (mut a, mut b) = (obj(old.unwrap_or("{}")), obj(new));
    let empty = Map::new();
    let ok = match b.get("credHelpers") {
        Some(Value::Object(h)) => helpers_ok(h),
        None => helpers_ok(&empty),
        _ => false,
    };
    a.remove("credHelpers");
    b.remove("credHelpers");
    if !ok || a != b || (!new.is_empty() && serde_json::from_str::<Value>(new).is_err()) {
        return Err(Error::Other(format!(
            "cannot edit {} safely (unexpected JSON layout); nothing was changed",
            path.display()
        )));
    }
    Ok(())
}

/// The file's indentation (the leading whitespace of its first indented line), else a tab as
/// docker writes it.
fn indent_unit(text: &str) -> String {
    text.lines()
        .skip(1)
        .map(|l| &l[..l.len() - l.trim_start_matches([' ', '\t']).len()])
        .find(|w| !w.is_empty())
        .filter(|w| w.len() <= 8)
        .unwrap_or("\t")
        .to_string()
}

/// A bare registry name (no dot, no port: `az acr login -n NAME`'s habit) with the cloud's ACR
/// suffix; `None` when the name is a host already.
pub fn expand_bare(host: &str, suffix: &str) -> Option<String> {
    let bare = !host.contains(['.', ':', '[']) && host != "localhost";
    bare.then(|| format!("{host}{suffix}"))
}

/// Runs `setup docker` (or `setup docker --remove`).
pub fn run(args: &Args, profile: Option<&str>) -> Result<()> {
    let config = super::check_profile(profile)?;
    let suffix = config
        .profile(&entra_cred_core::Overrides {
            profile: profile.map(str::to_string),
            ..Default::default()
        })
        .map(|p| p.cloud.acr_suffix())
        .unwrap_or(".azurecr.io");
    let mut registries = Vec::new();
    for raw in &args.registries {
        let mut r = normalise_registry(raw)?;
        if let Some(full) = expand_bare(&r, suffix) {
            eprintln!("note: '{raw}' is a bare registry name: using {full} (as `az acr login -n {r}` does)");
            r = full;
        }
        if !registries.contains(&r) {
            registries.push(r);
        }
    }
    let file = ConfigFile::read(config_path()?)?;
    if args.remove {
        let (new, removed) = remove(&file.target, file.old_text(), &registries)?;
        let what = if removed.is_empty() {
            "no credHelpers entry names entra".to_string()
        } else {
            format!(
                "docker no longer uses docker-credential-entra for {}",
                removed.join(", ")
            )
        };
        file.apply_removal(&new, args.dry_run, &what)?;
        return Ok(());
    }
    let (new, replaced) = edit(&file.target, file.old.as_deref(), &registries)?;
    let outcome = file.apply(
        &new,
        args.dry_run,
        &format!(
            "docker uses docker-credential-entra for {}",
            registries.join(", ")
        ),
    )?;
    if outcome != Outcome::Unchanged {
        for (r, h) in &replaced {
            eprintln!("note: {r} used the helper '{h}' before");
        }
    }
    if super::sibling_binary("docker-credential-entra").is_none() {
        eprintln!(
            "note: docker runs docker-credential-entra from PATH: make sure the directory holding it is on PATH"
        );
    }

    // Docker cannot pass -p: the registry chooses the profile. Say when that is not what was meant,
    // and when the helper would not serve a registry at all.
    let shown = super::git::config_path_shown(&config);
    let env_hosts = entra_cred_core::config::env_var("ENTRA_CRED_ACR_HOSTS")
        .map(|v| split_hosts(&v))
        .unwrap_or_default();
    let env_profile = entra_cred_core::config::env_var("ENTRA_CRED_PROFILE");
    for r in &registries {
        let bare = r.split(':').next().unwrap_or(r);
        let listed_in = config.profile_for_host(r, HostKind::Acr);
        let in_env = env_hosts.iter().any(|h| h == r || h == bare);
        if !is_acr(r) && listed_in.is_none() {
            if in_env {
                eprintln!(
                    "note: {r} is served only because ENTRA_CRED_ACR_HOSTS lists it: set it wherever docker runs, or add acr_hosts = [\"{r}\"] to [profiles.{}] in {shown}",
                    profile.unwrap_or("default")
                );
            } else {
                eprintln!(
                    "warning: {r} is not an *.azurecr.io/.cn/.us registry: docker-credential-entra serves it only once it is listed in acr_hosts: add acr_hosts = [\"{r}\"] to [profiles.{}] in {shown} (or set ENTRA_CRED_ACR_HOSTS={r} wherever docker runs)",
                    profile.unwrap_or("default")
                );
                continue;
            }
        }
        if let Some(p) = profile {
            match &listed_in {
                Some(l) if l == p => {}
                Some(l) => eprintln!(
                    "note: docker cannot pass -p: {r} is listed in acr_hosts of profile '{l}', so that profile is used, not '{p}'"
                ),
                None => eprintln!(
                    "note: docker cannot pass -p: to use profile '{p}' for {r}, add acr_hosts = [\"{r}\"] to [profiles.{p}] in {shown}; until then docker-credential-entra uses {}",
                    env_profile
                        .as_deref()
                        .map(|e| format!("'{e}' (ENTRA_CRED_PROFILE)"))
                        .unwrap_or_else(|| "'default'".into())
                ),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::random_texts;
    use super::*;

    #[test]
    fn registries() {
        assert_eq!(
            normalise_registry("https://MyReg.azurecr.io/v2/").unwrap(),
            "myreg.azurecr.io"
        );
        assert_eq!(
            normalise_registry("127.0.0.1:5000").unwrap(),
            "127.0.0.1:5000"
        );
        assert!(normalise_registry("").is_err());
        assert!(normalise_registry("a b").is_err());
        assert!(is_acr("x.azurecr.io") && is_acr("x.azurecr.cn:443") && is_acr("x.azurecr.us"));
        assert!(!is_acr("azurecr.io") && !is_acr("x.azurecr.io.evil") && !is_acr("ghcr.io"));
    }

    #[test]
    fn keeps_keys_in_order() {
        let old = "{\n\t\"auths\": {\"a\": {}},\n\t\"credHelpers\": {\"gcr.io\": \"gcloud\"},\n\t\"zeta\": 1\n}";
        let (new, replaced) = edit(Path::new("c"), Some(old), &["r.azurecr.io".into()]).unwrap();
        assert!(replaced.is_empty());
        // Only the entry is added, in the file's own layout; nothing else is re-indented.
        assert_eq!(
            new,
            "{\n\t\"auths\": {\"a\": {}},\n\t\"credHelpers\": {\"gcr.io\": \"gcloud\", \"r.azurecr.io\": \"entra\"},\n\t\"zeta\": 1\n}"
        );
        let (again, _) = edit(Path::new("c"), Some(&new), &["r.azurecr.io".into()]).unwrap();
        assert_eq!(again, new);
        let (back, removed) = remove(Path::new("c"), &new, &[]).unwrap();
        assert_eq!((back.as_str(), removed.len()), (old, 1));
    }

    #[test]
    fn remove_gives_back_the_bytes() {
        let p = Path::new("c");
        for old in [
            "{\n  \"auths\": {}\n}\n",
            "{\"auths\":{},\"credsStore\":\"desktop\"}",
            "{\r\n\t\"credHelpers\": {\r\n\t\t\"gcr.io\": \"gcloud\"\r\n\t}\r\n}\r\n",
            "{\n\t\"credHelpers\": {}\n}",
            "{}",
        ] {
            let regs = ["a.azurecr.io".to_string(), "b.azurecr.io".to_string()];
            let (new, _) = edit(p, Some(old), &regs).unwrap();
            let v: Value = serde_json::from_str(&new).unwrap();
            assert_eq!(v["credHelpers"]["b.azurecr.io"], "entra", "{new}");
            let (back, removed) = remove(p, &new, &[]).unwrap();
            assert_eq!(removed.len(), 2);
            if old.contains("\"credHelpers\": {}") {
                assert_eq!(back, "{}", "an empty credHelpers goes too");
            } else {
                assert_eq!(back, old, "from {new}");
            }
            let (again, none) = remove(p, &back, &[]).unwrap();
            assert_eq!((again.as_str(), none.len()), (back.as_str(), 0));
        }
        let (new, _) = edit(p, None, &["a.azurecr.io".into()]).unwrap();
        let (one, _) = remove(p, &new, &["other.azurecr.io".into()]).unwrap();
        assert_eq!(one, new, "only the named registries");
    }

    /// A small deterministic fuzz: JSON-ish texts never make the editor panic.
    #[test]
    fn random_texts_do_not_panic() {
        let p = Path::new("c");
        let regs = ["a.azurecr.io".to_string()];
        let alphabet = "{}[]\",:\\ \n\tacredHlps0é";
        for (seed, mut text) in random_texts(alphabet, 0x2545_f491_4f6c_dd1d, 5_000) {
            if seed.is_multiple_of(2) {
                text = format!("{{\"credHelpers\": {{{text}}}}}");
            }
            if let Ok((new, _)) = edit(p, Some(&text), &regs) {
                let _ = remove(p, &new, &[]);
            }
            let _ = remove(p, &text, &[]);
        }
    }

    #[test]
    fn bare_names() {
        assert_eq!(
            expand_bare("myreg", ".azurecr.io").as_deref(),
            Some("myreg.azurecr.io")
        );
        assert_eq!(
            expand_bare("myreg", ".azurecr.cn").as_deref(),
            Some("myreg.azurecr.cn")
        );
        for host in ["myreg.azurecr.io", "reg:5000", "localhost", "[::1]:5000"] {
            assert_eq!(expand_bare(host, ".azurecr.io"), None, "{host}");
        }
    }

    #[test]
    fn refuses_what_it_cannot_parse() {
        for bad in ["{", "[]", "{\"credHelpers\": []}", "null"] {
            let e = edit(Path::new("c"), Some(bad), &["r.azurecr.io".into()]).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
        }
        let (new, _) = edit(Path::new("c"), Some(""), &["r.azurecr.io".into()]).unwrap();
        assert_eq!(
            new,
            "{\n\t\"credHelpers\": {\n\t\t\"r.azurecr.io\": \"entra\"\n\t}\n}\n"
        );
    }
}
