//! The kubectl exec credential plugin protocol (`client.authentication.k8s.io`).
//!
//! kubectl (client-go) runs the plugin with `KUBERNETES_EXEC_INFO` set to an
//! `ExecCredential` JSON object whose `apiVersion` is the version it wants back
//! and whose `spec.interactive` says whether the plugin may prompt (stdin is
//! the user's terminal). The plugin answers on stdout with an `ExecCredential`
//! carrying `status.token` and `status.expirationTimestamp` (RFC 3339, UTC).
//!
//! ```
//! use entra_cred_core::protocol::exec_credential::{parse_exec_info, render, ApiVersion};
//! let info = parse_exec_info(Some(
//!     r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}"#,
//! )).unwrap();
//! assert_eq!(info.api_version, ApiVersion::V1);
//! assert_eq!(info.interactive, Some(false));
//! let out = render(info.api_version, "tok", 1795291150);
//! assert!(out.contains(r#""expirationTimestamp":"2026-11-21T19:59:10Z""#));
//! ```

use crate::error::{one_line, Error, Result};
use serde_json::{json, Value};

/// The environment variable kubectl passes the request in.
pub const EXEC_INFO_VAR: &str = "KUBERNETES_EXEC_INFO";

/// The API group of exec credentials.
pub const GROUP: &str = "client.authentication.k8s.io";

/// Largest `KUBERNETES_EXEC_INFO` accepted (it carries at most cluster info
/// with a CA bundle; a megabyte is far beyond any real one).
pub const MAX_EXEC_INFO: usize = 1024 * 1024;

/// The ExecCredential versions kubectl speaks today (`v1alpha1` was removed
/// in Kubernetes 1.24).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    /// `client.authentication.k8s.io/v1` (Kubernetes 1.22 and later).
    V1,
    /// `client.authentication.k8s.io/v1beta1`: the default when kubectl sends
    /// no `KUBERNETES_EXEC_INFO`.
    V1Beta1,
}

impl ApiVersion {
    /// The full `apiVersion` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1 => "client.authentication.k8s.io/v1",
            ApiVersion::V1Beta1 => "client.authentication.k8s.io/v1beta1",
        }
    }

    /// Parses a full `apiVersion` string.
    pub fn parse(s: &str) -> Option<ApiVersion> {
        match s {
            "client.authentication.k8s.io/v1" => Some(ApiVersion::V1),
            "client.authentication.k8s.io/v1beta1" => Some(ApiVersion::V1Beta1),
            _ => None,
        }
    }
}

/// What kubectl asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecInfo {
    /// The version to answer with.
    pub api_version: ApiVersion,
    /// `spec.interactive`: `Some(false)` means nobody can answer a prompt;
    /// `None` when kubectl sent no `KUBERNETES_EXEC_INFO` (e.g. the plugin was
    /// run by hand) or the field was absent.
    pub interactive: Option<bool>,
}

/// Parses `KUBERNETES_EXEC_INFO` (`None` when the variable is not set: then
/// the answer is `v1beta1` and interactivity is unknown). Total: any input
/// gives `Ok` or an [`Error::Input`] with one line of text.
pub fn parse_exec_info(raw: Option<&str>) -> Result<ExecInfo> {
    let Some(raw) = raw else {
        return Ok(ExecInfo {
            api_version: ApiVersion::V1Beta1,
            interactive: None,
        });
    };
    if raw.trim().is_empty() {
        return Ok(ExecInfo {
            api_version: ApiVersion::V1Beta1,
            interactive: None,
        });
    }
    if raw.len() > MAX_EXEC_INFO {
        return Err(Error::Input(format!(
            "{EXEC_INFO_VAR} is too large ({} bytes)",
            raw.len()
        )));
    }
    let v: Value = serde_json::from_str(raw).map_err(|e| {
        Error::Input(format!(
            "{EXEC_INFO_VAR} is not valid JSON ({})",
            one_line(&e.to_string())
        ))
    })?;
    let Some(obj) = v.as_object() else {
        return Err(Error::Input(format!(
            "{EXEC_INFO_VAR} is not a JSON object"
        )));
    };
    if let Some(kind) = obj.get("kind") {
        if kind.as_str() != Some("ExecCredential") {
            return Err(Error::Input(format!(
                "{EXEC_INFO_VAR} has kind {}, expected ExecCredential",
                short(kind)
            )));
        }
    }
    let api_version = match obj.get("apiVersion") {
        None => ApiVersion::V1Beta1,
        Some(Value::String(s)) => ApiVersion::parse(s).ok_or_else(|| {
            Error::Input(format!(
                "{EXEC_INFO_VAR} asks for apiVersion '{}', which kubectl-entra does not speak (expected {} or {}); set the exec apiVersion in the kubeconfig to {}",
                one_line(&truncate(s, 80)),
                ApiVersion::V1.as_str(),
                ApiVersion::V1Beta1.as_str(),
                ApiVersion::V1.as_str(),
            ))
        })?,
        Some(other) => {
            return Err(Error::Input(format!(
                "{EXEC_INFO_VAR} has a non-string apiVersion ({})",
                short(other)
            )))
        }
    };
    let interactive = match obj.get("spec") {
        None | Some(Value::Null) => None,
        Some(Value::Object(spec)) => match spec.get("interactive") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => {
                return Err(Error::Input(format!(
                    "{EXEC_INFO_VAR} has a non-boolean spec.interactive ({})",
                    short(other)
                )))
            }
        },
        Some(other) => {
            return Err(Error::Input(format!(
                "{EXEC_INFO_VAR} has a spec that is not an object ({})",
                short(other)
            )))
        }
    };
    Ok(ExecInfo {
        api_version,
        interactive,
    })
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n).collect();
        t.push_str("...");
        t
    }
}

