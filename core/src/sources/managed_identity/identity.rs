//! Which identity to ask for: the system-assigned one or a user-assigned one
//! named by client id, object id or resource id; and the resource a scope names.

use super::Host;

/// A user-assigned identity, or the system-assigned one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// The system-assigned identity.
    System,
    /// By client (application) id.
    ClientId(String),
    /// By object (principal) id.
    ObjectId(String),
    /// By ARM resource id.
    ResourceId(String),
}

impl Identity {
    /// Reads `managed_identity_client_id`: `<client id>`, `client_id=<id>`,
    /// `object_id=<id>` (also `principal_id=`), `resource_id=<id>` (also
    /// `msi_res_id=` / `mi_res_id=`), or a resource id starting with `/`.
    pub fn parse(v: Option<&str>) -> Identity {
        let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) else {
            return Identity::System;
        };
        if let Some((k, val)) = v.split_once('=') {
            let val = val.trim().to_string();
            match k.trim().to_ascii_lowercase().as_str() {
                "client_id" | "clientid" => return Identity::ClientId(val),
                "object_id" | "objectid" | "principal_id" => return Identity::ObjectId(val),
                "resource_id" | "msi_res_id" | "mi_res_id" => return Identity::ResourceId(val),
                _ => {}
            }
        }
        if v.starts_with('/') {
            Identity::ResourceId(v.to_string())
        } else {
            Identity::ClientId(v.to_string())
        }
    }

    /// The query parameter naming this identity on `host`.
    pub(super) fn param(&self, host: &Host) -> Option<(&'static str, String)> {
        let imds = *host == Host::Imds;
        match self {
            Identity::System => None,
            Identity::ClientId(v) => Some(("client_id", v.clone())),
            Identity::ObjectId(v) => {
                Some((if imds { "object_id" } else { "principal_id" }, v.clone()))
            }
            Identity::ResourceId(v) => {
                Some((if imds { "msi_res_id" } else { "mi_res_id" }, v.clone()))
            }
        }
    }
}

/// `X/.default` -> `X` (the v1 resource managed identity endpoints take).
pub fn resource_of_scope(scope: &str) -> String {
    let s = scope.trim();
    s.strip_suffix("/.default").unwrap_or(s).to_string()
}

impl Identity {
    /// A stable name of the identity (for the probe memo).
    pub(super) fn selector(&self) -> String {
        match self.param(&Host::Imds) {
            Some((k, v)) => format!("{k}={v}"),
            None => "system".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_identities() {
        assert_eq!(
            resource_of_scope("https://management.azure.com/.default"),
            "https://management.azure.com"
        );
        assert_eq!(
            resource_of_scope("https://management.core.windows.net//.default"),
            "https://management.core.windows.net/"
        );
        assert_eq!(resource_of_scope("api://x"), "api://x");
        assert_eq!(Identity::parse(None), Identity::System);
        assert_eq!(Identity::parse(Some(" ")), Identity::System);
        assert_eq!(
            Identity::parse(Some("abc")),
            Identity::ClientId("abc".into())
        );
        assert_eq!(
            Identity::parse(Some("object_id=o1")),
            Identity::ObjectId("o1".into())
        );
        assert_eq!(
            Identity::parse(Some("/subscriptions/s/x")),
            Identity::ResourceId("/subscriptions/s/x".into())
        );
        assert_eq!(
            Identity::parse(Some("msi_res_id=/subscriptions/s/x")),
            Identity::ResourceId("/subscriptions/s/x".into())
        );
        assert_eq!(
            Identity::ObjectId("o".into()).param(&Host::Imds),
            Some(("object_id", "o".to_string()))
        );
        assert_eq!(
            Identity::ResourceId("r".into()).param(&Host::AppService),
            Some(("mi_res_id", "r".to_string()))
        );
    }
}
