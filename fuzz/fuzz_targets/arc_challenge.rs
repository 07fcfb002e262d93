//! `sources::managed_identity::arc`: `parse_challenge` (the `WWW-Authenticate`
//! header of whatever answers on the Arc endpoint) and `check_location` of
//! the path it names.
#![no_main]

#[path = "proto_common.rs"]
mod common;

use entra_cred_core::sources::managed_identity::arc::{check_location, parse_challenge};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

const DIR: &str = "/var/opt/azcmagent/tokens";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(path) = parse_challenge(&text) {
        // A path, never empty, never with a control character, never longer than 4 KiB.
        assert!(!path.is_empty() && path.len() <= 4096, "{path:?}");
        common::assert_one_line("challenge path", &path);
        assert!(text.contains(path.as_str()));
        match check_location(Path::new(&path), Path::new(DIR)) {
            Ok(()) => {
                // Accepted only directly in the directory, named *.key, without `..`.
                let name = path
                    .strip_prefix(DIR)
                    .and_then(|r| r.strip_prefix('/'))
                    .unwrap_or_else(|| panic!("accepted outside {DIR}: {path:?}"));
                assert!(!name.contains('/') && name.ends_with(".key") && name != ".key");
                assert!(!path.contains("/../") && !path.contains("/./"), "{path:?}");
            }
            Err(m) => common::assert_one_line("refusal", &m),
        }
    }
    // Any text as a path: never accepted outside the directory. (`..key` is a file named
    // `..key` in it, not a way out: only a `.` or `..` component is one.)
    if check_location(Path::new(text.as_ref()), Path::new(DIR)).is_ok() {
        let name = text
            .strip_prefix("/var/opt/azcmagent/tokens/")
            .unwrap_or_else(|| panic!("accepted outside {DIR}: {text:?}"));
        assert!(
            !name.contains('/') && name != "." && name != "..",
            "{text:?}"
        );
    }
});
