//! AWS: the profiles of `$AWS_CONFIG_FILE` (default `~/.aws/config`) whose `credential_process`
//! runs `entra-credential-process`, and whether AWS tools will really use it.
//!
//! Stale profiles are the usual trouble: the program moved, the line names an entra-cred
//! profile (`-p P`) that no longer exists, or the AWS profile also has keys that AWS tools use
//! before `credential_process` (`role_arn`, `web_identity_token_file`, `sso_*` in the config;
//! `aws_access_key_id` in the shared credentials file).

use super::{find_program, missing_profile, shell_words, shown, Check, Ctx};
use std::path::{Path, PathBuf};

const TOOL: &str = "aws";

/// Sections of an INI file as botocore reads them: (profile name, [(key, value)]). `[default]`
/// and `[profile x]` in the config file; `[x]` in the credentials file.
pub fn sections(text: &str, config_file: bool) -> Vec<(String, Vec<(String, String)>)> {
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if let Some(rest) = t.strip_prefix('[') {
            let inner = rest.rsplit_once(']').map(|x| x.0).unwrap_or(rest).trim();
            let name = if config_file {
                match inner.strip_prefix("profile") {
                    Some(r) if r.starts_with([' ', '\t']) => r.trim().trim_matches('"').to_string(),
                    _ => inner.to_string(),
                }
            } else {
                inner.to_string()
            };
            out.push((name, Vec::new()));
            continue;
        }
        if line.starts_with([' ', '\t']) {
            continue; // a nested value (s3 = ...), not a key of the profile
        }
        if let (Some(pos), Some(last)) = (t.find(['=', ':']), out.last_mut()) {
            last.1.push((
                t[..pos].trim().to_ascii_lowercase(),
                t[pos + 1..].trim().to_string(),
            ));
        }
    }
    out
}

fn config_file() -> Option<PathBuf> {
    crate::setup::aws::config_path().ok()
}

fn credentials_file() -> Option<PathBuf> {
    crate::setup::env_path("AWS_SHARED_CREDENTIALS_FILE")
        .or_else(|| entra_cred_core::paths::home().map(|h| h.join(".aws").join("credentials")))
}

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

/// The AWS checks.
pub fn checks(ctx: &Ctx) -> Vec<Check> {
    let Some(path) = config_file() else {
        return vec![];
    };
    let text = read(&path).unwrap_or_default();
    let creds: Vec<(String, Vec<(String, String)>)> = credentials_file()
        .and_then(|p| read(&p))
        .map(|t| sections(&t, false))
        .unwrap_or_default();
    let mut checks = Vec::new();
    for (name, keys) in sections(&text, true) {
        if name.starts_with("sso-session ") || name.starts_with("services ") {
            continue;
        }
        let Some((_, value)) = keys.iter().find(|(k, _)| k == "credential_process") else {
            continue;
        };
        if !value.contains("entra-credential-process") {
            continue;
        }
        let label = format!("profile {name}");
        let words = shell_words(value);
        let program = words.first().cloned().unwrap_or_default();
        let setup = format!(
            "entra-cred setup aws --aws-profile {} {}",
            crate::setup::sh_quote(&name),
            words
                .iter()
                .skip(1)
                .map(|w| crate::setup::sh_quote(w))
                .collect::<Vec<_>>()
                .join(" ")
        );
        if find_program(&program).is_none() {
            checks.push(Check::fail(
                TOOL,
                label,
                format!("credential_process runs {program}, which does not exist or is not executable (moved or uninstalled?)"),
                Some(setup),
            ));
            continue;
        }
        if let Some(p) = missing_profile(ctx, &words) {
            checks.push(Check::fail(
                TOOL,
                label,
                format!("credential_process uses entra-cred profile '{p}', which does not exist"),
                Some(super::missing_profile_fix(
                    &p,
                    &setup.replacen(
                        &format!(" -p {}", crate::setup::sh_quote(&p)),
                        " -p <profile>",
                        1,
                    ),
                )),
            ));
            continue;
        }
        let before: Vec<&str> = keys
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| {
                matches!(
                    *k,
                    "role_arn" | "web_identity_token_file" | "sso_session" | "sso_start_url"
                )
            })
            .collect();
        let static_keys = creds
            .iter()
            .any(|(n, ks)| *n == name && ks.iter().any(|(k, _)| k == "aws_access_key_id"));
        if !before.is_empty() || static_keys {
            let mut what: Vec<String> = before
                .iter()
                .map(|k| format!("{k} in {}", shown(&path)))
                .collect();
            if static_keys {
                what.push(format!(
                    "aws_access_key_id in {}",
                    credentials_file().map(|p| shown(&p)).unwrap_or_default()
                ));
            }
            checks.push(Check::fail(
                TOOL,
                label,
                format!(
                    "AWS tools use {} before credential_process: entra-credential-process is never run",
                    what.join(" and ")
                ),
                Some(format!(
                    "remove {} from [{}]",
                    what.join(" and "),
                    if name == "default" { "default".to_string() } else { format!("profile {name}") }
                )),
            ));
            continue;
        }
        checks.push(Check::ok(
            TOOL,
            label,
            format!(
                "credential_process runs entra-credential-process ({})",
                shown(&path)
            ),
        ));
    }
    if checks.is_empty() {
        checks.push(Check::warn(
            TOOL,
            "profiles",
            format!("not set up: no profile in {} runs entra-credential-process", shown(&path)),
            Some(format!(
                "{}setup aws --aws-profile <name> --scope api://<app id>/.default --role-arn <role arn>",
                ctx.entra_cred()
            )),
        ));
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sections() {
        let s = sections(
            "[default]\nregion = a\n[profile dev]\ncredential_process = \"/x/entra-credential-process\" --scope s\ns3 =\n  role_arn = nested\n[sso-session x]\n",
            true,
        );
        assert_eq!(s[0].0, "default");
        assert_eq!(s[1].0, "dev");
        assert_eq!(s[1].1.len(), 2);
        assert!(!s[1].1.iter().any(|(k, _)| k == "role_arn"));
        assert_eq!(
            sections("[dev]\naws_access_key_id = A\n", false)[0].0,
            "dev"
        );
    }
}
