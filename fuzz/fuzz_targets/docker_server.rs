//! `protocol::docker`: `normalize`, `parse_server`, `parse_store`,
//! `Action::parse`, `Registry` (`HostPort`) methods, ACR routing (`hosts::Service::Acr`) and
//! the rendered answers. Input: the
//! server as docker writes it on stdin, then after a NUL an `acr_hosts`
//! allow-list, one entry a line.
#![no_main]

#[path = "proto_common.rs"]
mod common;

use entra_cred_core::cloud::Cloud;
use entra_cred_core::hosts::Service;
use entra_cred_core::protocol::docker::{
    normalize, parse_server, parse_store, render_get, render_list, Action,
};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (server, allow) = common::split_nul(&text);
    let allow: Vec<String> = allow.lines().map(str::to_string).collect();

    match parse_server(server) {
        Ok(s) => {
            assert!(!s.is_empty());
            assert_eq!(s, s.trim());
        }
        Err(e) => {
            common::assert_error(&e);
            assert!(server.trim().is_empty());
        }
    }
    if let Err(e) = Action::parse(server) {
        common::assert_error(&e);
    }
    let _ = parse_store(server);

    if let Some(r) = normalize(server) {
        let name = r.name();
        // The registry host is one plain name: no path, userinfo, blank or
        // upper case can reach a URL, a state file name or the `service`.
        assert!(!r.host.is_empty());
        assert!(
            !r.host.contains(['/', '@', '?', '#', '\\', '%'])
                && !r.host.chars().any(|c| c.is_whitespace() || c.is_control()),
            "{server:?} -> {:?}",
            r.host
        );
        assert_eq!(r.host, r.host.to_ascii_lowercase());
        assert!(r.host.is_ascii());
        assert!(!r.host.ends_with('.'));
        assert_ne!(r.port, Some(0));
        if !r.host.starts_with('[') {
            assert!(!r.host.contains(':'), "{:?}", r.host);
        }
        // Normalising the normalised name changes nothing.
        assert_eq!(normalize(&name).as_ref(), Some(&r), "{name:?}");
        assert_eq!(
            normalize(&format!("https://{name}/v2/")).as_ref(),
            Some(&r),
            "{name:?}"
        );
        assert!(r.listed_in(std::slice::from_ref(&name)));
        // Anchored suffix match.
        let builtin = Service::Acr.is_builtin(&name);
        if builtin {
            assert!(Cloud::ALL.iter().any(|c| {
                let s = c.acr_suffix();
                r.host.ends_with(s) && r.host.len() > s.len()
            }));
        }
        let served = Service::Acr.serves(&name, &allow);
        assert_eq!(Service::Acr.serves(server, &allow), served, "{server:?}");
        if served && !builtin {
            assert!(allow
                .iter()
                .any(|e| normalize(e).is_some_and(|e| r.matches(&e))));
        }
        let url = r.base_url();
        assert!(url == format!("http://{name}") || url == format!("https://{name}"));
        if r.scheme() == "http" {
            assert!(r.is_loopback());
        }
        // The answers are JSON that reads back.
        let get: serde_json::Value =
            serde_json::from_str(&render_get(server, &name, "secret")).expect("get JSON");
        assert_eq!(get["ServerURL"], server);
        assert_eq!(get["Username"], name.as_str());
        let mut list = BTreeMap::new();
        list.insert(server.to_string(), name.clone());
        let l: serde_json::Value = serde_json::from_str(&render_list(&list)).expect("list JSON");
        assert_eq!(l[server], name.as_str());
    }
    // parse_store reads the ServerURL of any JSON object.
    let store = serde_json::json!({"ServerURL": server, "Username": "u", "Secret": "s"});
    assert_eq!(parse_store(&store.to_string()).as_deref(), Some(server));
    for e in &allow {
        let _ = normalize(e);
    }
});
