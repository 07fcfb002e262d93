//! kubectl: the kubeconfig users that sign in to AKS, and how.
//!
//! Every file of `KUBECONFIG` (else `~/.kube/config`) is read; kubectl merges them and the first
//! file to define a user wins, so later duplicates are skipped. A user whose `exec.command` is
//! `kubectl-entra` is ours (the command must be found: on PATH, or at its absolute path); a
//! `kubelogin` exec or the legacy `azure` auth-provider (removed from kubectl in 1.26) is what
//! `entra-cred setup kubectl` converts.

use super::{find_program, missing_profile, path_fix, shown, Check, Ctx};
use std::path::PathBuf;
use yaml_rust2::Yaml;

const TOOL: &str = "kubectl";

fn files() -> Vec<PathBuf> {
    if let Some(list) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        return std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
    }
    entra_cred_core::paths::home()
        .map(|h| vec![h.join(".kube").join("config")])
        .unwrap_or_default()
}

fn base(cmd: &str) -> &str {
    let b = cmd.rsplit(['/', '\\']).next().unwrap_or(cmd);
    b.strip_suffix(".exe").unwrap_or(b)
}

fn str_list(y: &Yaml) -> Vec<String> {
    y.as_vec()
        .map(|v| {
            v.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The kubectl checks.
pub fn checks(ctx: &Ctx) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut any_file = false;
    for file in files() {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        any_file = true;
        let doc = match entra_cred_core::kubeconfig::parse(&text) {
            Ok(d) => d,
            Err(e) => {
                checks.push(Check::fail(
                    TOOL,
                    shown(&file),
                    format!("kubectl cannot read it: {e}"),
                    Some(format!(
                        "fix {} (kubectl config view shows the error)",
                        shown(&file)
                    )),
                ));
                continue;
            }
        };
        let setup = format!(
            "{}setup kubectl --kubeconfig {}",
            ctx.entra_cred(),
            crate::setup::sh_quote(&file.display().to_string())
        );
        for u in doc["users"].as_vec().into_iter().flatten() {
            let Some(name) = u["name"].as_str() else {
                continue;
            };
            if seen.iter().any(|s| s == name) {
                continue;
            }
            seen.push(name.to_string());
            let user = &u["user"];
            let label = format!("user {name}");
            if let Some(cmd) = user["exec"]["command"].as_str() {
                let args = str_list(&user["exec"]["args"]);
                match base(cmd) {
                    "kubectl-entra" => {
                        if find_program(cmd).is_none() {
                            let fix = if cmd.contains('/') {
                                setup.clone()
                            } else {
                                path_fix("kubectl-entra")
                            };
                            checks.push(Check::fail(
                                TOOL,
                                label,
                                format!("runs {cmd}, which is not found (not on PATH, moved or uninstalled?)"),
                                Some(fix),
                            ));
                        } else if let Some(p) = missing_profile(ctx, &args) {
                            checks.push(Check::fail(
                                TOOL,
                                label,
                                format!(
                                    "runs kubectl-entra -p {p}, but profile '{p}' does not exist"
                                ),
                                Some(super::missing_profile_fix(&p, &setup)),
                            ));
                        } else {
                            checks.push(Check::ok(
                                TOOL,
                                label,
                                format!("runs kubectl-entra ({})", shown(&file)),
                            ));
                        }
                    }
                    "kubelogin" => {
                        let installed = find_program(cmd).is_some();
                        let detail = format!(
                            "still signs in with kubelogin{} ({}): a separate sign-in and token cache",
                            if installed { "" } else { ", which is not installed" },
                            shown(&file)
                        );
                        checks.push(if installed {
                            Check::warn(TOOL, label, detail, Some(setup.clone()))
                        } else {
                            Check::fail(TOOL, label, detail, Some(setup.clone()))
                        });
                    }
                    _ => {}
                }
            } else if user["auth-provider"]["name"].as_str() == Some("azure") {
                checks.push(Check::fail(
                    TOOL,
                    label,
                    format!(
                        "uses the legacy azure auth-provider, which kubectl 1.26 and later no longer run ({})",
                        shown(&file)
                    ),
                    Some(setup.clone()),
                ));
            }
        }
    }
    if checks.is_empty() {
        checks.push(Check::warn(
            TOOL,
            "kubeconfig",
            if any_file {
                "not set up: no kubeconfig user signs in to AKS (kubectl-entra, kubelogin or the azure auth-provider)"
            } else {
                "not set up: no kubeconfig (KUBECONFIG, ~/.kube/config)"
            },
            Some("az aks get-credentials -g <group> -n <cluster>, then entra-cred setup kubectl".into()),
        ));
    }
    checks
}
