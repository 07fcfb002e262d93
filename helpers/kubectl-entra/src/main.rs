//! `kubectl-entra`: kubectl exec credential plugin for AKS with Microsoft Entra ID.
//!
//! With no subcommand it prints an `ExecCredential` (the version kubectl asks
//! for in `KUBERNETES_EXEC_INFO`) with an Entra access token for
//! `<server id>/.default`. `convert-kubeconfig` rewrites AKS users of a
//! kubeconfig (legacy `azure` auth-provider, `kubelogin get-token`) to run it.

use clap::{Parser, Subcommand};
use entra_cred_core::broker::{Interaction, TokenRequest};
use entra_cred_core::config::{Flow, Overrides, Profile};
use entra_cred_core::helper::{self, Helper, Reply, Step, Target};
use entra_cred_core::kubeconfig::{self, AKS_SERVER_ID};
use entra_cred_core::protocol::exec_credential::{self, ExecInfo, EXEC_INFO_VAR};
use entra_cred_core::{Broker, Error, Result};
use std::path::PathBuf;
use std::process::ExitCode;

const BIN: &str = "kubectl-entra";

/// kubectl exec credential plugin: Entra ID tokens for AKS clusters.
///
/// In a kubeconfig user: `exec: {apiVersion: client.authentication.k8s.io/v1,
/// command: kubectl-entra, args: [--server-id, ID], interactiveMode: IfAvailable}`.
/// Sign in once with `entra-cred login`; `convert-kubeconfig` rewrites
/// kubelogin and legacy azure users for you.
#[derive(Parser)]
#[command(name = BIN, version, long_about = None, args_conflicts_with_subcommands = false)]
struct Args {
    /// entra-cred profile (default: ENTRA_CRED_PROFILE, else `default`).
    #[arg(short = 'p', long, global = true, value_name = "NAME")]
    profile: Option<String>,
    /// AKS server application id; the scope is `<ID>/.default`
    /// [default: the profile's server_id, else 6dae42f8-4368-4678-94ff-3960e28e3630].
    #[arg(long, value_name = "ID")]
    server_id: Option<String>,
    /// Tenant (id or domain) instead of the profile's.
    #[arg(long, visible_alias = "tenant-id", value_name = "TENANT")]
    tenant: Option<String>,
    /// Application (client) id instead of the profile's.
    #[arg(long, value_name = "ID")]
    client_id: Option<String>,
    /// How to get tokens: device-code, browser, client-secret, client-certificate,
    /// workload-identity, managed-identity, azure-cli, auto.
    #[arg(long, value_name = "FLOW")]
    flow: Option<String>,
    /// kubelogin's name for --flow: devicecode, interactive, spn, msi, azurecli,
    /// workloadidentity (entra-cred flow names work too).
    #[arg(long, short = 'l', value_name = "MODE", conflicts_with = "flow")]
    login: Option<String>,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Rewrite kubeconfig users that use the legacy `azure` auth-provider or
    /// `kubelogin get-token` to run kubectl-entra, keeping everything else.
    ConvertKubeconfig {
        /// The kubeconfig [default: the first file of KUBECONFIG, else ~/.kube/config].
        #[arg(long, value_name = "FILE")]
        kubeconfig: Option<PathBuf>,
        /// Only the user of this context.
        #[arg(long, value_name = "NAME")]
        context: Option<String>,
        /// Show what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

fn main() -> ExitCode {
    helper::main::<Kubectl>()
}

/// The kubectl exec credential plugin.
struct Kubectl;

impl Helper for Kubectl {
    const BIN: &'static str = BIN;
    type Args = Args;
    type Request = ExecInfo;
    type Answer = Reply;

    fn read(args: &Args) -> Result<Step<ExecInfo>> {
        if let Some(Cmd::ConvertKubeconfig {
            kubeconfig,
            context,
            dry_run,
        }) = &args.cmd
        {
            return kubeconfig::command::run(
                args.profile.as_deref(),
                kubeconfig.as_deref(),
                context.as_deref(),
                *dry_run,
            )
            .map(|report| Step::Done(Reply::text(report)));
        }
        let raw = std::env::var(EXEC_INFO_VAR).ok();
        exec_credential::parse_exec_info(raw.as_deref()).map(Step::Request)
    }

    fn target(_: &Args, _: &ExecInfo) -> Target {
        Target::Any
    }

    fn profile(args: &Args) -> Option<&str> {
        args.profile.as_deref()
    }

    fn overrides(args: &Args) -> Result<Overrides> {
        Ok(Overrides {
            profile: Self::profile(args).map(str::to_string),
            tenant: args.tenant.clone(),
            client_id: args.client_id.clone(),
            flow: flow(args)?,
        })
    }

    fn answer(args: &Args, info: &ExecInfo, profile: &Profile, broker: &Broker) -> Result<Reply> {
        get_token(args, info, profile, broker).map(Reply::text)
    }

    fn not_served(_: &Args, _: &ExecInfo) -> Result<Reply> {
        Ok(Reply::empty())
    }
}

fn flow(args: &Args) -> Result<Option<Flow>> {
    if let Some(f) = &args.flow {
        return Flow::parse(f).map(Some);
    }
    if let Some(l) = &args.login {
        let cert = std::env::var_os("AZURE_CLIENT_CERTIFICATE_PATH").is_some()
            && std::env::var_os("AZURE_CLIENT_SECRET").is_none();
        return kubeconfig::flow_for_login(l, cert).map(Some).ok_or_else(|| {
            Error::Config(format!(
                "--login {l}: no such mode (use devicecode, interactive, spn, msi, azurecli or workloadidentity)"
            ))
        });
    }
    Ok(None)
}

/// The hint for a missing sign-in, carrying the flags that select the session.
fn login_hint(args: &Args, profile: &Profile) -> String {
    let mut cmd = String::from("entra-cred login");
    if profile.name != entra_cred_core::config::DEFAULT_PROFILE {
        cmd.push_str(&format!(" -p {}", profile.name));
    }
    // No --tenant: one sign-in serves every tenant the person may reach.
    if let Some(c) = &args.client_id {
        cmd.push_str(&format!(" --client-id {c}"));
    }
    if profile.flow == Flow::Browser {
        cmd.push_str(" --flow browser");
    }
    format!(
        "kubectl needs a token for the AKS cluster and nobody can answer a sign-in prompt here: run `{cmd}` once in a terminal, then retry"
    )
}

fn get_token(args: &Args, info: &ExecInfo, profile: &Profile, broker: &Broker) -> Result<String> {
    let server_id = args
        .server_id
        .as_deref()
        .or(profile.server_id.as_deref())
        .unwrap_or(AKS_SERVER_ID)
        .trim()
        .trim_end_matches('/')
        .to_string();
    if server_id.is_empty() || server_id.chars().any(char::is_whitespace) {
        return Err(Error::Config(
            "--server-id must be one word, e.g. 6dae42f8-4368-4678-94ff-3960e28e3630".into(),
        ));
    }
    let mut req = TokenRequest::new(format!("{server_id}/.default"));
    req.interaction = match info.interactive {
        Some(false) => Interaction::Never,
        _ => Interaction::IfPossible,
    };
    let token = match broker.token(profile, &req) {
        Ok(t) => t,
        Err(Error::InteractionRequired(_)) => {
            return Err(Error::InteractionRequired(login_hint(args, profile)))
        }
        Err(e) => return Err(e),
    };
    Ok(exec_credential::render(
        info.api_version,
        token.access_token.expose(),
        token.expires_on,
    ))
}

// Keeps man/man1/kubectl-entra.1 equal to what these clap definitions render.
#[cfg(test)]
entra_cred_man::man_page_test!(Args);
