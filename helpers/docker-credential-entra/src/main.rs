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
use entra_cred_core::config::Profile;
use entra_cred_core::error::one_line;
use entra_cred_core::helper::{self, Helper, Reply, Step, Target};
use entra_cred_core::hosts::Service;
use entra_cred_core::protocol::docker::{self, Action, NOT_FOUND};
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

fn main() -> ExitCode {
    helper::main::<Docker>()
}

/// The Docker credential helper protocol.
struct Docker;

/// `get` or `erase` of a server (the other actions finish in [`Docker::read`]).
struct Request {
    action: Action,
    server: String,
}

impl Helper for Docker {
    const BIN: &'static str = BIN;
    type Args = Args;
    type Request = Request;
    type Answer = Reply;

    fn read(args: &Args) -> Result<Step<Request>> {
        let Some(action) = args.action.as_deref() else {
            return Err(Error::Input(format!(
                "usage: {BIN} <get|store|erase|list|version> (the server or credentials on stdin)"
            )));
        };
        match Action::parse(action)? {
            Action::Version => Ok(Step::Done(Reply::text(docker::render_version(
                BIN,
                "entra-cred",
                env!("CARGO_PKG_VERSION"),
            )))),
            Action::Store => {
                // Accepted so that `docker login` does not fail; nothing is kept
                // (the credentials come from Entra ID on every `get`).
                let input = cli::read_stdin(docker::MAX_INPUT)?;
                if let Some(server) = docker::parse_store(&input) {
                    debug!("store for {}: accepted, nothing kept", one_line(&server));
                }
                Ok(Step::Done(Reply::empty()))
            }
            Action::List => {
                // docker sends `unused`; a person at a terminal sends nothing.
                if !std::io::stdin().is_terminal() {
                    let _ = cli::read_stdin(docker::MAX_INPUT);
                }
                let cache = Cache::open()?;
                Ok(Step::Done(Reply::text(docker::render_list(&acr::list(
                    &cache,
                )))))
            }
            action @ (Action::Get | Action::Erase) => {
                let server = docker::parse_server(&cli::read_stdin(docker::MAX_INPUT)?)?;
                Ok(Step::Request(Request { action, server }))
            }
        }
    }

    fn target(_: &Args, req: &Request) -> Target {
        match docker::normalize(&req.server) {
            Some(registry) => Target::Host(Service::Acr, registry.name()),
            None => {
                debug!("'{}' is not a registry name", one_line(&req.server));
                Target::NotServed
            }
        }
    }

    fn profile(args: &Args) -> Option<&str> {
        args.profile.as_deref()
    }

    fn answer(_: &Args, req: &Request, profile: &Profile, broker: &Broker) -> Result<Reply> {
        let Some(registry) = docker::normalize(&req.server) else {
            return Ok(not_found());
        };
        if req.action == Action::Erase {
            let n = acr::erase(broker.cache(), &registry);
            debug!("erased {n} cached token(s) for {}", registry.name());
            return Ok(Reply::empty());
        }
        let cred = acr::get(broker, profile, &registry)?;
        debug!(
            "{} for {} (from cache: {})",
            cred.username, cred.registry, cred.from_cache
        );
        Ok(Reply::text(docker::render_get(
            &req.server,
            &cred.username,
            cred.secret.expose(),
        )))
    }

    fn not_served(_: &Args, req: &Request) -> Result<Reply> {
        debug!(
            "{} is not an Azure Container Registry entra-cred serves",
            one_line(&req.server)
        );
        Ok(not_found())
    }

    /// docker, skopeo and podman show the helper's stdout on failure (and discard its
    /// stderr): the one line goes to both.
    fn failed(e: &Error) {
        let _ = cli::print(&format!("{}\n", one_line(&e.to_string())));
    }
}

/// "Not mine": docker goes on without credentials.
fn not_found() -> Reply {
    Reply {
        stdout: format!("{NOT_FOUND}\n"),
        code: 1,
    }
}

// Keeps man/man1/docker-credential-entra.1 equal to what these clap definitions render.
#[cfg(test)]
entra_cred_man::man_page_test!(Args);
