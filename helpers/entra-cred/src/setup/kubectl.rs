//! `entra-cred setup kubectl [--kubeconfig F] [--context C] [--dry-run]`: runs
//! `kubectl-entra [-p P] convert-kubeconfig [--kubeconfig F] [--context C] [--dry-run]` (the
//! binary next to the running entra-cred, else the one on PATH) and passes its output and exit
//! code through. The conversion itself (which users, which lines) is `kubectl-entra`'s.

use entra_cred_core::{Error, Result};
use std::path::PathBuf;
use std::process::Command;

/// `setup kubectl` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The kubeconfig to convert (default: KUBECONFIG's first file, else ~/.kube/config).
    #[arg(long, value_name = "F")]
    pub kubeconfig: Option<PathBuf>,
    /// Convert only this context's user.
    #[arg(long, value_name = "C")]
    pub context: Option<String>,
    /// Print the change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// The `kubectl-entra` command line for these arguments.
pub fn command(args: &Args, profile: Option<&str>) -> Command {
    let program = super::sibling_binary("kubectl-entra").unwrap_or_else(|| "kubectl-entra".into());
    let mut c = Command::new(program);
    if let Some(p) = profile {
        c.args(["-p", p]);
    }
    c.arg("convert-kubeconfig");
    if let Some(k) = &args.kubeconfig {
        c.arg("--kubeconfig").arg(k);
    }
    if let Some(ctx) = &args.context {
        c.args(["--context", ctx]);
    }
    if args.dry_run {
        c.arg("--dry-run");
    }
    c
}

/// Runs `setup kubectl`; a non-zero exit of `kubectl-entra` ends this process with the same code.
/// Its stdout passes through; its stderr too, with its `kubectl-entra: ` error prefix said as
/// `entra-cred: ` (the command the person ran).
pub fn run(args: &Args, profile: Option<&str>) -> Result<()> {
    super::check_profile(profile)?;
    let mut c = command(args, profile);
    let out = c
        .stdin(std::process::Stdio::inherit())
        .stdout(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::piped())
        .output()
        .map_err(|e| {
            Error::Other(format!(
                "cannot run {} ({e}): install kubectl-entra next to entra-cred or on PATH",
                c.get_program().to_string_lossy()
            ))
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in stderr.split_inclusive('\n') {
        match line.strip_prefix("kubectl-entra: ") {
            Some(rest) => eprint!("entra-cred: {rest}"),
            None => eprint!("{line}"),
        }
    }
    match out.status.code() {
        Some(0) => Ok(()),
        Some(code) => std::process::exit(code),
        None => Err(Error::Other(
            "kubectl-entra convert-kubeconfig was killed by a signal".into(),
        )),
    }
}
