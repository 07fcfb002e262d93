//! `azure_repos`: the tenant in git's `wwwauth[]` lines (`Bearer
//! authorization_uri=...`) and in `X-VSS-ResourceTenant`, the organisation,
//! and host matching (`hostport`, `hosts`). Input: lines; the first is also the host, the second
//! the path.
#![no_main]

#[path = "proto_common.rs"]
mod common;

use entra_cred_core::azure_repos::{
    discovery_url, organisation, protocol_allowed, tenant_from_resource_header, tenant_from_wwwauth,
};
use entra_cred_core::hostport::{bare_host, listed, HostPort};
use entra_cred_core::hosts::Service;
use libfuzzer_sys::fuzz_target;

/// A tenant fit to be one URL path segment.
fn assert_segment(t: &str) {
    assert!(!t.is_empty() && t.len() <= 256, "{t:?}");
    assert!(
        t.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c)),
        "{t:?}"
    );
    assert!(t != "." && t != "..", "{t:?}");
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    if let Some(t) = tenant_from_wwwauth(&lines) {
        assert_segment(&t);
    }
    for l in &lines {
        if let Some(t) = tenant_from_resource_header(l) {
            assert_segment(&t);
        }
    }
    // A tenant in a real-shaped header reads back.
    if let Some(first) = lines.first() {
        let t = first.trim().to_ascii_lowercase();
        let h = format!(
            "Bearer authorization_uri=https://login.microsoftonline.com/{t}, Basic realm=\"x\""
        );
        if let Some(got) = tenant_from_wwwauth(&[h]) {
            assert_segment(&got);
        }
    }
    let host = lines.first().map(String::as_str).unwrap_or("");
    let path = lines.get(1).map(String::as_str);
    let bare = bare_host(host);
    assert!(host.starts_with(bare));
    let parsed = HostPort::parse(host);
    if let Some(h) = &parsed {
        // The normalised host is one plain name: no path, userinfo, blank or upper case.
        assert!(!h.host.is_empty() && h.host.is_ascii());
        assert!(
            !h.host.contains(['/', '@', '?', '#', '\\', '%', ' ']),
            "{host:?}"
        );
        assert_eq!(h.host, h.host.to_ascii_lowercase());
        assert!(!h.host.ends_with('.'));
        assert_ne!(h.port, Some(0));
        if !h.host.starts_with('[') {
            assert!(!h.host.contains(':'), "{host:?}");
        }
        // Normalising the normalised name changes nothing.
        assert_eq!(HostPort::parse(&h.name()).as_ref(), Some(h), "{host:?}");
        assert!(h.matches(h));
    }
    if Service::AzureRepos.is_builtin(host) {
        let h = parsed.as_ref().expect("a built-in host reads");
        assert!(h.on_https_port(), "{host:?}");
        assert!(
            h.host == "dev.azure.com" || h.host.ends_with(".visualstudio.com"),
            "{host:?}"
        );
    }
    if let Some(org) = organisation(host, path, lines.get(2).map(String::as_str)) {
        assert!(!org.is_empty());
        assert!(!org.contains(['/', '?', '#', '@', ':']), "{org:?}");
        assert!(org != "." && org != "..");
        let url = discovery_url("https", host, &org);
        assert!(url.starts_with("https://"));
    }
    if protocol_allowed("http", host) {
        assert!(entra_cred_core::config::is_loopback_host(bare));
    }
    let entries: Vec<String> = lines.iter().skip(1).cloned().collect();
    if listed(host, &entries) {
        let h = parsed.as_ref().expect("a listed host reads");
        assert!(entries.iter().any(|e| {
            HostPort::parse(e)
                .is_some_and(|e| e.host == h.host && e.port.is_none_or(|p| h.port == Some(p)))
        }));
    }
});
