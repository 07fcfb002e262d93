//! `kubectl-entra`: kubectl exec credential plugin for AKS with Microsoft Entra ID.
//!
//! With no subcommand it prints an `ExecCredential` (the version kubectl asks
//! for in `KUBERNETES_EXEC_INFO`) with an Entra access token for
//! `<server id>/.default`. `convert-kubeconfig` rewrites AKS users of a
//! kubeconfig (legacy `azure` auth-provider, `kubelogin get-token`) to run it.

use clap::{Parser, Subcommand};
use entra_cred_core::broker::{Interaction, TokenRequest};
use entra_cred_core::cache::Cache;
use entra_cred_core::cli;
use entra_cred_core::config::{Config, Flow, Overrides, Profile};
use entra_cred_core::kubeconfig::{self, AKS_SERVER_ID};
use entra_cred_core::protocol::exec_credential::{self, EXEC_INFO_VAR};
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
    let args: Args = cli::parse(BIN);
    cli::run(BIN, || run(args))
}

fn run(args: Args) -> Result<()> {
    match &args.cmd {
        Some(Cmd::ConvertKubeconfig {
            kubeconfig,
            context,
            dry_run,
        }) => convert(&args, kubeconfig.as_deref(), context.as_deref(), *dry_run),
        None => get_token(&args),
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

fn get_token(args: &Args) -> Result<()> {
    let raw = std::env::var(EXEC_INFO_VAR).ok();
    let info = exec_credential::parse_exec_info(raw.as_deref())?;
    let overrides = Overrides {
        profile: args.profile.clone(),
        tenant: args.tenant.clone(),
        client_id: args.client_id.clone(),
        flow: flow(args)?,
    };
    let config = Config::load()?;
    let profile = config.profile(&overrides)?;
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
    let broker = Broker::new(Cache::open()?);
    let token = match broker.token(&profile, &req) {
        Ok(t) => t,
        Err(Error::InteractionRequired(_)) => {
            return Err(Error::InteractionRequired(login_hint(args, &profile)))
        }
        Err(e) => return Err(e),
    };
    cli::print(&exec_credential::render(
        info.api_version,
        token.access_token.expose(),
        token.expires_on,
    ))
}

fn convert(
    args: &Args,
    file: Option<&std::path::Path>,
    context: Option<&str>,
    dry_run: bool,
) -> Result<()> {
    let path = kubeconfig::kubeconfig_path(file)?;
    let shown = path.display().to_string();
    let text = match std::fs::read(&path) {
        Ok(b) => String::from_utf8(b).map_err(|_| {
            Error::Config(format!("{shown} is not UTF-8 text; not changed"))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Config(format!(
                "kubeconfig {shown} does not exist (give --kubeconfig, or run `az aks get-credentials` first)"
            )))
        }
        Err(e) => return Err(Error::io("cannot read", &path, &e)),
    };
    let opts = kubeconfig::Options {
        context: context.map(str::to_string),
        profile: args.profile.clone(),
    };
    let out = kubeconfig::convert(&text, &opts).map_err(|e| match e {
        Error::Config(m) => Error::Config(format!("{shown}: {m}; the file was not changed")),
        other => other,
    })?;

    let mut report = String::new();
    for c in &out.changes {
        let verb = if dry_run {
            "would convert"
        } else {
            "converted"
        };
        report.push_str(&format!(
            "{verb} user '{}' ({} -> {} {})\n",
            c.user,
            c.from.describe(),
            kubeconfig::COMMAND,
            c.args.join(" ")
        ));
        for n in &c.notes {
            report.push_str(&format!("  note: {n}\n"));
        }
        if dry_run {
            for line in c.yaml.lines() {
                report.push_str(&format!("    {line}\n"));
            }
        }
    }
    for (u, why) in &out.skipped {
        report.push_str(&format!("left user '{u}' alone: {why}\n"));
    }
    match &out.text {
        None => {
            let detail = if out.already.is_empty() {
                "no user uses the azure auth-provider or kubelogin".to_string()
            } else {
                format!(
                    "{} already use{} kubectl-entra",
                    quote_list(&out.already),
                    if out.already.len() == 1 { "s" } else { "" }
                )
            };
            report.push_str(&format!("{shown}: nothing to change ({detail})\n"));
        }
        Some(new_text) => {
            // Only the converted users are rewritten in a block-style file; a whole rewrite
            // (other layouts) drops the comments below the leading block.
            let comments = |t: &str| t.lines().filter(|l| l.contains('#')).count();
            if kubeconfig::has_inner_comments(&text) && comments(new_text) < comments(&text) {
                report.push_str(&format!(
                    "note: comments inside {shown} (other than the leading block) are not kept\n"
                ));
            }
            if dry_run {
                report.push_str(&format!("dry run: {shown} was not written\n"));
            } else {
                kubeconfig::write_atomic(&path, new_text)?;
                report.push_str(&format!("wrote {shown}\n"));
                report.push_str(&next_step(args, &out.changes));
            }
        }
    }
    cli::print(&report)
}

fn quote_list(names: &[String]) -> String {
    let q: Vec<String> = names.iter().map(|n| format!("user '{n}'")).collect();
    q.join(", ")
}

/// The account of a sign-in that already serves this client id (one sign-in serves every
/// tenant), read from the cache without creating or changing anything.
fn signed_in(args: &Args, client_id: Option<&str>) -> Option<String> {
    let config = Config::load().ok()?;
    let profile = config
        .profile(&Overrides {
            profile: args.profile.clone(),
            client_id: client_id.map(str::to_string),
            ..Default::default()
        })
        .ok()?;
    if !entra_cred_core::paths::cache_dir().is_some_and(|d| d.is_dir()) {
        return None;
    }
    let cache = Cache::open().ok()?;
    cache
        .sessions()
        .into_iter()
        .find(|s| {
            s.refresh_token.is_some()
                && s.authority.eq_ignore_ascii_case(&profile.authority)
                && s.client_id.eq_ignore_ascii_case(&profile.client_id)
        })
        .map(|s| {
            s.account
                .and_then(|a| a.username)
                .unwrap_or_else(|| "an unnamed account".into())
        })
}

/// What to run next: one `entra-cred login` per distinct session the users need.
fn next_step(args: &Args, changes: &[kubeconfig::Change]) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut signed: Vec<String> = Vec::new();
    for c in changes {
        let mut cmd = String::from("entra-cred login");
        if let Some(p) = &args.profile {
            cmd.push_str(&format!(" -p {p}"));
        }
        let mut it = c.args.iter();
        let mut flow: Option<&str> = None;
        let mut client_id: Option<&str> = None;
        while let Some(a) = it.next() {
            match a.as_str() {
                // No --tenant: one sign-in serves every tenant the person may reach.
                "--client-id" => {
                    if let Some(v) = it.next() {
                        cmd.push_str(&format!(" {a} {v}"));
                        client_id = Some(v);
                    }
                }
                "--flow" => flow = it.next().map(String::as_str),
                _ => {}
            }
        }
        match flow {
            None | Some("device-code") => {}
            Some("browser") => cmd.push_str(" --flow browser"),
            // Application flows need no sign-in.
            Some(_) => continue,
        }
        if let Some(who) = signed_in(args, client_id) {
            if !signed.contains(&who) {
                signed.push(who);
            }
            continue;
        }
        if !lines.contains(&cmd) {
            lines.push(cmd);
        }
    }
    let mut s = String::new();
    for who in signed {
        s.push_str(&format!(
            "already signed in as {who}: kubectl gets its tokens without a prompt\n"
        ));
    }
    if lines.is_empty() {
        return s;
    }
    s.push_str("next: sign in once (tokens then come without a prompt):\n");
    for l in lines {
        s.push_str(&format!("  {l}\n"));
    }
    s
}

// Keeps man/man1/kubectl-entra.1 equal to what these clap definitions render.
#[cfg(test)]
entra_cred_man::man_page_test!(Args);
