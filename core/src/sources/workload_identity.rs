//! Workload identity: the federated token file (AKS workload identity, CI
//! OIDC) is the client assertion. The file rotates, so it is read afresh for
//! every request.

use super::{AppSource, Auto, ClientAuth, Ctx, Source};
use crate::cache::Cache;
use crate::config::Profile;
use crate::entra::TokenResponse;
use crate::error::{Error, Result};
use std::path::Path;

/// `flow = "workload-identity"`; `auto` picks it when a federated token file is configured.
pub const SOURCE: Source =
    Source::application("workload-identity", Auto::When(applies), &WorkloadIdentity);

fn applies(p: &Profile, _: &Cache) -> Option<String> {
    let shown = |f: &Path| format!("a federated token file is configured ({})", f.display());
    p.federated_token_file.as_deref().map(shown)
}

/// The workload identity source.
pub struct WorkloadIdentity;

impl AppSource for WorkloadIdentity {
    fn acquire(&self, ctx: &Ctx<'_>, tenant: &str, scope: &str) -> Result<TokenResponse> {
        let p = ctx.profile;
        let path = super::required(
            p.federated_token_file.as_ref(),
            p,
            "workload identity",
            "federated token file",
            "AZURE_FEDERATED_TOKEN_FILE",
        )?;
        let assertion = std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!(
                "cannot read the federated token file {}: {e}",
                path.display()
            ))
        })?;
        let assertion = assertion.trim();
        if assertion.is_empty() {
            return Err(Error::Config(format!(
                "the federated token file {} is empty",
                path.display()
            )));
        }
        let form = super::client_credentials(&p.client_id, ClientAuth::Assertion(assertion), scope);
        ctx.entra().token(tenant, form, "workload identity sign-in")
    }
}
