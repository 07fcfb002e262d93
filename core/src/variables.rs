//! The environment variables entra-cred reads as text, and the rule of
//! SPEC.md ("Configuration"): a variable it names that is set to something
//! that is not UTF-8 is a configuration error (exit 2) naming the variable,
//! never silently ignored (a non-UTF-8 `ENTRA_CRED_PROFILE` must not select
//! `default`, another identity; a non-UTF-8 `AZURE_CLIENT_SECRET` must not
//! fall through to managed identity).
//!
//! Every binary checks them once, before anything else ([`crate::cli::run`]).

use crate::error::{Error, Result};

/// The variables that choose the identity: the Azure SDK conventions and the
/// CI and managed-identity endpoints (`entra-cred doctor` reports which are set).
pub const IDENTITY: &[&str] = &[
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "MSI_ENDPOINT",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "IMDS_ENDPOINT",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "SYSTEM_OIDCREQUESTURI",
    "SYSTEM_ACCESSTOKEN",
    "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID",
    "AZURESUBSCRIPTION_CLIENT_ID",
    "AZURESUBSCRIPTION_TENANT_ID",
];

/// Every other variable SPEC.md names, and the others entra-cred reads as text.
pub const OTHERS: &[&str] = &[
    // entra-cred's own.
    "ENTRA_CRED_CONFIG",
    "ENTRA_CRED_CACHE_DIR",
    "ENTRA_CRED_PROFILE",
    "ENTRA_CRED_GIT_HOSTS",
    "ENTRA_CRED_ACR_HOSTS",
    "ENTRA_CRED_ARTIFACTS_HOSTS",
    "ENTRA_CRED_HTTP_TIMEOUT",
    "ENTRA_CRED_CAE",
    "ENTRA_CRED_ARC_TOKENS_DIR",
    "ENTRA_CRED_LOG",
    "ENTRA_CRED_KEYRING",
    "ENTRA_CRED_AZ_TIMEOUT",
    "ENTRA_CRED_BROWSER_TIMEOUT",
    // Where files are, and how to reach the network.
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    // The protocols' callers.
    "KUBERNETES_EXEC_INFO",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "BROWSER",
];

/// The first variable of `names` whose value is not UTF-8, as an error.
pub fn check_names(names: &[&str]) -> Result<()> {
    for name in names {
        if let Some(v) = std::env::var_os(name) {
            if v.to_str().is_none() {
                return Err(Error::Config(format!(
                    "{name} is set to something that is not UTF-8 text: set it to the intended value, or unset it"
                )));
            }
        }
    }
    Ok(())
}

/// Every variable entra-cred reads as text: [`IDENTITY`], then [`OTHERS`].
pub fn named() -> impl Iterator<Item = &'static str> {
    IDENTITY.iter().chain(OTHERS).copied()
}

/// Checks every variable of [`named`].
pub fn check() -> Result<()> {
    check_names(IDENTITY)?;
    check_names(OTHERS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_upper_or_lower() {
        let mut v: Vec<&str> = named().collect();
        let n = v.len();
        v.sort_unstable();
        v.dedup();
        assert_eq!(v.len(), n);
        // A variable nobody sets passes.
        assert!(check_names(&["ENTRA_CRED_TEST_SURELY_UNSET_4711"]).is_ok());
    }
}
