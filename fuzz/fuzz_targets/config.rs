//! `Config::from_toml` and profile resolution with a fake environment.
//!
//! Input: `<TOML>` [`\0` `<KEY=VALUE lines>`]. The lines after the NUL are
//! the environment (`AZURE_*`, `ENTRA_CRED_*`); `FLAG_PROFILE`, `FLAG_TENANT`,
//! `FLAG_CLIENT_ID` and `FLAG_FLOW` become command-line overrides.
#![no_main]

#[path = "common.rs"]
mod common;

use entra_cred_core::config::{Config, Flow, HostKind, Overrides};
use entra_cred_core::Secret;
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (toml, env_text) = text.split_once('\0').unwrap_or((text, ""));
    let env: HashMap<String, String> = env_text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let get = |k: &str| env.get(k).filter(|v| !v.trim().is_empty()).cloned();
    let overrides = Overrides {
        profile: get("FLAG_PROFILE"),
        tenant: get("FLAG_TENANT"),
        client_id: get("FLAG_CLIENT_ID"),
        flow: get("FLAG_FLOW").and_then(|f| Flow::parse(&f).ok()),
    };
    if let Some(f) = get("FLAG_FLOW") {
        if let Err(e) = Flow::parse(&f) {
            common::assert_message(&e);
            assert_eq!(e.exit_code(), 2);
        }
    }
    let config = match Config::from_toml(toml) {
        Ok(c) => c,
        Err(e) => {
            common::assert_message(&e);
            assert_eq!(e.exit_code(), 2, "{e}");
            return;
        }
    };
    let fake_env = |k: &str| get(k);
    let mut names = config.profile_names();
    names.push(String::new());
    for name in names {
        let o = Overrides {
            profile: (!name.is_empty())
                .then(|| name.clone())
                .or(overrides.profile.clone()),
            ..overrides.clone()
        };
        match config.profile_with_env(&o, &fake_env) {
            Ok(p) => {
                // What was validated stays valid: ids are one URL path segment,
                // the authority is https or loopback http, without a trailing slash.
                for id in [&p.tenant, &p.client_id] {
                    assert!(!id.is_empty());
                    assert!(id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')));
                }
                assert!(
                    p.authority.starts_with("https://") || p.authority.starts_with("http://"),
                    "{}",
                    p.authority
                );
                assert!(!p.authority.ends_with('/'), "{}", p.authority);
                if p.authority.starts_with("http://") {
                    let host = url_host(&p.authority);
                    assert!(
                        entra_cred_core::config::is_loopback_host(&host),
                        "plain http to {host}"
                    );
                }
                for h in p.git_hosts.iter().chain(&p.acr_hosts) {
                    assert!(!h.is_empty());
                    assert_eq!(h, &h.to_ascii_lowercase());
                    let _ = config.profile_for_host(h, HostKind::Git);
                    let _ = config.profile_for_host(h, HostKind::Acr);
                }
                // Debug output does not depend on secret values (so cannot show them).
                let mut blank = p.clone();
                blank.client_secret = p.client_secret.as_ref().map(|_| Secret::new(String::new()));
                blank.certificate_password = p
                    .certificate_password
                    .as_ref()
                    .map(|_| Secret::new(String::new()));
                assert_eq!(format!("{p:?}"), format!("{blank:?}"), "secret in Debug");
            }
            Err(e) => {
                common::assert_message(&e);
                assert_eq!(e.exit_code(), 2, "{e}");
            }
        }
    }
});

fn url_host(authority: &str) -> String {
    let rest = authority.split_once("://").map(|(_, r)| r).unwrap_or("");
    let hostport = rest.split('/').next().unwrap_or("");
    let hostport = hostport
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(hostport);
    if let Some(stripped) = hostport.strip_prefix('[') {
        return format!("[{}]", stripped.split(']').next().unwrap_or(""));
    }
    hostport.split(':').next().unwrap_or("").to_string()
}
