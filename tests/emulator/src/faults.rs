//! Fault injection: queued canned answers that replace the real one for matching requests.

use crate::http::Resp;
use crate::util::{entra_timestamp, now_secs, uuid};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Every kind of endpoint the emulator serves (counted, logged and faultable separately).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Endpoint {
    /// Entra `POST /{tenant}/oauth2/v2.0/token`.
    Token,
    /// Entra `POST /{tenant}/oauth2/v2.0/devicecode`.
    DeviceCode,
    /// Entra `GET /{tenant}/oauth2/v2.0/authorize`.
    Authorize,
    /// Entra discovery documents (`.well-known/openid-configuration`), if served.
    Discovery,
    /// Azure VM IMDS `/metadata/identity/oauth2/token`.
    Imds,
    /// App Service / Functions `IDENTITY_ENDPOINT`.
    AppService,
    /// Cloud Shell `MSI_ENDPOINT`.
    CloudShell,
    /// Azure Repos unauthenticated `HEAD /{org}` (tenant discovery).
    ReposDiscovery,
    /// Azure Repos git smart-HTTP.
    ReposGit,
    /// ACR `POST /oauth2/exchange`.
    AcrExchange,
    /// ACR `GET|POST /oauth2/token`.
    AcrToken,
    /// Docker registry API `/v2/...`.
    Registry,
    /// Kubernetes API server.
    Kube,
    /// AWS STS `AssumeRoleWithWebIdentity`.
    Sts,
    /// GitHub Actions OIDC token endpoint (`ACTIONS_ID_TOKEN_REQUEST_URL`).
    GithubOidc,
    /// Azure Pipelines OIDC token endpoint (`SYSTEM_OIDCREQUESTURI`).
    PipelinesOidc,
    /// Azure Arc managed identity endpoint (`IDENTITY_ENDPOINT` on an Arc server).
    Arc,
    /// Azure Artifacts Cargo feeds (index, downloads, publish).
    Artifacts,
    /// Matches every endpoint (for faults); for counters, the total.
    Any,
}

impl Endpoint {
    pub const ALL: [Endpoint; 18] = [
        Endpoint::Token,
        Endpoint::DeviceCode,
        Endpoint::Authorize,
        Endpoint::Discovery,
        Endpoint::Imds,
        Endpoint::AppService,
        Endpoint::CloudShell,
        Endpoint::ReposDiscovery,
        Endpoint::ReposGit,
        Endpoint::AcrExchange,
        Endpoint::AcrToken,
        Endpoint::Registry,
        Endpoint::Kube,
        Endpoint::Sts,
        Endpoint::GithubOidc,
        Endpoint::PipelinesOidc,
        Endpoint::Arc,
        Endpoint::Artifacts,
    ];

    /// Whether a fault registered for `self` applies to a request to `ep`.
    pub fn matches(self, ep: Endpoint) -> bool {
        self == Endpoint::Any || self == ep
    }

    /// True for the Entra endpoints (whose errors have Entra's JSON shape).
    pub fn is_entra(self) -> bool {
        matches!(
            self,
            Endpoint::Token | Endpoint::DeviceCode | Endpoint::Authorize | Endpoint::Discovery
        )
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl FromStr for Endpoint {
    type Err = String;
    /// Accepts `Token`, `token`, `device_code`, `device-code`, `DeviceCode`, `any`, ...
    fn from_str(s: &str) -> Result<Self, String> {
        let norm: String = s
            .chars()
            .filter(|c| *c != '_' && *c != '-')
            .collect::<String>()
            .to_ascii_lowercase();
        Endpoint::ALL
            .iter()
            .copied()
            .chain([Endpoint::Any])
            .find(|e| format!("{e:?}").to_ascii_lowercase() == norm)
            .ok_or_else(|| format!("unknown endpoint {s:?}"))
    }
}

/// A canned answer for the next `times` requests to `endpoint`.
///
/// * `status == 0` means "answer normally" (useful with `delay`: a late but real answer).
/// * `body`/`content_type` default to an error body in the endpoint's usual shape (JSON);
///   set them to express malformed JSON (`{"access_tok`) or an HTML error page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub endpoint: Endpoint,
    pub status: u16,
    pub retry_after: Option<String>,
    pub delay: Option<Duration>,
    pub body: Option<String>,
    pub content_type: Option<String>,
    pub times: u32,
    /// Extra response headers (e.g. `Location` with a 302).
    pub headers: Vec<(String, String)>,
}

impl Default for Fault {
    fn default() -> Self {
        Fault {
            endpoint: Endpoint::Any,
            status: 0,
            retry_after: None,
            delay: None,
            body: None,
            content_type: None,
            times: 1,
            headers: Vec::new(),
        }
    }
}

impl Fault {
    /// Answer `status` (once) instead of the real answer.
    pub fn status(endpoint: Endpoint, status: u16) -> Fault {
        Fault {
            endpoint,
            status,
            ..Fault::default()
        }
    }

    /// Answer normally but only after `delay` (once).
    pub fn delay(endpoint: Endpoint, delay: Duration) -> Fault {
        Fault {
            endpoint,
            delay: Some(delay),
            ..Fault::default()
        }
    }