fn short(v: &Value) -> String {
    one_line(&truncate(&v.to_string(), 60))
}

/// The plugin's answer: an `ExecCredential` with `status.token` and
/// `status.expirationTimestamp` (RFC 3339, UTC), one line of JSON plus a newline.
pub fn render(version: ApiVersion, token: &str, expires_on: i64) -> String {
    let v = json!({
        "kind": "ExecCredential",
        "apiVersion": version.as_str(),
        "spec": {},
        "status": {
            "expirationTimestamp": crate::timefmt::rfc3339(expires_on),
            "token": token,
        }
    });
    format!("{v}\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn absent_is_v1beta1_unknown_interactivity() {
        let i = parse_exec_info(None).unwrap();
        assert_eq!(i.api_version, ApiVersion::V1Beta1);
        assert_eq!(i.interactive, None);
        assert_eq!(parse_exec_info(Some("  ")).unwrap(), i);
    }

    #[test]
    fn kubectl_v1_and_v1beta1() {
        // Exactly what kubectl 1.32 sends (provideClusterInfo: false).
        let v1 = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}"#;
        let i = parse_exec_info(Some(v1)).unwrap();
        assert_eq!(i.api_version, ApiVersion::V1);
        assert_eq!(i.interactive, Some(false));
        let b = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":true,"cluster":{"server":"https://x","certificate-authority-data":"QQ=="}}}"#;
        let i = parse_exec_info(Some(b)).unwrap();
        assert_eq!(i.api_version, ApiVersion::V1Beta1);
        assert_eq!(i.interactive, Some(true));
        let nospec = r#"{"apiVersion":"client.authentication.k8s.io/v1"}"#;
        assert_eq!(parse_exec_info(Some(nospec)).unwrap().interactive, None);
    }

    #[test]
    fn unknown_version_and_bad_json_are_one_line_input_errors() {
        for bad in [
            r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1alpha1"}"#,
            r#"{"apiVersion":"v2\nx"}"#,
            r#"{"apiVersion":1}"#,
            "{not json",
            "[]",
            "null",
            r#"{"kind":"Pod","apiVersion":"client.authentication.k8s.io/v1"}"#,
            r#"{"apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":"yes"}}"#,
            r#"{"apiVersion":"client.authentication.k8s.io/v1","spec":[]}"#,
        ] {
            let e = parse_exec_info(Some(bad)).unwrap_err();
            assert_eq!(e.exit_code(), 1, "{bad}");
            let m = e.to_string();
            assert!(!m.contains('\n'), "{m}");
            assert!(m.contains(EXEC_INFO_VAR), "{m}");
        }
        let e = parse_exec_info(Some(
            r#"{"apiVersion":"client.authentication.k8s.io/v1alpha1"}"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("v1alpha1") && e.contains("client.authentication.k8s.io/v1"),
            "{e}"
        );
    }

    #[test]
    fn total_on_odd_input() {
        let big = "x".repeat(MAX_EXEC_INFO + 1);
        for s in [
            "",
            "\u{0}",
            "\"str\"",
            "1e999",
            "{\"apiVersion\":null}",
            &big,
        ] {
            let _ = parse_exec_info(Some(s));
        }
        // apiVersion null is not a string: error, not a panic.
        assert!(parse_exec_info(Some("{\"apiVersion\":null}")).is_err());
    }

    #[test]
    fn render_shape() {
        for ver in [ApiVersion::V1, ApiVersion::V1Beta1] {
            let out = render(ver, "abc.def.ghi", 1795291150);
            assert!(out.ends_with('\n'));
            assert_eq!(out.matches('\n').count(), 1);
            let v: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(v["kind"], "ExecCredential");
            assert_eq!(v["apiVersion"], ver.as_str());
            assert_eq!(v["status"]["token"], "abc.def.ghi");
            assert_eq!(v["status"]["expirationTimestamp"], "2026-11-21T19:59:10Z");
            // Round trip: what we render, we (and kubectl) parse as the same version.
            assert_eq!(parse_exec_info(Some(&out)).unwrap().api_version, ver);
        }
        // A token with characters JSON must escape stays valid JSON.
        let out = render(ApiVersion::V1, "a\"b\\c", 0);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["status"]["token"], "a\"b\\c");
    }
}
