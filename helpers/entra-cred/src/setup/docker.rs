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

use super::{report, Outcome};
use entra_cred_core::config::{split_hosts, HostKind};
use entra_cred_core::error::one_line;
use entra_cred_core::{Error, Result};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// `setup docker` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Registry host names (`myreg.azurecr.io`, `host:port`); a scheme or path is dropped.
    #[arg(value_name = "REGISTRY", required = true)]
    pub registries: Vec<String>,
    /// Print the change as a diff on stdout; write nothing.
    #[arg(long)]
    pub dry_run: bool,
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

/// The new file text with `registries` mapped to `entra`, or an error when the text is not a
/// JSON object (or its `credHelpers` is not an object). Returns the registries whose helper was
/// another one before.
pub fn edit(
    path: &Path,
    old: Option<&str>,
    registries: &[String],
) -> Result<(String, Vec<(String, String)>)> {
    let mut root: Map<String, Value> = match old {
        None => Map::new(),
        Some(t) if t.trim().is_empty() => Map::new(),
        Some(t) => match serde_json::from_str::<Value>(t) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err(super::unparsable(path, "it is not a JSON object")),
            Err(e) => return Err(super::unparsable(path, &format!("invalid JSON: {e}"))),
        },
    };
    let had_helpers = root.contains_key("credHelpers");
    let helpers = root
        .entry("credHelpers")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(helpers) = helpers else {
        return Err(super::unparsable(
            path,
            "\"credHelpers\" is not a JSON object",
        ));
    };
    let mut replaced = Vec::new();
    let mut changed = !had_helpers;
    for r in registries {
        match helpers.get(r) {
            Some(Value::String(s)) if s == HELPER => {}
            other => {
                if let Some(v) = other {
                    replaced.push((r.clone(), v.as_str().unwrap_or("?").to_string()));
                }
                helpers.insert(r.clone(), Value::String(HELPER.into()));
                changed = true;
            }
        }
    }
    if let (Some(o), false) = (old, changed) {
        // Nothing to add: keep the bytes exactly as they are.
        return Ok((o.to_string(), replaced));
    }
    let indent = old.map(indent_unit).unwrap_or_else(|| "\t".into());
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(&Value::Object(root), &mut ser)
        .map_err(|e| Error::Other(format!("cannot render {}: {e}", path.display())))?;
    buf.push(b'\n');
    let text = String::from_utf8(buf)
        .map_err(|_| Error::Other(format!("cannot render {}", path.display())))?;
    Ok((text, replaced))
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

/// Runs `setup docker`.
pub fn run(args: &Args, profile: Option<&str>) -> Result<()> {
    let config = super::check_profile(profile)?;
    let mut registries = Vec::new();
    for r in &args.registries {
        let r = normalise_registry(r)?;
        if !registries.contains(&r) {
            registries.push(r);
        }
    }
    let path = config_path()?;
    let target = super::write_target(&path);
    let old = super::read_text(&target)?;
    let (new, replaced) = edit(&target, old.as_deref(), &registries)?;
    let outcome = super::apply(&target, old.as_deref(), &new, args.dry_run, 0o600)?;
    report(
        outcome,
        &path,
        &format!(
            "docker uses docker-credential-entra for {}",
            registries.join(", ")
        ),
    );
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
        assert_eq!(
            new,
            "{\n\t\"auths\": {\n\t\t\"a\": {}\n\t},\n\t\"credHelpers\": {\n\t\t\"gcr.io\": \"gcloud\",\n\t\t\"r.azurecr.io\": \"entra\"\n\t},\n\t\"zeta\": 1\n}\n"
        );
        let (again, _) = edit(Path::new("c"), Some(&new), &["r.azurecr.io".into()]).unwrap();
        assert_eq!(again, new);
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
