//! Which managed identity host serves this machine: the environment, else (for
//! `flow = auto`) the remembered or fresh IMDS probe ([`super::probe`]).

use super::imds::imds_base;
use super::probe::{
    identity_present, probe_imds, probe_path, Probe, PROBE_TIMEOUT, PROBE_TTL_ABSENT,
    PROBE_TTL_FOUND,
};
use super::{arc, env, Host, Identity};
use crate::cache::Cache;

fn app_service_env() -> bool {
    env("IDENTITY_ENDPOINT").is_some() && env("IDENTITY_HEADER").is_some()
}

/// The host to use when `flow = managed-identity` is forced.
pub fn host_for_flow() -> Host {
    host_from_env().map(|(h, _)| h).unwrap_or(Host::Imds)
}

fn host_from_env() -> Option<(Host, String)> {
    if app_service_env() {
        Some((
            Host::AppService,
            "IDENTITY_ENDPOINT and IDENTITY_HEADER are set (App Service / Functions managed identity)".into(),
        ))
    } else if arc::present() {
        Some((
            Host::Arc,
            "IDENTITY_ENDPOINT and IMDS_ENDPOINT are set without IDENTITY_HEADER (Azure Arc managed identity)".into(),
        ))
    } else if env("MSI_ENDPOINT").is_some() {
        Some((
            Host::CloudShell,
            "MSI_ENDPOINT is set (Cloud Shell managed identity)".into(),
        ))
    } else {
        None
    }
}

/// Whether a managed identity is available, cheaply (for `auto`): the
/// environment, else the remembered IMDS probe, else a new probe (≤ 1 s);
/// when IMDS answers, whether it has the profile's identity (remembered
/// likewise, else asked once, ≤ 2 s): IMDS that answers `Identity not found`
/// counts as absent, so that `auto` goes on to the next source.
pub fn detect(profile: &crate::config::Profile, cache: &Cache) -> Option<(Host, String)> {
    if let Some(found) = host_from_env() {
        return Some(found);
    }
    let base = imds_base();
    let now = crate::timefmt::now();
    let path = probe_path(cache);
    let remembered = crate::cache::file::read_json::<Probe>(&path).filter(|p| {
        let ttl = if p.available {
            PROBE_TTL_FOUND
        } else {
            PROBE_TTL_ABSENT
        };
        p.url == base && p.at <= now && now - p.at < ttl
    });
    let (probe, fresh) = match remembered {
        Some(p) => (p, false),
        None => {
            let available = probe_imds(&base, PROBE_TIMEOUT);
            crate::debug!(
                "IMDS probe of {base}: {}",
                if available { "answered" } else { "no answer" }
            );
            let p = Probe {
                url: base.clone(),
                available,
                at: now,
            };
            if let Err(e) = crate::cache::file::write_json(&path, &p) {
                crate::debug!("cannot remember the IMDS probe: {e}");
            }
            (p, true)
        }
    };
    if !probe.available {
        return None;
    }
    let selector = Identity::parse(profile.managed_identity_client_id.as_deref());
    if !identity_present(cache, &base, &selector, now) {
        crate::debug!("IMDS at {base} has no managed identity for this machine: not a source");
        return None;
    }
    probe.available.then(|| {
        (
            Host::Imds,
            format!(
                "the instance metadata service answered at {base} ({})",
                if fresh {
                    "probed just now".to_string()
                } else {
                    format!("probe remembered in {}", path.display())
                }
            ),
        )
    })
}
