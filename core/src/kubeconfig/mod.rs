//! Kubeconfig conversion (`kubectl-entra convert-kubeconfig`).
//!
//! Rewrites the users of a kubeconfig that sign in to AKS with the legacy
//! in-tree `azure` auth-provider (removed from kubectl in 1.26) or with a
//! `kubelogin get-token` exec plugin, so that they run `kubectl-entra`
//! instead. Every other key, user, cluster and context is kept as it was, in
//! the same order. [`convert`] is pure (text in, text out); [`kubeconfig_path`]
//! and [`write_atomic`] do the file work.
//!
//! YAML is read and written with `yaml-rust2` (pure Rust, maintained, keeps
//! mapping order). In a block-style file (what kubectl writes) only the
//! converted `users` items are replaced and every other line keeps its bytes,
//! comments included; another layout is written whole, and then comments other
//! than the file's leading comment block are not kept.

pub mod command;

use crate::error::{one_line, Error, Result};
use std::path::{Path, PathBuf};
use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlEmitter, YamlLoader};

/// The AKS server application (the audience of AKS API tokens).
pub const AKS_SERVER_ID: &str = "6dae42f8-4368-4678-94ff-3960e28e3630";
/// The public client that `az aks get-credentials` writes for Entra-enabled clusters. It is
/// not carried over: entra-cred's default client (the Azure CLI's) is pre-authorised for the
/// AKS server application (kubelogin's `azurecli` mode relies on the same), so the one
/// `entra-cred login` a person already made serves kubectl too.
pub const AKS_PUBLIC_CLIENT_ID: &str = "80faf920-1908-4b52-b5ef-a8e7bedfc67a";

/// The exec `apiVersion` written into converted users.
pub const EXEC_API_VERSION: &str = "client.authentication.k8s.io/v1";
/// The command written into converted users (found on `PATH`, like kubelogin).
pub const COMMAND: &str = "kubectl-entra";
/// The `installHint` written into converted users.
pub const INSTALL_HINT: &str =
    "kubectl-entra (part of entra-cred) is not on PATH: install entra-cred, then run `entra-cred login`";

/// How a user signed in before the conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldAuth {
    /// `auth-provider: {name: azure}`.
    AzureAuthProvider,
    /// `exec: {command: kubelogin, args: [get-token, ...]}`.
    Kubelogin,
}

impl OldAuth {
    /// For people: `legacy azure auth-provider`, `kubelogin exec`.
    pub fn describe(self) -> &'static str {
        match self {
            OldAuth::AzureAuthProvider => "legacy azure auth-provider",
            OldAuth::Kubelogin => "kubelogin exec plugin",
        }
    }
}

/// One user rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The user's name.
    pub user: String,
    /// What it used before.
    pub from: OldAuth,
    /// The new exec `args`.
    pub args: Vec<String>,
    /// Things the person should know (settings with no kubectl-entra flag, ...).
    pub notes: Vec<String>,
    /// The converted user entry (`name` + `user`) as YAML, for `--dry-run`.
    pub yaml: String,
}

/// What [`convert`] found and did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Users rewritten.
    pub changes: Vec<Change>,
    /// Users that already run `kubectl-entra`.
    pub already: Vec<String>,
    /// Users that look like AKS users but were left alone, with the reason.
    pub skipped: Vec<(String, String)>,
    /// The new file content; `None` when nothing changed.
    pub text: Option<String>,
}

/// What to convert and how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Only the user of this context.
    pub context: Option<String>,
    /// An entra-cred profile to name in the new args (`-p P`). With a profile,
    /// the tenant, client id and flow come from the profile, not from the old
    /// configuration.
    pub profile: Option<String>,
}

/// The flow for a kubelogin `--login` mode or an entra-cred flow name:
/// `devicecode` → `device-code`, `interactive` → `browser`, `spn` →
/// `client-secret` (`client-certificate` when `cert` says a certificate is
/// configured), `msi` → `managed-identity`, `azurecli` → `azure-cli`,
/// `workloadidentity` → `workload-identity`. `ropc` (username and password)
/// has no equivalent: `None`.
pub fn flow_for_login(mode: &str, cert: bool) -> Option<crate::config::Flow> {
    use crate::config::Flow;
    let m = mode.trim().to_ascii_lowercase();
    Some(match m.as_str() {
        "devicecode" => Flow::DeviceCode,
        "interactive" => Flow::Browser,
        "spn" if cert => Flow::ClientCertificate,
        "spn" => Flow::ClientSecret,
        "msi" => Flow::ManagedIdentity,
        "azurecli" => Flow::AzureCli,
        "workloadidentity" => Flow::WorkloadIdentity,
        "ropc" => return None,
        _ => return crate::config::Flow::parse(&m).ok(),
    })
}

