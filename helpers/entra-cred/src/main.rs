//! `entra-cred`: sign in once, then get tokens, inspect and manage them.

mod doctor;
mod inspect;
mod setup;
mod status;

use clap::{Args, Parser, Subcommand, ValueEnum};
use entra_cred_core::broker::{scope_for_resource, Interaction, TokenRequest};
use entra_cred_core::cache::Cache;
use entra_cred_core::cae::Claims;
use entra_cred_core::cli;
use entra_cred_core::config::{Config, Flow, Overrides};
use entra_cred_core::timefmt::{human_remaining, now, rfc3339};
use entra_cred_core::{Broker, Error, Result};
use std::process::ExitCode;

const BIN: &str = "entra-cred";

/// Microsoft Entra ID tokens for git, docker, kubectl and AWS tools: sign in once.
#[derive(Parser)]
#[command(name = BIN, version, propagate_version = true)]
struct Cli {
    /// Profile to use (default: ENTRA_CRED_PROFILE, else `default`).
    #[arg(short = 'p', long, global = true, value_name = "NAME")]
    profile: Option<String>,
    /// Tenant to use instead of the profile's.
    #[arg(long, global = true, value_name = "TENANT")]
    tenant: Option<String>,
    /// Application (client) id to use instead of the profile's.
    #[arg(long, global = true, value_name = "ID")]
    client_id: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Sign in and keep the refresh token (no terminal needed: the prompt goes to stderr).
    Login {
        /// How to sign in (default: the browser when one can be opened, else the device code).
        #[arg(long, value_enum)]
        flow: Option<LoginFlow>,
        /// Scope of the first token (default: Azure Resource Manager).
        #[arg(long)]
        scope: Option<String>,
        /// Loopback port for the browser's redirect (e.g. one forwarded with `ssh -L`).
        #[arg(long, value_name = "N")]
        redirect_port: Option<u16>,
    },
    /// Print an access token.
    Token {
        #[command(flatten)]
        target: Target,
        /// A CAE claims challenge to satisfy (its JSON, or the base64 from the
        /// WWW-Authenticate header): bypasses the cache and replaces the cached token.
        #[arg(long, value_name = "CLAIMS")]
        claims: Option<String>,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = TokenOutput::Token)]
        output: TokenOutput,
    },
    /// Force a new access token from the refresh token (every cached scope when none is given).
    Refresh {
        /// Scope to refresh.
        #[arg(long)]
        scope: Option<String>,
    },
    /// Show profiles, the signed-in account, cached tokens and their expiry.
    Status {
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = TableJson::Table)]
        output: TableJson,
    },
    /// Decode a JWT's claims (from the argument, or stdin with `-` or nothing); exit 1 when expired.
    Inspect {
        /// The token, or `-` for stdin.
        token: Option<String>,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = TableJson::Table)]
        output: TableJson,
    },
    /// Forget tokens (cache and keyring) of a profile, or of all profiles.
    Logout {
        /// Every profile, every cached item.
        #[arg(long)]
        all: bool,
    },
    /// Wire the helpers into git, docker, kubectl or the AWS tools (idempotent; --dry-run shows the change; --remove undoes).
    Setup {
        #[command(subcommand)]
        tool: setup::Tool,
    },
    /// What is wired for each tool (git, docker, kubectl, AWS, cargo), the identity and the
    /// environment, and what is wrong with the command that fixes it (read-only; exit 1 on a problem).
    Doctor(doctor::Args),
    /// Print a shell completion script (e.g. `entra-cred completions bash > /etc/bash_completion.d/entra-cred`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct Target {
    /// Scope, e.g. `https://management.azure.com/.default`.
    #[arg(long)]
    scope: Option<String>,
    /// Resource (v1 style); the scope is `<resource>/.default`.
    #[arg(long)]
    resource: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum LoginFlow {
    DeviceCode,
    Browser,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TokenOutput {
    Token,
    Json,
}

/// Table or JSON output.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableJson {
    /// For people.
    Table,
    /// For programs.
    Json,
}

fn main() -> ExitCode {
    let args: Cli = cli::parse_with(BIN, command());
    cli::run(BIN, || run(args))
}

fn overrides(args: &Cli) -> Overrides {
    Overrides {
        profile: args.profile.clone(),
        tenant: args.tenant.clone(),
        client_id: args.client_id.clone(),
        flow: None,
    }
}

