//! `entra-cred status`: profiles, their source, account and cached tokens.

use crate::TableJson;
use entra_cred_core::broker::{Broker, ID_TOKEN_SCOPE};
use entra_cred_core::cache::Cache;
use entra_cred_core::cli;
use entra_cred_core::config::{Config, Overrides};
use entra_cred_core::sources;
use entra_cred_core::timefmt::{human_remaining, now, rfc3339};
use entra_cred_core::Result;
use serde_json::{json, Value};

pub fn run(o: &Overrides, output: TableJson) -> Result<()> {
    let config = Config::load()?;
    let cache = Cache::open()?;
    let names = match Config::chosen_name(o) {
        (name, true) => vec![name],
        (_, false) => config.profile_names(),
    };
    let broker = Broker::new(cache.clone());
    let mut profiles = Vec::new();
    for name in names {
        let ov = Overrides {
            profile: Some(name.clone()),
            ..o.clone()
        };
        let p = match config.profile(&ov) {
            Ok(p) => p,
            Err(e) => {
                if o.profile.is_some() || std::env::var_os("ENTRA_CRED_PROFILE").is_some() {
                    return Err(e);
                }
                profiles.push(json!({"name": name, "error": e.to_string()}));
                continue;
            }
        };
        let (source, why) = match sources::resolve(&p, &cache) {
            Ok((s, w)) => (s.name().to_string(), w),
            Err(e) => ("none".into(), e.to_string()),
        };
        let mut account = Value::Null;
        let mut rt_store = Value::Null;
        let mut tokens = Vec::new();
        // The profile's own sessions, then those of other tenants that got their tokens through
        // this sign-in (e.g. the AKS or Azure Repos tenant of `setup kubectl`/`setup git`):
        // `logout` forgets them with the profile, so `status` shows them with it.
        let own = broker.session_keys(&p);
        let borrowed = cache.sessions().into_iter().filter(|s| {
            s.refresh_token.is_none()
                && s.authority.eq_ignore_ascii_case(&p.authority)
                && s.client_id.eq_ignore_ascii_case(&p.client_id)
                && !own.iter().any(|k| k.tenant == s.tenant)
        });
        let mut sessions: Vec<_> = own.iter().filter_map(|k| cache.load_session(k)).collect();
        sessions.extend(borrowed);
        for s in sessions {
            if let Some(a) = &s.account {
                if account.is_null() {
                    account = json!({"username": a.username, "oid": a.oid, "tenant": a.tenant});
                }
            }
            if let Some(k) = s.refresh_token {
                rt_store = json!(k.name());
            }
            for t in s.tokens.values() {
                tokens.push(json!({
                    "scope": t.scope,
                    "tenant": t.tenant,
                    "kind": if t.scope == ID_TOKEN_SCOPE { "id_token" } else { "access_token" },
                    "source": s.source,
                    "expires_on": t.expires_on,
                    "expires_at": rfc3339(t.expires_on),
                    "expired": t.expires_on <= now(),
                }));
            }
        }
        profiles.push(json!({
            "name": p.name,
            "in_config_file": p.in_file,
            "source": source,
            "reason": why,
            "flow": p.flow.name(),
            "tenant": p.tenant,
            "tenant_from": p.tenant_origin.name(),
            "client_id": p.client_id,
            "client_id_from": p.client_id_origin.name(),
            "authority": p.authority,
            "cloud": p.cloud.name(),
            "account": account,
            "refresh_token_store": rt_store,
            "tokens": tokens,
        }));
    }
    let doc = json!({
        "config_file": config.path().map(|p| p.display().to_string()),
        "cache_dir": cache.dir().display().to_string(),
        "profiles": profiles,
    });
    match output {
        TableJson::Json => cli::print(&format!("{doc:#}\n")),
        TableJson::Table => cli::print(&table(&doc)),
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        o => o.to_string(),
    }
}

fn table(doc: &Value) -> String {
    let mut out = format!(
        "config file  {}\ncache        {}\n",
        s(&doc["config_file"]),
        s(&doc["cache_dir"])
    );
    for p in doc["profiles"].as_array().into_iter().flatten() {
        out.push_str(&format!("\nprofile {}\n", s(&p["name"])));
        if !p["error"].is_null() {
            out.push_str(&format!("  error      {}\n", s(&p["error"])));
            continue;
        }
        out.push_str(&format!(
            "  source     {} ({})\n",
            s(&p["source"]),
            s(&p["reason"])
        ));
        out.push_str(&format!(
            "  tenant     {} ({})\n",
            s(&p["tenant"]),
            s(&p["tenant_from"])
        ));
        out.push_str(&format!(
            "  client id  {} ({})\n",
            s(&p["client_id"]),
            s(&p["client_id_from"])
        ));
        out.push_str(&format!("  authority  {}\n", s(&p["authority"])));
        let acct = &p["account"];
        if acct.is_null() {
            out.push_str("  account    not signed in\n");
        } else {
            out.push_str(&format!(
                "  account    {} (tenant {})\n",
                s(&acct["username"]),
                s(&acct["tenant"])
            ));
        }
        if !p["refresh_token_store"].is_null() {
            out.push_str(&format!(
                "  refresh    kept in the {}\n",
                s(&p["refresh_token_store"])
            ));
        }
        let tokens = p["tokens"].as_array().cloned().unwrap_or_default();
        if tokens.is_empty() {
            out.push_str("  tokens     none cached\n");
        }
        for t in tokens {
            let left = t["expires_on"].as_i64().unwrap_or(0) - now();
            let when = if left > 0 {
                format!("valid for {}", human_remaining(left))
            } else {
                human_remaining(left)
            };
            out.push_str(&format!(
                "  token      {} @ {}: {} (until {})\n",
                s(&t["scope"]),
                s(&t["tenant"]),
                when,
                s(&t["expires_at"])
            ));
        }
    }
    out
}
