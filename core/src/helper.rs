//! The shape of a protocol binary. A helper only parses its protocol's input
//! ([`Helper::read`]), says which host the request is for ([`Helper::target`]) and
//! renders the answer ([`Helper::answer`]); [`main`] does the rest the same way for
//! every binary: command line (clap, one-line usage errors), routing of the host to
//! a profile ([`crate::hosts::route`]), the broker, stdout, one-line errors and exit
//! codes ([`crate::cli`]).

use crate::cli;
use crate::config::{Config, Overrides, Profile};
use crate::hosts::{self, Service};
use crate::{Broker, Error, Result};
use std::process::ExitCode;

/// What a finished call prints on stdout, and its exit code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    /// Printed as is (nothing when empty).
    pub stdout: String,
    /// The exit code (0 unless the protocol says otherwise).
    pub code: u8,
}

impl Reply {
    /// `stdout`, exit 0.
    pub fn text(stdout: impl Into<String>) -> Reply {
        Reply {
            stdout: stdout.into(),
            code: 0,
        }
    }

    /// Nothing on stdout, exit 0.
    pub fn empty() -> Reply {
        Reply::default()
    }
}

/// What [`Helper::read`] found.
pub enum Step<R> {
    /// A request to route and answer.
    Request(R),
    /// The call is finished without a profile (`store`, `version`, an unknown action, ...).
    Done(Reply),
}

/// Whom a request is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Not routed by host: the profile comes from `-p`, `ENTRA_CRED_PROFILE`, else `default`.
    Any,
    /// A host of a service: served when [`hosts::route`] finds a profile for it.
    Host(Service, String),
    /// Not ours whatever the configuration says (a protocol that may not carry a token).
    NotServed,
}

/// One protocol binary.
pub trait Helper {
    /// The binary's name (in messages).
    const BIN: &'static str;
    /// The command line.
    type Args: clap::Parser;
    /// One parsed request of the protocol.
    type Request;
    /// What [`Helper::answer`] gives back ([`Reply`] for the binaries [`main`] runs).
    type Answer;

    /// Reads the protocol's input (stdin, environment, arguments).
    fn read(args: &Self::Args) -> Result<Step<Self::Request>>;

    /// Which host (of which service) the request is for.
    fn target(args: &Self::Args, req: &Self::Request) -> Target;

    /// The `-p` flag.
    fn profile(args: &Self::Args) -> Option<&str>;

    /// Command-line values that choose or change the profile: `-p` alone unless a binary has
    /// more (kubectl-entra's `--tenant`, `--client-id`, `--flow`).
    fn overrides(args: &Self::Args) -> Result<Overrides> {
        Ok(Overrides {
            profile: Self::profile(args).map(str::to_string),
            ..Overrides::default()
        })
    }

    /// The answer for a request the routing gave `profile` to.
    fn answer(
        args: &Self::Args,
        req: &Self::Request,
        profile: &Profile,
        broker: &Broker,
    ) -> Result<Self::Answer>;

    /// The protocol's answer for a host entra-cred does not serve.
    fn not_served(args: &Self::Args, req: &Self::Request) -> Result<Self::Answer>;

    /// Called with a failure before `main` prints it on stderr (docker also wants it on stdout).
    fn failed(_err: &Error) {}
}

/// Routes `req` to its profile and answers it: everything after [`Helper::read`].
pub fn serve<H: Helper>(args: &H::Args, req: &H::Request) -> Result<H::Answer> {
    let overrides = H::overrides(args)?;
    let profile = match H::target(args, req) {
        Target::NotServed => None,
        Target::Host(service, host) => hosts::route(service, &host, overrides.profile.as_deref())?,
        Target::Any => Some(Config::load()?.profile(&overrides)?),
    };
    match profile {
        None => H::not_served(args, req),
        Some(profile) => {
            let broker = Broker::new(crate::cache::Cache::open()?);
            H::answer(args, req, &profile, &broker)
        }
    }
}

/// The whole binary: parse the command line, read, serve, print, exit.
pub fn main<H: Helper<Answer = Reply>>() -> ExitCode {
    let args: H::Args = cli::parse(H::BIN);
    let mut code = 0;
    let status = cli::run(H::BIN, || {
        let reply = match H::read(&args).and_then(|step| match step {
            Step::Done(r) => Ok(r),
            Step::Request(req) => serve::<H>(&args, &req),
        }) {
            Ok(r) => r,
            Err(e) => {
                H::failed(&e);
                return Err(e);
            }
        };
        code = reply.code;
        if reply.stdout.is_empty() {
            Ok(())
        } else {
            cli::print(&reply.stdout)
        }
    });
    if code != 0 && status == ExitCode::SUCCESS {
        ExitCode::from(code)
    } else {
        status
    }
}
