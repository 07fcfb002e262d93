//! `cargo-credential-entra`: a Cargo credential provider (protocol v1, the `cargo-credential`
//! crate) answering Microsoft Entra ID tokens for Azure Artifacts Cargo feeds.

use cargo_credential::{Action, CacheControl, Credential, CredentialResponse, RegistryInfo};
use clap::Parser;
use entra_cred_core::artifacts::{self, DEVOPS_SCOPE};
use entra_cred_core::broker::{login_hint, TokenRequest};
use entra_cred_core::config::Profile;
use entra_cred_core::error::one_line;
use entra_cred_core::helper::{self, Helper, Step, Target};
use entra_cred_core::hosts::Service;
use entra_cred_core::timefmt::now;
use entra_cred_core::{cli, Broker, Error, Result};
use std::process::ExitCode;

const BIN: &str = "cargo-credential-entra";
/// `expiration` is this many seconds before the token really expires.
const EXPIRY_MARGIN: i64 = 180;

/// Cargo credential provider: Microsoft Entra ID tokens for Azure Artifacts feeds.
///
/// In $CARGO_HOME/config.toml: `[registry] global-credential-providers =
/// ["cargo-credential-entra", "cargo:token"]` (or `entra-cred setup cargo`). Cargo runs it
/// with `--cargo-plugin`; words after the name in the config (`-p NAME`) come in the request.
#[derive(Parser)]
#[command(name = BIN, version)]
struct Args {
    /// Profile to use (default: the profile whose artifacts_hosts lists the host, else
    /// ENTRA_CRED_PROFILE, else `default`).
    #[arg(short = 'p', long, value_name = "NAME")]
    profile: Option<String>,
    /// Speak cargo's credential-provider protocol on stdin/stdout (cargo passes it).
    #[arg(long)]
    cargo_plugin: bool,
}

/// One request of cargo's, with what the answer needs.
struct Request {
    index_url: String,
    headers: Vec<String>,
    action: Kind,
}

enum Kind {
    Get,
    Login { token_given: bool },
    Logout,
}

type Answer = std::result::Result<CredentialResponse, cargo_credential::Error>;

struct Cargo;

impl Helper for Cargo {
    const BIN: &'static str = BIN;
    type Args = Args;
    type Request = Request;
    type Answer = Answer;

    fn read(_: &Args) -> Result<Step<Request>> {
        Err(Error::Input(
            "cargo runs this provider (with --cargo-plugin): run `entra-cred setup cargo`".into(),
        ))
    }

    fn target(_: &Args, req: &Request) -> Target {
        match artifacts::index_host(&req.index_url) {
            Some(host) => Target::Host(Service::Artifacts, host),
            None => Target::NotServed,
        }
    }

    fn profile(args: &Args) -> Option<&str> {
        args.profile.as_deref()
    }

    fn answer(_: &Args, req: &Request, profile: &Profile, broker: &Broker) -> Result<Answer> {
        let mut treq = TokenRequest::new(DEVOPS_SCOPE);
        treq.tenant = artifacts::tenant_for(profile, &req.index_url, &req.headers, broker.cache());
        let token = match req.action {
            Kind::Logout => {
                broker.forget_token(profile, treq.tenant.as_deref(), DEVOPS_SCOPE)?;
                return Ok(Ok(CredentialResponse::Logout));
            }
            Kind::Login { token_given: true } => return Err(Error::Input(
                "Entra tokens are not pasted: run `cargo login` without a token (or `entra-cred login`)".into(),
            )),
            _ => match broker.token(profile, &treq) {
                Err(Error::InteractionRequired(_)) => {
                    return Err(Error::InteractionRequired(login_hint(profile)))
                }
                other => other?,
            },
        };
        if let Kind::Login { .. } = req.action {
            return Ok(Ok(CredentialResponse::Login));
        }
        let left = token.expires_on - now();
        let expiry = token.expires_on - EXPIRY_MARGIN.min(left / 2).max(0);
        let expiration = time::OffsetDateTime::from_unix_timestamp(expiry)
            .map_err(|_| Error::Other(format!("the token's expiry {expiry} is out of range")))?;
        Ok(Ok(CredentialResponse::Get {
            token: format!("Bearer {}", token.access_token.expose()).into(),
            cache: CacheControl::Expires { expiration },
            operation_independent: true,
        }))
    }

    fn not_served(_: &Args, _: &Request) -> Result<Answer> {
        Ok(Err(cargo_credential::Error::UrlNotSupported))
    }
}

/// What cargo calls for each request.
struct Provider;

impl Credential for Provider {
    fn perform(&self, registry: &RegistryInfo<'_>, action: &Action<'_>, args: &[&str]) -> Answer {
        let args = Args::try_parse_from(std::iter::once(BIN).chain(args.iter().copied())).map_err(
            |e| {
                let first = e.to_string().lines().next().unwrap_or_default().to_string();
                let why = first.trim_start_matches("error: ");
                failure(&Error::Config(format!("in credential-provider: {why}")))
            },
        )?;
        let action = match action {
            Action::Get(_) => Kind::Get,
            Action::Login(o) => Kind::Login {
                token_given: o.token.is_some(),
            },
            Action::Logout => Kind::Logout,
            _ => return Err(cargo_credential::Error::OperationNotSupported),
        };
        let req = Request {
            index_url: registry.index_url.to_string(),
            headers: registry.headers.clone(),
            action,
        };
        helper::serve::<Cargo>(&args, &req).unwrap_or_else(|e| Err(failure(&e)))
    }
}

/// A failure as cargo shows it: the one line the other helpers print.
fn failure(e: &Error) -> cargo_credential::Error {
    one_line(&format!("{BIN}: {e}")).into()
}

fn main() -> ExitCode {
    let args: Args = cli::parse(BIN);
    if !args.cargo_plugin {
        return cli::run(BIN, || Cargo::read(&args).map(|_| ()));
    }
    cargo_credential::main(Provider);
    ExitCode::SUCCESS
}

// Keeps man/man1/cargo-credential-entra.1 equal to what these clap definitions render.
#[cfg(test)]
entra_cred_man::man_page_test!(Args);
