//! Kubeconfig conversion (`kubectl-entra convert-kubeconfig`, `entra-cred setup
//! kubectl`): the users of a kubeconfig that sign in to AKS with the legacy
//! in-tree `azure` auth-provider (removed from kubectl in 1.26) or with a
//! `kubelogin get-token` exec plugin are rewritten to run `kubectl-entra`.
//!
//! One file per concern, as kubelogin keeps one per login method:
//! - `translate`: the old settings (kubelogin's `get-token` arguments, the
//!   auth-provider's `config`) into `kubectl-entra` arguments, and
//!   [`flow_for_login`];
//! - `yaml`: reading and writing kubeconfig YAML ([`parse`], [`emit`]) and
//!   splicing the converted users into the original text;
//! - `convert`: the pure conversion, [`convert()`] (text in, text out);
//! - [`command`]: the file work (which file, atomic write) and the report
//!   of `convert-kubeconfig`.
//!
//! This file holds the names written into converted users.

pub mod command;
mod convert;
mod translate;
mod yaml;

pub use convert::{convert, Change, OldAuth, Options, Outcome};
pub use translate::flow_for_login;
pub use yaml::{emit, has_inner_comments, parse};

/// The AKS server application (the audience of AKS API tokens).
pub const AKS_SERVER_ID: &str = "6dae42f8-4368-4678-94ff-3960e28e3630";
/// The public client that `az aks get-credentials` writes for Entra-enabled clusters. It is
/// not carried over: entra-cred's default client (the Azure CLI's) is pre-authorised for the
/// AKS server application (kubelogin's `azurecli` mode relies on the same), so the one
/// `entra-cred login` a person already made serves kubectl too.
pub const AKS_PUBLIC_CLIENT_ID: &str = "80faf920-1908-4b52-b5ef-a8e7bedfc67a";

/// The exec `apiVersion` written into converted users.
pub const EXEC_API_VERSION: &str = "client.authentication.k8s.io/v1";
/// The command written into converted users (found on `PATH`, like kubelogin).
pub const COMMAND: &str = "kubectl-entra";
/// The `installHint` written into converted users.
pub const INSTALL_HINT: &str =
    "kubectl-entra (part of entra-cred) is not on PATH: install entra-cred, then run `entra-cred login`";
