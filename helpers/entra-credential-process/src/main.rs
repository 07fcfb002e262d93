//! `entra-credential-process`: AWS `credential_process` with Microsoft Entra ID.
//!
//! Token mode (`--scope S`) prints the Entra access token as `SessionToken`;
//! federation mode (`--role-arn ARN --scope S`) exchanges it at AWS STS
//! (`AssumeRoleWithWebIdentity`) and prints the AWS credentials. Never
//! prompts: botocore hides stderr on success, so a needed sign-in is exit 3
//! with the hint to run `entra-cred login`.

use clap::{Parser, ValueEnum};
use entra_cred_core::broker::{Interaction, TokenRequest};
use entra_cred_core::config::Profile;
use entra_cred_core::helper::{self, Helper, Reply, Step, Target};
use entra_cred_core::protocol::credential_process::{render, render_token};
use entra_cred_core::sts::{self, Federation, TokenKind, MIN_VALIDITY};
use entra_cred_core::{Broker, Error, Result};
use std::process::ExitCode;

const BIN: &str = "entra-credential-process";

/// AWS credential_process with Microsoft Entra ID: an Entra token (token mode), or AWS
/// credentials from STS AssumeRoleWithWebIdentity (federation mode, with --role-arn).
#[derive(Parser)]
#[command(name = BIN, version)]
struct Args {
    /// entra-cred profile (default: ENTRA_CRED_PROFILE, else `default`).
    #[arg(short = 'p', long, value_name = "NAME")]
    profile: Option<String>,
    /// Entra scope, e.g. `api://aws-federation/.default` (the application AWS IAM trusts).
    #[arg(long, value_name = "SCOPE")]
    scope: Option<String>,
    /// Federation mode: the IAM role to assume with the Entra token.
    #[arg(long, value_name = "ARN")]
    role_arn: Option<String>,
    /// RoleSessionName (default: the signed-in account, else the client id).
    #[arg(long, value_name = "NAME")]
    role_session_name: Option<String>,
    /// Lifetime of the AWS credentials, 900-43200 (default: the role's, usually 3600).
    #[arg(long, value_name = "SECS")]
    duration_seconds: Option<u32>,
    /// Region of the STS endpoint (default: AWS_REGION, AWS_DEFAULT_REGION, us-east-1).
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    /// Which Entra token to send to STS: an access token for --scope, or the user's ID token.
    #[arg(long, value_enum, value_name = "KIND")]
    token_kind: Option<Kind>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// An access token for --scope.
    Access,
    /// The signed-in user's ID token (audience: the client id).
    Id,
}

fn main() -> ExitCode {
    helper::main::<CredentialProcess>()
}

fn checked_scope(scope: Option<&str>) -> Result<Option<String>> {
    match scope.map(str::trim) {
        None => Ok(None),
        Some(s) if s.is_empty() || s.chars().any(char::is_whitespace) => Err(Error::Config(
            "--scope must be one scope, e.g. api://aws-federation/.default".into(),
        )),
        Some(s) => Ok(Some(s.to_string())),
    }
}

/// AWS `credential_process`.
struct CredentialProcess;

impl Helper for CredentialProcess {
    const BIN: &'static str = BIN;
    type Args = Args;
    /// The checked `--scope`.
    type Request = Option<String>;
    type Answer = Reply;

    fn read(args: &Args) -> Result<Step<Option<String>>> {
        checked_scope(args.scope.as_deref()).map(Step::Request)
    }

    fn target(_: &Args, _: &Option<String>) -> Target {
        Target::Any
    }

    fn profile(args: &Args) -> Option<&str> {
        args.profile.as_deref()
    }

    fn answer(
        args: &Args,
        scope: &Option<String>,
        profile: &Profile,
        broker: &Broker,
    ) -> Result<Reply> {
        answer(args, scope.clone(), profile, broker).map(Reply::text)
    }

    fn not_served(_: &Args, _: &Option<String>) -> Result<Reply> {
        Ok(Reply::empty())
    }
}

fn answer(
    args: &Args,
    scope: Option<String>,
    profile: &Profile,
    broker: &Broker,
) -> Result<String> {
    let out = match &args.role_arn {
        Some(role_arn) => {
            let f = Federation {
                role_arn: role_arn.trim().to_string(),
                scope,
                role_session_name: args.role_session_name.clone(),
                duration_seconds: args.duration_seconds,
                region: args.region.clone(),
                token_kind: match args.token_kind {
                    Some(Kind::Id) => TokenKind::Id,
                    _ => TokenKind::Access,
                },
            };
            let c = sts::credentials(broker, profile, &f)?;
            render(
                &c.access_key_id,
                c.secret_access_key.expose(),
                c.session_token.expose(),
                c.expiration,
            )
        }
        None => {
            let federation_only = [
                ("--role-session-name", args.role_session_name.is_some()),
                ("--duration-seconds", args.duration_seconds.is_some()),
                ("--region", args.region.is_some()),
                ("--token-kind", args.token_kind.is_some()),
            ];
            if let Some((flag, _)) = federation_only.iter().find(|(_, given)| *given) {
                return Err(Error::Config(format!(
                    "{flag} needs --role-arn (federation mode)"
                )));
            }
            let scope = scope.ok_or_else(|| {
                Error::Config(
                    "give --scope S (token mode), or --role-arn ARN --scope S (federation mode)"
                        .into(),
                )
            })?;
            let t = broker.token(
                profile,
                &TokenRequest {
                    interaction: Interaction::Never,
                    min_validity: MIN_VALIDITY,
                    ..TokenRequest::new(scope)
                },
            )?;
            render_token(t.access_token.expose(), t.expires_on)
        }
    };
    Ok(out)
}

// Keeps man/man1/entra-credential-process.1 equal to what these clap definitions render.
#[cfg(test)]
entra_cred_man::man_page_test!(Args);