fn s(v: &str) -> Yaml {
    Yaml::String(v.to_string())
}

fn get<'a>(h: &'a Hash, key: &str) -> Option<&'a Yaml> {
    h.get(&s(key))
}

fn get_str<'a>(h: &'a Hash, key: &str) -> Option<&'a str> {
    get(h, key).and_then(Yaml::as_str)
}

/// Whether an exec `command` is kubelogin (`kubelogin`, a path to it, `.exe`).
fn is_command(cmd: &str, name: &str) -> bool {
    let base = cmd.rsplit(['/', '\\']).next().unwrap_or(cmd);
    let base = base.strip_suffix(".exe").unwrap_or(base);
    base == name
}

/// Settings taken from the old configuration.
#[derive(Default)]
struct Old {
    server_id: Option<String>,
    tenant: Option<String>,
    client_id: Option<String>,
    flow: Option<&'static str>,
    notes: Vec<String>,
}

fn cloud_note(env: &str) -> Option<String> {
    let e = env.trim().to_ascii_lowercase();
    let cloud = match e.as_str() {
        "" | "azurepubliccloud" | "azurecloud" | "public" => return None,
        "azureusgovernmentcloud" | "azureusgovernment" | "usgov" => "usgov",
        "azurechinacloud" | "china" => "china",
        _ => {
            return Some(format!(
                "environment '{}' is not known to entra-cred: check the profile's authority",
                one_line(env)
            ))
        }
    };
    Some(format!(
        "environment '{}': set `cloud = \"{cloud}\"` in the entra-cred profile",
        one_line(env)
    ))
}

fn from_auth_provider(config: Option<&Hash>) -> Old {
    let mut old = Old::default();
    let Some(c) = config else { return old };
    let val = |k: &str| {
        get_str(c, k)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    old.server_id = val("apiserver-id");
    old.tenant = val("tenant-id");
    old.client_id = val("client-id");
    if let Some(n) = val("environment").and_then(|e| cloud_note(&e)) {
        old.notes.push(n);
    }
    old
}

/// Reads kubelogin's `get-token` flags. Err = why the user cannot be converted.
fn from_kubelogin(args: &[String]) -> std::result::Result<Old, String> {
    let mut old = Old::default();
    let mut login: Option<String> = None;
    let mut cert = false;
    let mut i = 1; // args[0] is get-token
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if !a.starts_with('-') {
            continue;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        const WITH_VALUE: [&str; 8] = [
            "--server-id",
            "--client-id",
            "--tenant-id",
            "-t",
            "--login",
            "-l",
            "--environment",
            "-e",
        ];
        let known = WITH_VALUE.contains(&name.as_str());
        let value = match inline {
            Some(v) => Some(v),
            None if known || args.get(i).is_some_and(|n| !n.starts_with('-')) => {
                let v = args.get(i).cloned();
                i += 1;
                v
            }
            None => None,
        };
        let value = value
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty());
        match name.as_str() {
            "--server-id" => old.server_id = value,
            "--client-id" => old.client_id = value,
            "--tenant-id" | "-t" => old.tenant = value,
            "--login" | "-l" => login = value,
            "--environment" | "-e" => {
                if let Some(n) = value.as_deref().and_then(cloud_note) {
                    old.notes.push(n);
                }
            }
            "--client-secret" | "--password" => old.notes.push(format!(
                "kubelogin's {name} (a secret in the kubeconfig) was dropped: put secrets in AZURE_CLIENT_SECRET or the entra-cred profile"
            )),
            "--client-certificate" => {
                cert = true;
                old.notes.push(
                    "kubelogin's --client-certificate: set AZURE_CLIENT_CERTIFICATE_PATH or `certificate` in the entra-cred profile".into(),
                )
            }
            other => old
                .notes
                .push(format!("kubelogin flag {} has no kubectl-entra equivalent and was dropped", one_line(other))),
        }
    }
    let mode = login.unwrap_or_else(|| "devicecode".into());
    let flow = flow_for_login(&mode, cert).ok_or_else(|| {
        format!(
            "kubelogin --login {} has no entra-cred equivalent; left unchanged",
            one_line(&mode)
        )
    })?;
    use crate::config::Flow;
    match flow {
        // The default sign-in: `auto` serves the cached login, else device code.
        Flow::DeviceCode => {}
        Flow::ManagedIdentity => {
            if old.client_id.take().is_some() {
                old.notes.push("kubelogin's --client-id names the managed identity here: set `managed_identity_client_id` in the entra-cred profile".into());
            }
            old.flow = Some(flow.name());
        }
        Flow::AzureCli => {
            old.client_id = None;
            old.flow = Some(flow.name());
        }
        _ => old.flow = Some(flow.name()),
    }
    Ok(old)
}

