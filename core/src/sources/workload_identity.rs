//! Workload identity: the federated token file (AKS workload identity, CI
//! OIDC) is the client assertion. The file rotates, so it is read afresh for
//! every request.

use super::{Acquire, AppSource, Auto, Ctx, Identity, Source};
use crate::cache::Cache;
use crate::config::Profile;
use crate::entra::TokenResponse;
use crate::error::{Error, Result};

/// `flow = "workload-identity"`; `auto` picks it when a federated token file is configured.
pub const SOURCE: Source = Source {
    name: "workload-identity",
    identity: Identity::Application,
    auto: Auto::When(applies),
    detail: None,
    acquire: Acquire::App(&WorkloadIdentity),
};

fn applies(p: &Profile, _: &Cache) -> Option<String> {
    let file = p.federated_token_file.as_ref()?;
    Some(format!(
        "a federated token file is configured ({})",
        file.display()
    ))
}

/// The workload identity source.
pub struct WorkloadIdentity;

impl AppSource for WorkloadIdentity {
    fn acquire(&self, ctx: &Ctx<'_>, tenant: &str, scope: &str) -> Result<TokenResponse> {
        let p = ctx.profile;
        let path = p.federated_token_file.as_ref().ok_or_else(|| {
            Error::Config(format!(
                "profile '{}' uses workload identity but no federated token file is set (AZURE_FEDERATED_TOKEN_FILE)",
                p.name
            ))
        })?;
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
        let form = vec![
            ("grant_type".into(), "client_credentials".into()),
            ("client_id".into(), p.client_id.clone()),
            (
                "client_assertion_type".into(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ),
            ("client_assertion".into(), assertion.to_string()),
            ("scope".into(), scope.to_string()),
        ];
        ctx.entra().token(tenant, form, "workload identity sign-in")
    }
}