    pub fn times(mut self, n: u32) -> Fault {
        self.times = n;
        self
    }
    pub fn retry_after(mut self, v: &str) -> Fault {
        self.retry_after = Some(v.into());
        self
    }
    pub fn with_delay(mut self, d: Duration) -> Fault {
        self.delay = Some(d);
        self
    }
    pub fn body(mut self, body: &str) -> Fault {
        self.body = Some(body.into());
        self
    }
    pub fn content_type(mut self, ct: &str) -> Fault {
        self.content_type = Some(ct.into());
        self
    }
    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Fault {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// Shorthand for a redirect: `status` (301/302/307/308) with `Location: url`.
    pub fn redirect(endpoint: Endpoint, status: u16, url: &str) -> Fault {
        Fault::status(endpoint, status)
            .header("Location", url)
            .body("")
            .content_type("text/plain")
    }
    /// Shorthand for an HTML error page (as proxies and gateways send).
    pub fn html(self, html: &str) -> Fault {
        self.body(html).content_type("text/html; charset=utf-8")
    }

    /// The response this fault produces (None when `status == 0`).
    pub fn response(&self) -> Option<Resp> {
        if self.status == 0 {
            return None;
        }
        let body = match &self.body {
            Some(b) => b.clone(),
            None if self.endpoint.is_entra() => {
                let (error, code, msg) = match self.status {
                    429 => (
                        "temporarily_unavailable",
                        50196,
                        "The server terminated an operation because it encountered a client request loop.",
                    ),
                    s if s >= 500 => (
                        "temporarily_unavailable",
                        90033,
                        "A transient error has occurred. Please try again.",
                    ),
                    _ => ("invalid_request", 90014, "Emulated fault."),
                };
                entra_error_body(error, code, msg, None).to_string()
            }
            None => serde_json::json!({
                "error": "emulated_fault",
                "status": self.status,
                "message": format!("emulated fault for {}", self.endpoint),
            })
            .to_string(),
        };
        let ct = self
            .content_type
            .clone()
            .unwrap_or_else(|| "application/json; charset=utf-8".into());
        let mut r = Resp::new(self.status, &ct, body);
        if let Some(ra) = &self.retry_after {
            r = r.with_header("Retry-After", ra);
        }
        for (k, v) in &self.headers {
            r = r.with_header(k, v);
        }
        Some(r)
    }
}

/// Entra's error body: `{"error", "error_description": "AADSTSnnn: ...\r\nTrace ID: ...",
/// "error_codes": [nnn], "timestamp", "trace_id", "correlation_id", "error_uri"}`.
pub fn entra_error_body(
    error: &str,
    code: u32,
    message: &str,
    correlation_id: Option<&str>,
) -> serde_json::Value {
    let trace = uuid();
    let corr = correlation_id.map(str::to_string).unwrap_or_else(uuid);
    let ts = entra_timestamp(now_secs());
    serde_json::json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {message}\r\nTrace ID: {trace}\r\nCorrelation ID: {corr}\r\nTimestamp: {ts}"
        ),
        "error_codes": [code],
        "timestamp": ts,
        "trace_id": trace,
        "correlation_id": corr,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    })
}

/// JSON form of a fault for the admin API:
/// `{"endpoint":"Token","status":503,"retry_after":"2","delay_ms":100,"body":"..","content_type":"..","times":1}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultSpec {
    pub endpoint: String,
    #[serde(default)]
    pub status: u16,
    #[serde(default)]
    pub retry_after: Option<String>,
    #[serde(default)]
    pub delay_ms: Option<u64>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default = "one")]
    pub times: u32,
    /// Extra response headers, e.g. `{"Location": "http://127.0.0.1:9/"}`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub headers: std::collections::BTreeMap<String, String>,
}

fn one() -> u32 {
    1
}

impl TryFrom<FaultSpec> for Fault {
    type Error = String;
    fn try_from(s: FaultSpec) -> Result<Fault, String> {
        Ok(Fault {
            endpoint: s.endpoint.parse()?,
            status: s.status,
            retry_after: s.retry_after,
            delay: s.delay_ms.map(Duration::from_millis),
            body: s.body,
            content_type: s.content_type,
            times: s.times,
            headers: s.headers.into_iter().collect(),
        })
    }
}

impl From<&Fault> for FaultSpec {
    fn from(f: &Fault) -> FaultSpec {
        FaultSpec {
            endpoint: f.endpoint.to_string(),
            status: f.status,
            retry_after: f.retry_after.clone(),
            delay_ms: f.delay.map(|d| d.as_millis() as u64),
            body: f.body.clone(),
            content_type: f.content_type.clone(),
            times: f.times,
            headers: f.headers.iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_endpoints() {
        assert_eq!("token".parse::<Endpoint>().unwrap(), Endpoint::Token);
        assert_eq!(
            "device_code".parse::<Endpoint>().unwrap(),
            Endpoint::DeviceCode
        );
        assert_eq!(
            "AcrExchange".parse::<Endpoint>().unwrap(),
            Endpoint::AcrExchange
        );
        assert_eq!("any".parse::<Endpoint>().unwrap(), Endpoint::Any);
        assert!("nope".parse::<Endpoint>().is_err());
    }

    #[test]
    fn fault_responses() {
        let f = Fault::status(Endpoint::Token, 503).retry_after("2");
        let r = f.response().unwrap();
        assert_eq!(r.status, 503);
        assert!(r
            .headers
            .iter()
            .any(|(k, v)| k == "Retry-After" && v == "2"));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error"], "temporarily_unavailable");
        let f = Fault::status(Endpoint::Token, 200).body("{\"access_tok");
        assert_eq!(f.response().unwrap().body, b"{\"access_tok");
        let r = Fault::redirect(Endpoint::Token, 302, "http://127.0.0.1:9/x")
            .response()
            .unwrap();
        assert_eq!(r.status, 302);
        assert!(r
            .headers
            .iter()
            .any(|(k, v)| k == "Location" && v == "http://127.0.0.1:9/x"));
        assert!(Fault::delay(Endpoint::Token, Duration::from_millis(5))
            .response()
            .is_none());
    }
}
