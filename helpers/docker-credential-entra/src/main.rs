//! `docker-credential-entra`: the Docker credential helper protocol for Azure
//! Container Registry, for docker, skopeo, podman, buildah, crane, ...
//!
//! `get` answers an ACR refresh token obtained with an Entra ID token;
//! `store` is accepted and keeps nothing; `erase` forgets the cached token;
//! `list` shows registries with cached tokens; `version`.

use clap::Parser;
use entra_cred_core::acr;
use entra_cred_core::cache::Cache;
use entra_cred_core::cli;
use entra_cred_core::config::{env_var, split_hosts, Config, HostKind, Overrides, Profile};
use entra_cred_core::error::one_line;
use entra_cred_core::protocol::docker::{self, Action, Registry, NOT_FOUND};
use entra_cred_core::{debug, Broker, Error, Result};
use std::io::IsTerminal;
use std::process::ExitCode;

const BIN: &str = "docker-credential-entra";

/// Docker credential helper for Azure Container Registry with Microsoft Entra ID.
///
/// Docker runs it as `docker-credential-entra <action>` with the server on
/// stdin. Configure it with `"credHelpers": {"<registry>": "entra"}` in
/// ~/.docker/config.json (or `entra-cred setup docker <registry>`).
#[derive(Parser)]
#[command(name = BIN, version)]
struct Args {
    /// Profile to use (default: the profile whose acr_hosts lists the
    /// registry, else ENTRA_CRED_PROFILE, else `default`).
    #[arg(short = 'p', long, value_name = "NAME")]
    profile: Option<String>,
    /// get, store, erase, list or version.
    #[arg(value_name = "ACTION")]
    action: Option<String>,
}

/// What the helper answered.
enum Outcome {
    /// The answer (if any) is on stdout.
    Done,
    /// Not a registry entra-cred serves.
    NotFound,
}

fn main() -> ExitCode {
    let args: Args = cli::parse(BIN);
    let mut not_found = false;
    let code = cli::run(BIN, || match run(&args) {
        Ok(Outcome::Done) => Ok(()),
        Ok(Outcome::NotFound) => {
            not_found = true;
            cli::print(&format!("{NOT_FOUND}\n"))
        }
        Err(e) => {
            // docker, skopeo and podman show the helper's stdout on failure
            // (and discard its stderr): the one line goes to both.
            let _ = cli::print(&format!("{}\n", one_line(&e.to_string())));
            Err(e)
        }
    });
    if not_found {
        ExitCode::from(1)
    } else {
        code
    }
}

fn run(args: &Args) -> Result<Outcome> {
    let Some(action) = args.action.as_deref() else {
        return Err(Error::Input(format!(
            "usage: {BIN} <get|store|erase|list|version> (the server or credentials on stdin)"
        )));
    };
    match Action::parse(action)? {
        Action::Version => {
            cli::print(&docker::render_version(
                BIN,
                "entra-cred",
                env!("CARGO_PKG_VERSION"),
            ))?;
            Ok(Outcome::Done)
        }
        Action::Store => {
            // Accepted so that `docker login` does not fail; nothing is kept
            // (the credentials come from Entra ID on every `get`).
            let input = cli::read_stdin(docker::MAX_INPUT)?;
            if let Some(server) = docker::parse_store(&input) {
                debug!("store for {}: accepted, nothing kept", one_line(&server));
            }
            Ok(Outcome::Done)
        }
        Action::List => {
            // docker sends `unused`; a person at a terminal sends nothing.
            if !std::io::stdin().is_terminal() {
                let _ = cli::read_stdin(docker::MAX_INPUT);
            }
            let cache = Cache::open()?;
            cli::print(&docker::render_list(&acr::list(&cache)))?;
            Ok(Outcome::Done)
        }
        Action::Get => {
            let server = docker::parse_server(&cli::read_stdin(docker::MAX_INPUT)?)?;
            let Some((registry, profile)) = served(args, &server)? else {
                return Ok(Outcome::NotFound);
            };
            let broker = Broker::new(Cache::open()?);
            let cred = acr::get(&broker, &profile, &registry)?;
            debug!(
                "{} for {} (from cache: {})",
                cred.username, cred.registry, cred.from_cache
            );
            cli::print(&docker::render_get(
                &server,
                &cred.username,
                cred.secret.expose(),
            ))?;
            Ok(Outcome::Done)
        }
        Action::Erase => {
            let server = docker::parse_server(&cli::read_stdin(docker::MAX_INPUT)?)?;
            let Some((registry, _)) = served(args, &server)? else {
                return Ok(Outcome::NotFound);
            };
            let n = acr::erase(&Cache::open()?, &registry);
            debug!("erased {n} cached token(s) for {}", registry.name());
            Ok(Outcome::Done)
        }
    }
}

/// The registry and its profile, when entra-cred serves `server`. Decides
/// from configuration and environment only: nothing leaves the machine for a
/// server it does not serve.
fn served(args: &Args, server: &str) -> Result<Option<(Registry, Profile)>> {
    let Some(registry) = docker::normalize(server) else {
        debug!("'{}' is not a registry name", one_line(server));
        return Ok(None);
    };
    let config = Config::load()?;
    let listed = config.profile_for_host(&registry.name(), HostKind::Acr);
    let env_hosts = env_var("ENTRA_CRED_ACR_HOSTS")
        .map(|s| split_hosts(&s))
        .unwrap_or_default();
    if !(registry.has_acr_suffix() || listed.is_some() || registry.is_served(&env_hosts)) {
        // Decided before any profile is resolved: a server entra-cred does not serve is
        // "not found", whatever the state of the profiles.
        debug!(
            "{} is not an Azure Container Registry entra-cred serves",
            registry.name()
        );
        return Ok(None);
    }
    let profile_name = args.profile.clone().filter(|p| !p.is_empty()).or(listed);
    let profile = config.profile(&Overrides {
        profile: profile_name,
        ..Overrides::default()
    })?;
    if !registry.is_served(&profile.acr_hosts) {
        debug!(
            "{} is not an Azure Container Registry entra-cred serves",
            registry.name()
        );
        return Ok(None);
    }
    Ok(Some((registry, profile)))
}

// Keeps man/man1/docker-credential-entra.1 equal to what these clap definitions render.
#[cfg(test)]
entra_cred_man::man_page_test!(Args);
