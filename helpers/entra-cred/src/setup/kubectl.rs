//! `entra-cred setup kubectl [--kubeconfig F] [--context C] [--dry-run]`: converts the
//! kubeconfig's AKS users to `kubectl-entra` in this process (the conversion and its report are
//! core's [`entra_cred_core::kubeconfig::command`], the same `kubectl-entra convert-kubeconfig`
//! runs), and prints the report on stdout.

use entra_cred_core::Result;
use std::path::PathBuf;

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

/// Runs `setup kubectl`.
pub fn run(args: &Args, profile: Option<&str>) -> Result<()> {
    super::check_profile(profile)?;
    let report = entra_cred_core::kubeconfig::command::run(
        profile,
        args.kubeconfig.as_deref(),
        args.context.as_deref(),
        args.dry_run,
    )?;
    entra_cred_core::cli::print(&report)
}