fn new_args(old: &Old, opts: &Options) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(p) = &opts.profile {
        args.push("-p".to_string());
        args.push(p.clone());
    }
    args.push("--server-id".into());
    args.push(
        old.server_id
            .clone()
            .unwrap_or_else(|| AKS_SERVER_ID.into()),
    );
    if opts.profile.is_none() {
        if let Some(t) = &old.tenant {
            args.push("--tenant".into());
            args.push(t.clone());
        }
        if let Some(c) = old
            .client_id
            .as_ref()
            .filter(|c| !c.eq_ignore_ascii_case(AKS_PUBLIC_CLIENT_ID))
        {
            args.push("--client-id".into());
            args.push(c.clone());
        }
        if let Some(f) = old.flow {
            args.push("--flow".into());
            args.push(f.into());
        }
    }
    args
}

/// The `exec` mapping for `args`; `base` (an old kubelogin exec) keeps its
/// key order and its other keys (`env`, ...).
fn exec_mapping(base: Option<&Hash>, args: &[String]) -> Hash {
    let mut want: Vec<(&str, Yaml)> = vec![
        ("apiVersion", s(EXEC_API_VERSION)),
        ("args", Yaml::Array(args.iter().map(|a| s(a)).collect())),
        ("command", s(COMMAND)),
        ("env", Yaml::Null),
        ("installHint", s(INSTALL_HINT)),
        ("interactiveMode", s("IfAvailable")),
        ("provideClusterInfo", Yaml::Boolean(false)),
    ];
    let mut out = Hash::new();
    if let Some(b) = base {
        for (k, v) in b {
            let pos = k
                .as_str()
                .and_then(|name| want.iter().position(|(w, _)| *w == name));
            match pos {
                Some(i) => {
                    let (name, new) = want.remove(i);
                    // `env` belongs to the user: keep it.
                    let value = if name == "env" { v.clone() } else { new };
                    out.insert(k.clone(), value);
                }
                None => {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
    }
    for (k, v) in want {
        out.insert(s(k), v);
    }
    out
}

fn has_bad(y: &Yaml) -> bool {
    match y {
        Yaml::BadValue | Yaml::Alias(_) => true,
        Yaml::Array(a) => a.iter().any(has_bad),
        Yaml::Hash(h) => h.iter().any(|(k, v)| has_bad(k) || has_bad(v)),
        _ => false,
    }
}

/// Parses a kubeconfig: one YAML document whose top level is a mapping (an
/// empty file is an empty config). Err is one line, without the file name.
pub fn parse(text: &str) -> Result<Yaml> {
    let docs = YamlLoader::load_from_str(text)
        .map_err(|e| Error::Config(format!("not valid YAML ({})", one_line(&e.to_string()))))?;
    let doc = match docs.len() {
        0 => return Ok(Yaml::Hash(Hash::new())),
        1 => docs.into_iter().next().unwrap_or(Yaml::BadValue),
        n => {
            return Err(Error::Config(format!(
                "{n} YAML documents where a kubeconfig has one"
            )))
        }
    };
    if matches!(doc, Yaml::BadValue | Yaml::Null) {
        return Ok(Yaml::Hash(Hash::new()));
    }
    if !doc.is_hash() {
        return Err(Error::Config(
            "not a kubeconfig (the top level is not a mapping)".into(),
        ));
    }
    if has_bad(&doc) {
        return Err(Error::Config(
            "the YAML has a value that cannot be read back faithfully (an unknown tag or alias)"
                .into(),
        ));
    }
    Ok(doc)
}

/// Writes YAML the way kubeconfigs look (block style, no `---`), ending in a newline.
pub fn emit(doc: &Yaml) -> Result<String> {
    let mut out = String::new();
    {
        let mut em = YamlEmitter::new(&mut out);
        em.dump(doc)
            .map_err(|e| Error::Other(format!("cannot write YAML: {e}")))?;
    }
    let body = out
        .strip_prefix("---\n")
        .or_else(|| out.strip_prefix("---"))
        .unwrap_or(&out)
        .trim_start_matches('\n');
    Ok(format!("{}\n", body.trim_end_matches('\n')))
}

/// The comment lines (and blank lines) at the top of the file, kept on rewrite.
fn leading_comments(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        // A lone CR ends a line for YAML: what follows it is not part of the
        // comment, so the line cannot be copied as one (fuzz: kubeconfig).
        if line.contains('\r') {
            break;
        }
        let t = line.trim();
        if t.starts_with('#') || t.is_empty() {
            out.push_str(line);
            out.push('\n');
        } else {
            break;
        }
    }
    // Blank lines alone are not worth keeping.
    if out.trim().is_empty() {
        String::new()
    } else {
        out
    }
}

/// Whether the file has comments below its leading block (they are lost).
pub fn has_inner_comments(text: &str) -> bool {
    let lead = leading_comments(text).lines().count();
    text.lines()
        .skip(lead)
        .any(|l| l.trim_start().starts_with('#'))
}

/// Converts the kubeconfig `text`. Pure. Errors (exit 2): not YAML, not a
/// kubeconfig, `users` or `contexts` of the wrong shape, or an unknown context.
pub fn convert(text: &str, opts: &Options) -> Result<Outcome> {
    let mut doc = parse(text)?;
    let Yaml::Hash(top) = &mut doc else {
        return Err(Error::Config("not a kubeconfig".into()));
    };

    let only_user: Option<String> = match &opts.context {
        None => None,
        Some(ctx) => {
            let contexts = match get(top, "contexts") {
                None | Some(Yaml::Null) => Vec::new(),
                Some(Yaml::Array(a)) => a.clone(),
                Some(_) => return Err(Error::Config("`contexts` is not a list".into())),
            };
            let found = contexts.iter().find_map(|c| {
                let h = c.as_hash()?;
                (get_str(h, "name")? == ctx).then_some(h)
            });
            let Some(h) = found else {
                return Err(Error::Config(format!(
                    "no context named '{}' (see `kubectl config get-contexts`)",
                    one_line(ctx)
                )));
            };
            let user = get(h, "context")
                .and_then(Yaml::as_hash)
                .and_then(|c| get_str(c, "user"))
                .ok_or_else(|| {
                    Error::Config(format!("context '{}' names no user", one_line(ctx)))
                })?;
            Some(user.to_string())
        }
    };

    let mut outcome = Outcome::default();
    let users = match top.get_mut(&s("users")) {
        None | Some(Yaml::Null) => None,
        Some(Yaml::Array(a)) => Some(a),
        Some(_) => return Err(Error::Config("`users` is not a list".into())),
    };
    let mut seen_only = false;
    let mut spliced: Vec<(usize, String)> = Vec::new();
    for (index, entry) in users.into_iter().flatten().enumerate() {
        let Some(eh) = entry.as_hash() else { continue };
        let Some(name) = get_str(eh, "name").map(str::to_string) else {
            continue;
        };
        if let Some(u) = &only_user {
            if *u != name {
                continue;
            }
            seen_only = true;
        }
        let Some(user) = get(eh, "user").and_then(Yaml::as_hash) else {
            continue;
        };

        let (from, old) = if let Some(ap) = get(user, "auth-provider").and_then(Yaml::as_hash) {
            if get_str(ap, "name") != Some("azure") {
                continue;
            }
            (
                OldAuth::AzureAuthProvider,
                from_auth_provider(get(ap, "config").and_then(Yaml::as_hash)),
            )
        } else if let Some(ex) = get(user, "exec").and_then(Yaml::as_hash) {
            let cmd = get_str(ex, "command").unwrap_or("");
            if is_command(cmd, COMMAND) {
                outcome.already.push(name);
                continue;
            }
            if !is_command(cmd, "kubelogin") {
                continue;
            }
            let args: Vec<String> = match get(ex, "args") {
                Some(Yaml::Array(a)) => a
                    .iter()
                    .map(|v| match v {
                        Yaml::String(s) | Yaml::Real(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        Yaml::Boolean(b) => b.to_string(),
                        _ => String::new(),
                    })
                    .collect(),
                _ => Vec::new(),
            };
            if args.first().map(String::as_str) != Some("get-token") {
                outcome
                    .skipped
                    .push((name, "kubelogin without `get-token`; left unchanged".into()));
                continue;
            }
            match from_kubelogin(&args) {
                Ok(old) => (OldAuth::Kubelogin, old),
                Err(why) => {
                    outcome.skipped.push((name, why));
                    continue;
                }
            }
        } else {
            continue;
        };

        let args = new_args(&old, opts);
        // Rebuild the user mapping in order: the old auth key becomes `exec`.
        let mut new_user = Hash::new();
        for (k, v) in user {
            match k.as_str() {
                Some("auth-provider") if from == OldAuth::AzureAuthProvider => {
                    new_user.insert(s("exec"), Yaml::Hash(exec_mapping(None, &args)));
                }
                Some("exec") if from == OldAuth::Kubelogin => {
                    new_user.insert(s("exec"), Yaml::Hash(exec_mapping(v.as_hash(), &args)));
                }
                _ => {
                    new_user.insert(k.clone(), v.clone());
                }
            }
        }
        let mut new_entry = Hash::new();
        for (k, v) in eh {
            if k.as_str() == Some("user") {
                new_entry.insert(k.clone(), Yaml::Hash(new_user.clone()));
            } else {
                new_entry.insert(k.clone(), v.clone());
            }
        }
        let new_entry = Yaml::Hash(new_entry);
        let yaml = emit(&Yaml::Array(vec![new_entry.clone()]))?;
        spliced.push((index, yaml.clone()));
        *entry = new_entry;
        outcome.changes.push(Change {
            user: name,
            from,
            args,
            notes: old.notes,
            yaml,
        });
    }
    if let (Some(u), false) = (&only_user, seen_only) {
        return Err(Error::Config(format!(
            "context '{}' names user '{}', which is not in the users list",
            one_line(opts.context.as_deref().unwrap_or("")),
            one_line(u)
        )));
    }
    if !outcome.changes.is_empty() {
        outcome.text = Some(match splice_users(text, &doc, &spliced) {
            Some(t) => t,
            None => format!("{}{}", leading_comments(text), emit(&doc)?),
        });
    }
    Ok(outcome)
}

/// The text with only the converted `users` items replaced (each by its emitted YAML, at the
/// item's indentation), so that everything else keeps its bytes: the format kubectl writes,
/// comments, a dotfile manager's diff. `None` when the layout is not the plain block style
/// found by a line scan, or the result does not read back as `doc` (then the caller writes the
/// whole document).
fn splice_users(text: &str, doc: &Yaml, items: &[(usize, String)]) -> Option<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let indent = |l: &str| l.len() - l.trim_start_matches(' ').len();
    let skip = |l: &str| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#')
    };
    let start = lines.iter().position(|l| {
        let b = l.trim_end();
        b == "users:" || b.starts_with("users: #")
    })?;
    // Items: lines starting with `- ` at the first item's indentation; an item runs to its
    // last line indented deeper (blank and comment lines after it stay outside).
    let mut starts: Vec<usize> = Vec::new();
    let mut ends: Vec<usize> = Vec::new();
    let mut item_indent = None;
    let mut i = start + 1;
    while i < lines.len() {
        let l = lines[i];
        if skip(l) {
            i += 1;
            continue;
        }
        let ind = indent(l);
        let t = &l[ind..];
        let dash = t.starts_with("- ") || t.trim_end() == "-";
        match item_indent {
            None if dash => item_indent = Some(ind),
            None => return None,
            Some(_) => {}
        }
        let ii = item_indent?;
        if dash && ind == ii {
            starts.push(i);
            ends.push(i + 1);
        } else if ind > ii {
            *ends.last_mut()? = i + 1;
        } else {
            break;
        }
        i += 1;
    }
    let ii = item_indent?;
    let users = match doc {
        Yaml::Hash(h) => get(h, "users")?.as_vec()?,
        _ => return None,
    };
    if starts.len() != users.len() {
        return None;
    }
    let nl = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let mut out = String::with_capacity(text.len() + 256);
    let mut k = 0;
    while k < lines.len() {
        if let Some(n) = starts.iter().position(|&s| s == k) {
            if let Some((_, yaml)) = items.iter().find(|(idx, _)| *idx == n) {
                for l in yaml.lines() {
                    out.push_str(&" ".repeat(ii));
                    out.push_str(l);
                    out.push_str(nl);
                }
                k = ends[n];
                continue;
            }
        }
        out.push_str(lines[k]);
        k += 1;
    }
    (parse(&out).ok()? == *doc).then_some(out)
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

/// Replaces `path` with `text` atomically (a temporary file in the same
/// directory, renamed over it), keeping the file's permissions. A symlink is
/// followed: its target is replaced.
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mode = existing_mode(&target).unwrap_or(0o600);
    crate::atomic::replace(&target, text.as_bytes(), mode)
        .map_err(|e| Error::io("cannot write", &target, &e))
}

/// The permission bits of an existing file.
fn existing_mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o7777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const LEGACY: &str = include_str!("../../tests/fixtures/kubeconfig-aks-legacy-azure.yaml");
    const KUBELOGIN: &str = include_str!("../../tests/fixtures/kubeconfig-aks-kubelogin.yaml");
    const TENANT: &str = "3c0b1f5e-8d2a-4a57-9f3e-0b7c1d2e4a6f";
    const AKS_CLIENT: &str = "80faf920-1908-4b52-b5ef-a8e7bedfc67a";

    fn users(doc: &Yaml) -> Vec<Yaml> {
        doc["users"].as_vec().cloned().unwrap_or_default()
    }

    fn user<'a>(doc: &'a Yaml, name: &str) -> &'a Yaml {
        doc["users"]
            .as_vec()
            .unwrap()
            .iter()
            .find(|u| u["name"].as_str() == Some(name))
            .map(|u| &u["user"])
            .unwrap()
    }

    fn args_of(u: &Yaml) -> Vec<String> {
        u["exec"]["args"]
            .as_vec()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn legacy_azure_becomes_exec() {
        let out = convert(LEGACY, &Options::default()).unwrap();
        assert_eq!(out.changes.len(), 1);
        let c = &out.changes[0];
        assert_eq!(c.user, "clusterUser_rg-demo_aks-demo");
        assert_eq!(c.from, OldAuth::AzureAuthProvider);
        // The AKS public client of the fixture is not carried over (the default client serves).
        assert!(LEGACY.contains(AKS_CLIENT));
        assert_eq!(AKS_CLIENT, AKS_PUBLIC_CLIENT_ID);
        assert_eq!(c.args, ["--server-id", AKS_SERVER_ID, "--tenant", TENANT]);
        let text = out.text.unwrap();
        assert!(text.starts_with("# Shape of a kubeconfig"), "{text}");
        let doc = parse(&text).unwrap();
        let u = user(&doc, "clusterUser_rg-demo_aks-demo");
        assert!(u["auth-provider"].is_badvalue());
        assert_eq!(u["exec"]["command"].as_str(), Some(COMMAND));
        assert_eq!(u["exec"]["apiVersion"].as_str(), Some(EXEC_API_VERSION));
        assert_eq!(u["exec"]["interactiveMode"].as_str(), Some("IfAvailable"));
        assert_eq!(u["exec"]["provideClusterInfo"].as_bool(), Some(false));
        assert_eq!(args_of(u), c.args);
        // Everything else is the same value, in the same order.
        let before = parse(LEGACY).unwrap();
        assert_eq!(users(&doc)[1], users(&before)[1]);
        for k in [
            "clusters",
            "contexts",
            "preferences",
            "current-context",
            "kind",
            "apiVersion",
        ] {
            assert_eq!(doc[k], before[k], "{k}");
        }
        let keys = |d: &Yaml| -> Vec<String> {
            d.as_hash()
                .unwrap()
                .keys()
                .map(|k| k.as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(keys(&doc), keys(&before));
    }

    #[test]
    fn kubelogin_exec_is_rewritten_in_place() {
        let out = convert(KUBELOGIN, &Options::default()).unwrap();
        assert_eq!(out.changes.len(), 1);
        let c = &out.changes[0];
        assert_eq!(c.from, OldAuth::Kubelogin);
        assert_eq!(c.args, ["--server-id", AKS_SERVER_ID, "--tenant", TENANT]);
        let doc = parse(out.text.as_deref().unwrap()).unwrap();
        let u = user(&doc, "clusterUser_rg-prod_aks-prod");
        let keys: Vec<&str> = u["exec"]
            .as_hash()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap())
            .collect();
        // kubelogin's key order is kept.
        assert_eq!(
            keys,
            [
                "apiVersion",
                "args",
                "command",
                "env",
                "installHint",
                "interactiveMode",
                "provideClusterInfo"
            ]
        );
        assert_eq!(u["exec"]["apiVersion"].as_str(), Some(EXEC_API_VERSION));
        assert!(u["exec"]["env"].is_null());
        assert!(!u["exec"]["installHint"]
            .as_str()
            .unwrap()
            .contains("kubelogin"));
    }

    #[test]
    fn only_the_converted_user_changes() {
        for f in [LEGACY, KUBELOGIN] {
            let new = convert(f, &Options::default()).unwrap().text.unwrap();
            let users = f.find("\nusers:\n").unwrap();
            assert_eq!(
                &new[..users],
                &f[..users],
                "before users: kept byte for byte"
            );
            // The untouched user keeps its lines exactly.
            if let Some(other) = f[users..].find("- name: other-admin") {
                assert!(new.contains(&f[users + other..]), "{new}");
            }
        }
        // kubectl's layout, a comment inside and a user with another indentation stay.
        let text = "apiVersion: v1\nusers:\n  # ours\n  - name: a\n    user:\n      auth-provider:\n        name: azure\n        config:\n          tenant-id: t\n          apiserver-id: s\n  - name: b   # keep me\n    user: {token: x}\nkind: Config\n";
        let new = convert(text, &Options::default()).unwrap().text.unwrap();
        assert!(
            new.starts_with(
                "apiVersion: v1\nusers:\n  # ours\n  - name: a\n    user:\n      exec:\n"
            ),
            "{new}"
        );
        assert!(
            new.ends_with("  - name: b   # keep me\n    user: {token: x}\nkind: Config\n"),
            "{new}"
        );
        // A flow-style users list cannot be spliced: the whole document is written.
        let flow = "users: [{name: a, user: {auth-provider: {name: azure, config: {tenant-id: t, apiserver-id: s}}}}]\n";
        let new = convert(flow, &Options::default()).unwrap().text.unwrap();
        assert!(new.starts_with("users:\n"), "{new}");
    }

    #[test]
    fn second_run_changes_nothing() {
        for f in [LEGACY, KUBELOGIN] {
            let once = convert(f, &Options::default()).unwrap().text.unwrap();
            let twice = convert(&once, &Options::default()).unwrap();
            assert!(twice.changes.is_empty());
            assert_eq!(twice.already.len(), 1);
            assert!(twice.text.is_none());
        }
    }

    #[test]
    fn emitted_yaml_round_trips() {
        let doc = parse(KUBELOGIN).unwrap();
        let again = parse(&emit(&doc).unwrap()).unwrap();
        assert_eq!(doc, again);
        // The multi-line installHint and the quoted "1" survive.
        let doc = parse(LEGACY).unwrap();
        let text = emit(&doc).unwrap();
        assert!(!text.starts_with("---"));
        assert_eq!(parse(&text).unwrap(), doc);
        assert_eq!(
            doc["users"][0]["user"]["auth-provider"]["config"]["config-mode"],
            Yaml::String("1".into())
        );
    }

    #[test]
    fn context_limits_to_its_user() {
        let two = format!(
            "{LEGACY}- name: second\n  user:\n    auth-provider:\n      name: azure\n      config:\n        tenant-id: t2\n"
        );
        let all = convert(&two, &Options::default()).unwrap();
        assert_eq!(all.changes.len(), 2);
        let one = convert(
            &two,
            &Options {
                context: Some("aks-demo".into()),
                profile: None,
            },
        )
        .unwrap();
        assert_eq!(one.changes.len(), 1);
        assert_eq!(one.changes[0].user, "clusterUser_rg-demo_aks-demo");
        let doc = parse(one.text.as_deref().unwrap()).unwrap();
        assert!(!user(&doc, "second")["auth-provider"].is_badvalue());
        // The other context's user is not an AKS user: nothing to do.
        let other = convert(
            LEGACY,
            &Options {
                context: Some("other".into()),
                profile: None,
            },
        )
        .unwrap();
        assert!(other.changes.is_empty() && other.text.is_none());
        let e = convert(
            LEGACY,
            &Options {
                context: Some("nope".into()),
                profile: None,
            },
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("nope"));
    }

    #[test]
    fn profile_is_named_and_replaces_tenant_and_client() {
        let out = convert(
            LEGACY,
            &Options {
                context: None,
                profile: Some("work".into()),
            },
        )
        .unwrap();
        assert_eq!(
            out.changes[0].args,
            ["-p", "work", "--server-id", AKS_SERVER_ID]
        );
    }

    #[test]
    fn kubelogin_modes() {
        let conv = |extra: &[&str]| {
            let mut a = vec!["get-token".to_string()];
            a.extend(extra.iter().map(|s| s.to_string()));
            from_kubelogin(&a)
        };
        let o = conv(&["--login", "azurecli", "--server-id=abc", "--client-id", "x"]).unwrap();
        assert_eq!(o.flow, Some("azure-cli"));
        assert_eq!(o.server_id.as_deref(), Some("abc"));
        assert_eq!(o.client_id, None);
        let o = conv(&[
            "-l",
            "spn",
            "--client-secret",
            "s3cret",
            "--client-id",
            "app",
        ])
        .unwrap();
        assert_eq!(o.flow, Some("client-secret"));
        assert_eq!(o.client_id.as_deref(), Some("app"));
        assert!(o.notes.iter().all(|n| !n.contains("s3cret")));
        let o = conv(&["--login", "msi", "--client-id", "mi"]).unwrap();
        assert_eq!((o.flow, o.client_id), (Some("managed-identity"), None));
        let o = conv(&["--login", "workloadidentity"]).unwrap();
        assert_eq!(o.flow, Some("workload-identity"));
        let o = conv(&["--environment", "AzureUSGovernmentCloud"]).unwrap();
        assert_eq!(o.flow, None);
        assert!(o.notes[0].contains("usgov"));
        assert!(conv(&["--login", "ropc"]).is_err());
        assert_eq!(
            flow_for_login("interactive", false).map(|f| f.name()),
            Some("browser")
        );
        assert_eq!(
            flow_for_login("device-code", false).map(|f| f.name()),
            Some("device-code")
        );
        assert_eq!(flow_for_login("nonsense", false), None);
    }

    #[test]
    fn ropc_user_is_skipped_not_changed() {
        let t = KUBELOGIN.replace("      - devicecode", "      - ropc");
        let out = convert(&t, &Options::default()).unwrap();
        assert!(out.changes.is_empty() && out.text.is_none());
        assert_eq!(out.skipped.len(), 1);
    }

    #[test]
    fn unparsable_or_wrong_shape_is_exit_2() {
        for bad in [
            "users: [\n",
            "- a\n- b\n",
            "a: 1\n---\nb: 2\n",
            "users: 5\n",
            "key: !!int notanumber\n",
            "\tusers: x",
        ] {
            let e = convert(bad, &Options::default()).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}");
            assert!(!e.to_string().contains('\n'));
        }
        // An empty file is an empty config: nothing to do.
        assert!(convert("", &Options::default()).unwrap().text.is_none());
        assert!(convert("# only a comment\n", &Options::default())
            .unwrap()
            .text
            .is_none());
    }

    #[test]
    fn a_carriage_return_inside_a_leading_comment_is_not_kept_as_comment() {
        // Found by fuzzing: YAML reads `# c\rextra: 1` as a comment and a key.
        // Copying the line as a comment and emitting the key as well wrote
        // the key twice, and the converted file no longer parsed.
        let t = format!("# c\rextra: 1\n{LEGACY}");
        let out = convert(&t, &Options::default()).unwrap();
        let text = out.text.expect("converted");
        let again = convert(&text, &Options::default()).expect("the output parses");
        assert!(again.changes.is_empty() && again.text.is_none());
        assert_eq!(parse(&text).unwrap()["extra"].as_i64(), Some(1));
    }

    #[test]
    fn comments_detection() {
        assert!(!has_inner_comments(LEGACY));
        assert!(has_inner_comments("a: 1\n# x\n"));
    }

    #[test]
    fn command_names() {
        assert!(is_command("kubelogin", "kubelogin"));
        assert!(is_command("/usr/local/bin/kubelogin", "kubelogin"));
        assert!(is_command("C:\\bin\\kubelogin.exe", "kubelogin"));
        assert!(!is_command("kubelogin2", "kubelogin"));
    }

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