fn run(args: Cli) -> Result<()> {
    let o = overrides(&args);
    match &args.cmd {
        Cmd::Inspect { token, output } => inspect::run(token.as_deref(), *output),
        Cmd::Status { output } => status::run(&o, *output),
        Cmd::Login {
            flow,
            scope,
            redirect_port,
        } => {
            if let Some(p) = redirect_port {
                entra_cred_core::sources::browser::set_redirect_port(*p);
            }
            login(&o, *flow, scope.as_deref(), redirect_port.is_some())
        }
        Cmd::Token {
            target,
            claims,
            output,
        } => token(&o, target, claims.as_deref(), *output),
        Cmd::Refresh { scope } => refresh(&o, scope.as_deref()),
        Cmd::Logout { all } => logout(&o, *all),
        Cmd::Setup { tool } => {
            if args.tenant.is_some() || args.client_id.is_some() {
                return Err(Error::Config(
                    "setup takes -p PROFILE, not --tenant/--client-id: write them in the profile instead".into(),
                ));
            }
            setup::run(tool, args.profile.as_deref())
        }
        Cmd::Completions { shell } => completions(*shell),
        Cmd::Doctor(a) => doctor::run(&o, a),
    }
}

/// The command line, with the global profile flags hidden (from help and completions) where
/// they mean nothing: `inspect` and `completions` (all three), `setup` and its tools and
/// `doctor` (`--tenant`, `--client-id`: they take `-p` only).
fn command() -> clap::Command {
    use clap::CommandFactory;
    let cmd = Cli::command();
    // clap propagates a global flag to a subcommand only when it has none of that id: give these
    // subcommands a hidden copy instead (still global, so `setup`'s tools inherit it hidden).
    let hidden = |ids: &[&str]| -> Vec<clap::Arg> {
        cmd.get_arguments()
            .filter(|a| ids.contains(&a.get_id().as_str()))
            .map(|a| a.clone().hide(true))
            .collect()
    };
    let all = hidden(&["profile", "tenant", "client_id"]);
    let flags = hidden(&["tenant", "client_id"]);
    // No clone of the whole command: this runs on every call, the cached `token` included.
    cmd.mut_subcommand("inspect", |c| c.args(all.clone()))
        .mut_subcommand("completions", |c| c.args(all.clone()))
        .mut_subcommand("setup", |c| c.args(flags.clone()))
        .mut_subcommand("doctor", |c| c.args(flags))
}

/// The command the completion scripts are generated from. The generators offer hidden flags
/// too, so here the profile flags are not global: each subcommand gets the ones it takes
/// (none for `inspect` and `completions`, `-p` for `setup` and its tools and `doctor`).
fn completion_command() -> clap::Command {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let all = ["profile", "tenant", "client_id"];
    let flags: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| all.contains(&a.get_id().as_str()))
        .cloned()
        .collect();
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    let mut c = all
        .iter()
        .fold(cmd, |c, id| c.mut_arg(*id, |a| a.global(false)));
    for sub in subs {
        let takes: &[&str] = match sub.as_str() {
            "inspect" | "completions" => &[],
            "setup" | "doctor" => &["profile"],
            _ => &all,
        };
        let args: Vec<clap::Arg> = flags
            .iter()
            .filter(|a| takes.contains(&a.get_id().as_str()))
            .cloned()
            .collect();
        c = c.mut_subcommand(sub, |s| s.args(args));
    }
    c
}

fn completions(shell: clap_complete::Shell) -> Result<()> {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut completion_command(), BIN, &mut buf);
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    if shell == clap_complete::Shell::Bash {
        // clap_complete tracks the subcommand as `entra__cred__subcmd__X` but names the case
        // arms `entra__subcmd__cred__subcmd__X` (it escapes the binary name's hyphen twice), so
        // nothing past the first word completed. Name the arms as the tracking does.
        text = text.replace("entra__subcmd__cred__subcmd__", "entra__cred__subcmd__");
    }
    cli::print(&text)
}

fn broker() -> Result<Broker> {
    Ok(Broker::new(Cache::open()?))
}

