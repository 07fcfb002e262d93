//! `azure_repos`: the tenant in git's `wwwauth[]` lines (`Bearer
//! authorization_uri=...`) and in `X-VSS-ResourceTenant`, the organisation,
//! and host matching. Input: lines; the first is also the host, the second
//! the path.
#![no_main]

#[path = "proto_common.rs"]
mod common;

use entra_cred_core::azure_repos::{
    bare_host, discovery_url, host_listed, is_builtin_host, organisation, protocol_allowed,
    tenant_from_resource_header, tenant_from_wwwauth,
};
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
    if is_builtin_host(host) {
        let h = host.to_ascii_lowercase();
        let h = h.strip_suffix(":443").unwrap_or(&h);
        assert!(
            h == "dev.azure.com" || h.ends_with(".visualstudio.com"),
            "{host:?}"
        );
        assert!(!h.contains(['/', '@', ':', ' ']), "{host:?}");
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
    let listed: Vec<String> = lines.iter().skip(1).cloned().collect();
    if host_listed(host, &listed) {
        let h = host.to_ascii_lowercase();
        assert!(listed.iter().any(|e| {
            let e = e.trim().to_ascii_lowercase();
            e == h || e == bare_host(&h)
        }));
    }
});
