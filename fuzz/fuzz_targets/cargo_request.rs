//! `artifacts`: what cargo-credential-entra reads from cargo's request that is not the
//! protocol crate's JSON: the index URL's host (and whether a token may go to it), the
//! organisation, and the tenant in the `WWW-Authenticate` lines of `registry.headers`.
//! Input: lines; the first is the index URL, the others are the headers.
#![no_main]

use entra_cred_core::artifacts::{index_host, organisation, tenant_from_headers};
use entra_cred_core::hostport::HostPort;
use entra_cred_core::hosts::Service;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let url = lines.first().map(String::as_str).unwrap_or("");
    let headers = lines.get(1..).unwrap_or_default();
    if let Some(host) = index_host(url) {
        assert!(!host.is_empty());
        assert!(!host.contains(['/', '@', ' ', '?', '#']), "{host:?}");
        assert_eq!(host, host.to_ascii_lowercase());
        if url.trim_start_matches("sparse+").starts_with("http:") {
            let bare = entra_cred_core::hostport::bare_host(&host);
            let bare = bare.trim_start_matches('[').trim_end_matches(']');
            assert!(entra_cred_core::config::is_loopback_host(bare), "{host:?}");
        }
        // Routing a host never panics, and the built-in names are anchored.
        if Service::Artifacts.is_builtin(&host) {
            let h = HostPort::parse(&host).expect("a built-in host reads");
            assert!(h.on_https_port(), "{host:?}");
            let h = h.host;
            assert!(
                h == "pkgs.dev.azure.com" || h.ends_with(".pkgs.visualstudio.com"),
                "{h:?}"
            );
        }
        let _ = Service::Artifacts.serves(&host, headers);
    }
    if let Some(org) = organisation(url) {
        assert!(!org.is_empty() && org.len() <= 100);
        assert!(
            org.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "{org:?}"
        );
    }
    if let Some(t) = tenant_from_headers(headers) {
        assert!(!t.is_empty() && t.len() <= 256, "{t:?}");
        assert!(
            t.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c)),
            "{t:?}"
        );
    }
});
