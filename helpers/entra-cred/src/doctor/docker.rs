//! docker (and skopeo, podman, buildah, crane, which read the same file): for each registry
//! that entra-cred is meant to serve, which helper the tool will use.
//!
//! Docker looks a registry up in `credHelpers` first (`"<registry>": "entra"` runs
//! `docker-credential-entra` from PATH), else uses `credsStore` (Docker Desktop's store, `pass`,
//! ...), else the passwords in `auths` (what `az acr login` leaves: valid about three hours).
//! The registries checked: those `credHelpers` sends to `entra`, every profile's `acr_hosts`
//! (and `ENTRA_CRED_ACR_HOSTS`), and the `*.azurecr.*` registries of `auths`.

use super::{find_program, path_fix, shown, Check, Ctx};
use crate::setup::docker::{config_path, HELPER};
use entra_cred_core::cloud::Cloud;
use entra_cred_core::hosts::Service;
use serde_json::Value;

const TOOL: &str = "docker";

/// The docker checks.
pub fn checks(ctx: &Ctx) -> Vec<Check> {
    let path = match config_path() {
        Ok(p) => p,
        Err(e) => return vec![Check::warn(TOOL, "config.json", e.to_string(), None)],
    };
    let root = match std::fs::read(&path) {
        Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(m)) => Some(m),
            _ => {
                return vec![Check::fail(
                    TOOL,
                    shown(&path),
                    "docker cannot parse this file (not a JSON object): every registry fails",
                    Some(format!(
                        "fix or move away {}, then {}setup docker <registry>",
                        shown(&path),
                        ctx.entra_cred()
                    )),
                )]
            }
        },
        Err(_) => None,
    };
    let root = root.unwrap_or_default();
    let helpers = root.get("credHelpers").and_then(Value::as_object);
    let creds_store = root
        .get("credsStore")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let auths = root.get("auths").and_then(Value::as_object);

    let mut registries: Vec<(String, bool)> = Vec::new(); // (registry, meant for entra-cred)
    let mut add = |r: &str, meant: bool| {
        let r = r.trim().to_ascii_lowercase();
        if let Some(x) = registries.iter_mut().find(|(x, _)| *x == r) {
            x.1 |= meant;
        } else if !r.is_empty() {
            registries.push((r, meant));
        }
    };
    for (r, h) in helpers.into_iter().flatten() {
        if h.as_str() == Some(HELPER) {
            add(r, true);
        }
    }
    for h in ctx.hosts(|p| &p.acr_hosts) {
        add(&h, true);
    }
    for r in auths.into_iter().flatten().map(|(k, _)| k) {
        let host = crate::setup::docker::normalise_registry(r).unwrap_or_default();
        if Service::Acr.is_builtin(&host) {
            add(&host, false);
        }
    }
    if registries.is_empty() {
        return vec![Check::warn(
            TOOL,
            "registries",
            format!(
                "not set up: no registry in {} uses docker-credential-entra",
                shown(&path)
            ),
            Some(format!(
                "{}setup docker <registry>.azurecr.io",
                ctx.entra_cred()
            )),
        )];
    }
    let served_hosts = ctx.hosts(|p| &p.acr_hosts);
    let helper_bin = find_program("docker-credential-entra");
    let mut checks = Vec::new();
    for (r, meant) in registries {
        let setup = format!("{}setup docker {r}", ctx.entra_cred());
        let status_fail = |detail: String| {
            if meant {
                Check::fail(TOOL, r.clone(), detail, Some(setup.clone()))
            } else {
                Check::warn(TOOL, r.clone(), detail, Some(setup.clone()))
            }
        };
        let entry = helpers.and_then(|h| h.get(&r)).and_then(Value::as_str);
        match entry {
            Some(HELPER) => {
                let served = Service::Acr.serves(&r, &served_hosts);
                if helper_bin.is_none() {
                    checks.push(Check::fail(
                        TOOL,
                        r.clone(),
                        "credHelpers sends it to docker-credential-entra, which is not on PATH (moved or uninstalled?)",
                        Some(path_fix("docker-credential-entra")),
                    ));
                } else if !served {
                    checks.push(Check::fail(
                        TOOL,
                        r.clone(),
                        format!("credHelpers sends it to docker-credential-entra, which serves only {} and acr_hosts: it will answer \"credentials not found\"", Cloud::acr_suffixes_shown()),
                        Some(format!(
                            "add acr_hosts = [\"{r}\"] to [profiles.{}] in {}",
                            ctx.flag_profile.as_deref().unwrap_or("default"),
                            crate::setup::git::config_path_shown(&ctx.config)
                        )),
                    ));
                } else {
                    checks.push(Check::ok(
                        TOOL,
                        r.clone(),
                        "docker uses docker-credential-entra (credHelpers)",
                    ));
                }
            }
            Some(other) => checks.push(status_fail(format!(
                "credHelpers sends it to docker-credential-{other}, not docker-credential-entra"
            ))),
            None => {
                let has_auth = auths.is_some_and(|a| {
                    a.keys().any(|k| {
                        crate::setup::docker::normalise_registry(k).ok().as_deref() == Some(&r)
                    })
                });
                let detail = match creds_store {
                    Some(s) => format!(
                        "no credHelpers entry: docker asks credsStore '{s}' (docker-credential-{s}), which does not get Entra tokens"
                    ),
                    None if has_auth => "no credHelpers entry: docker uses the password stored in auths (an `az acr login` token lasts about 3 hours)".to_string(),
                    None => "no credHelpers entry and no credsStore: docker has no credentials for it".to_string(),
                };
                checks.push(status_fail(detail));
            }
        }
    }
    checks
}