fn login(
    o: &Overrides,
    flow: Option<LoginFlow>,
    scope: Option<&str>,
    redirect_port: bool,
) -> Result<()> {
    let config = Config::load()?;
    let profile = config.profile(o)?;
    let scope = scope
        .map(str::to_string)
        .unwrap_or_else(|| profile.cloud.arm_scope().to_string());
    let broker = broker()?;
    let flow = match flow {
        Some(LoginFlow::DeviceCode) => Flow::DeviceCode,
        Some(LoginFlow::Browser) => Flow::Browser,
        None if profile.flow.is_user() => profile.flow,
        // No flow chosen: the browser when one can be opened (or a redirect port was given for
        // one elsewhere), else the device code (SPEC `entra-cred`).
        None if profile.flow == Flow::Auto => {
            if redirect_port || entra_cred_core::sources::browser::can_open_browser() {
                Flow::Browser
            } else {
                Flow::DeviceCode
            }
        }
        None => {
            // An application flow needs no sign-in: check that it works.
            let t = broker.token(&profile, &TokenRequest::new(scope))?;
            eprintln!(
                "Profile '{}' uses the {} flow, which needs no sign-in; its credentials work (token valid for {}).",
                profile.name,
                t.source,
                human_remaining(t.expires_on - now())
            );
            return Ok(());
        }
    };
    let t = broker.login(&profile, flow, &scope)?;
    let who = t
        .account
        .as_ref()
        .and_then(|a| a.username.clone())
        .unwrap_or_else(|| "an unnamed account".into());
    let tenant = t
        .account
        .as_ref()
        .and_then(|a| a.tenant.clone())
        .unwrap_or_else(|| profile.tenant.clone());
    match entra_cred_core::sources::after_sign_in(&profile, broker.cache())? {
        None => eprintln!(
            "Signed in as {who} (tenant {tenant}) for profile '{}'. Tokens for any scope now come without a prompt.",
            profile.name
        ),
        Some(note) => eprintln!("Signed in as {who} (tenant {tenant}), but {note}."),
    }
    Ok(())
}

fn token(o: &Overrides, target: &Target, claims: Option<&str>, output: TokenOutput) -> Result<()> {
    let scope = match (&target.scope, &target.resource) {
        (Some(s), _) => s.trim().to_string(),
        (None, Some(r)) => scope_for_resource(r),
        (None, None) => return Err(Error::Input("give --scope or --resource".into())),
    };
    if scope.is_empty() || scope.chars().any(char::is_whitespace) {
        return Err(Error::Input(
            "the scope must be one non-empty word, e.g. https://management.azure.com/.default"
                .into(),
        ));
    }
    let claims = claims
        .map(|c| Claims::parse(c).map_err(|m| Error::Input(format!("--claims: {m}"))))
        .transpose()?;
    let config = Config::load()?;
    let profile = config.profile(o)?;
    let t = broker()?.token(
        &profile,
        &TokenRequest {
            claims,
            ..TokenRequest::new(scope)
        },
    )?;
    match output {
        TokenOutput::Token => cli::print(&format!("{}\n", t.access_token.expose())),
        TokenOutput::Json => {
            let v = serde_json::json!({
                "token_type": t.token_type,
                "scope": t.scope,
                "expires_in": (t.expires_on - now()).max(0),
                "access_token": t.access_token.expose(),
                "expires_on": t.expires_on,
                "expires_at": rfc3339(t.expires_on),
            });
            cli::print(&format!("{v:#}\n"))
        }
    }
}

fn refresh(o: &Overrides, scope: Option<&str>) -> Result<()> {
    let config = Config::load()?;
    let profile = config.profile(o)?;
    let broker = broker()?;
    let scopes: Vec<(Option<String>, String)> = match scope {
        Some(s) => vec![(None, s.to_string())],
        None => {
            let mut v: Vec<(Option<String>, String)> = broker
                .session_keys(&profile)
                .iter()
                .filter_map(|k| broker.cache().load_session(k))
                .flat_map(|s| s.tokens.into_values())
                .filter(|t| t.scope != entra_cred_core::broker::ID_TOKEN_SCOPE)
                .map(|t| (Some(t.tenant), t.scope))
                .collect();
            v.sort();
            v.dedup();
            if v.is_empty() {
                v.push((None, profile.cloud.arm_scope().to_string()));
            }
            v
        }
    };
    let mut out = String::new();
    for (tenant, scope) in scopes {
        let mut req = TokenRequest::new(scope.clone());
        req.force_refresh = true;
        req.tenant = tenant;
        req.interaction = Interaction::IfPossible;
        let t = broker.token(&profile, &req)?;
        out.push_str(&format!(
            "refreshed {scope}: valid until {} ({})\n",
            rfc3339(t.expires_on),
            human_remaining(t.expires_on - now())
        ));
    }
    cli::print(&out)
}

fn logout(o: &Overrides, all: bool) -> Result<()> {
    let cache = Cache::open()?;
    if all {
        let n = cache.clear_all();
        eprintln!("Signed out of every profile ({n} cached items removed).");
        return Ok(());
    }
    let config = Config::load()?;
    let profile = config.profile(o)?;
    let n = Broker::new(cache).logout(&profile)?;
    if n == 0 {
        eprintln!(
            "Profile '{}' had nothing cached: nothing to do.",
            profile.name
        );
    } else {
        eprintln!(
            "Signed out of profile '{}' ({n} cached items removed).",
            profile.name
        );
    }
    Ok(())
}

// Keeps man/man1/entra-cred.1 equal to what these clap definitions render.
#[cfg(test)]
entra_cred_man::man_page_test!(Cli);
