//! What the old sign-in said, in kubectl-entra's terms: kubelogin's
//! `get-token` arguments and the legacy `azure` auth-provider's `config` are
//! read into [`Old`] settings (with notes for what has no equivalent), and
//! [`new_args`] writes the `kubectl-entra` arguments that replace them.
//! [`flow_for_login`] maps a kubelogin `--login` mode to an entra-cred flow.

use super::yaml::get_str;
use super::{AKS_PUBLIC_CLIENT_ID, AKS_SERVER_ID};
use crate::cloud::Cloud;
use crate::error::one_line;
use yaml_rust2::yaml::Hash;

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

/// Settings taken from the old configuration.
#[derive(Default)]
pub(super) struct Old {
    pub(super) server_id: Option<String>,
    pub(super) tenant: Option<String>,
    pub(super) client_id: Option<String>,
    pub(super) flow: Option<&'static str>,
    pub(super) notes: Vec<String>,
}

/// A note for kubelogin's `--environment` / the auth-provider's `environment`:
/// `None` for the public cloud (the default), else the `cloud` to set.
fn cloud_note(env: &str) -> Option<String> {
    let e = env.trim();
    if e.is_empty() {
        return None;
    }
    let cloud = match Cloud::parse(e) {
        Some(Cloud::Public) => return None,
        Some(c) => c.name(),
        None => {
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

/// Reads the legacy `azure` auth-provider's `config` mapping.
pub(super) fn from_auth_provider(config: Option<&Hash>) -> Old {
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
pub(super) fn from_kubelogin(args: &[String]) -> std::result::Result<Old, String> {
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

/// The `kubectl-entra` arguments for `old`; with a `profile` (`-p P`) the tenant,
/// client id and flow come from the profile, so they are not written.
pub(super) fn new_args(old: &Old, profile: Option<&str>) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(p) = profile {
        args.push("-p".to_string());
        args.push(p.to_string());
    }
    args.push("--server-id".into());
    args.push(
        old.server_id
            .clone()
            .unwrap_or_else(|| AKS_SERVER_ID.into()),
    );
    if profile.is_none() {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
    fn cloud_notes_use_the_cloud_table() {
        for public in ["", "  ", "AzurePublicCloud", "azurecloud", "public"] {
            assert_eq!(cloud_note(public), None, "{public:?}");
        }
        for (env, cloud) in [
            ("AzureUSGovernmentCloud", "usgov"),
            ("azureusgovernment", "usgov"),
            (" usgov ", "usgov"),
            ("AzureChinaCloud", "china"),
            ("china", "china"),
        ] {
            let n = cloud_note(env).unwrap();
            assert!(n.contains(&format!("`cloud = \"{cloud}\"`")), "{n}");
        }
        let n = cloud_note("AzureGermanCloud").unwrap();
        assert!(n.contains("not known to entra-cred"), "{n}");
        assert!(n.contains("'AzureGermanCloud'"), "{n}");
    }

    #[test]
    fn new_args_leave_profile_settings_to_the_profile() {
        let old = Old {
            tenant: Some("t".into()),
            client_id: Some("app".into()),
            flow: Some("client-secret"),
            ..Old::default()
        };
        assert_eq!(
            new_args(&old, None),
            [
                "--server-id",
                AKS_SERVER_ID,
                "--tenant",
                "t",
                "--client-id",
                "app",
                "--flow",
                "client-secret"
            ]
        );
        assert_eq!(
            new_args(&old, Some("work")),
            ["-p", "work", "--server-id", AKS_SERVER_ID]
        );
        // The AKS public client is not carried over.
        let aks = Old {
            client_id: Some(AKS_PUBLIC_CLIENT_ID.to_ascii_uppercase()),
            server_id: Some("s".into()),
            ..Old::default()
        };
        assert_eq!(new_args(&aks, None), ["--server-id", "s"]);
    }
}
