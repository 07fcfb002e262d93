//! `entra-cred inspect`: a JWT's header and claims, with times for people.

use crate::TableJson;
use entra_cred_core::cli;
use entra_cred_core::jwt;
use entra_cred_core::timefmt::{human_remaining, now, rfc3339};
use entra_cred_core::{Error, Result};
use serde_json::Value;

const TIME_CLAIMS: [&str; 4] = ["exp", "nbf", "iat", "auth_time"];

pub fn run(token: Option<&str>, output: TableJson) -> Result<()> {
    let raw = match token {
        Some(t) if t != "-" => t.to_string(),
        _ => cli::read_stdin(1 << 20)?,
    };
    let raw = raw.trim();
    let raw = raw.strip_prefix("Bearer ").unwrap_or(raw).trim();
    let d = jwt::decode(raw).ok_or_else(|| {
        Error::Input("not a JWT (expected three base64url parts separated by dots)".into())
    })?;
    let exp = d.secs("exp");
    let expired = exp.is_some_and(|e| e <= now());
    match output {
        TableJson::Json => {
            let v = serde_json::json!({
                "header": d.header,
                "claims": d.claims,
                "expired": expired,
                "expires_at": exp.map(rfc3339),
            });
            cli::print(&format!("{v:#}\n"))?;
        }
        TableJson::Table => {
            let mut out = String::new();
            let width = d
                .header
                .keys()
                .chain(d.claims.keys())
                .map(|k| k.len())
                .max()
                .unwrap_or(3)
                .max(6);
            out.push_str("header\n");
            for (k, v) in &d.header {
                out.push_str(&format!("  {k:width$}  {}\n", show(v)));
            }
            out.push_str("claims\n");
            for (k, v) in &d.claims {
                let mut line = show(v);
                if TIME_CLAIMS.contains(&k.as_str()) {
                    if let Some(s) = d.secs(k) {
                        line = format!("{line}  ({})", rfc3339(s));
                        if k == "exp" {
                            line = format!(
                                "{line} {}",
                                if s > now() {
                                    format!("valid for {}", human_remaining(s - now()))
                                } else {
                                    human_remaining(s - now())
                                }
                            );
                        }
                    }
                }
                out.push_str(&format!("  {k:width$}  {line}\n"));
            }
            cli::print(&out)?;
        }
    }
    if expired {
        return Err(Error::Other(format!(
            "the token expired at {}",
            rfc3339(exp.unwrap_or(0))
        )));
    }
    Ok(())
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => entra_cred_core::error::one_line(s),
        other => other.to_string(),
    }
}
