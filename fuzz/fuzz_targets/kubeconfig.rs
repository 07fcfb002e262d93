//! `kubeconfig::convert` on arbitrary YAML: never panics; errors are exit 2
//! and one line; a converted file converts to "nothing to change"; the new
//! text is a kubeconfig whose converted users run kubectl-entra. Input: the
//! YAML, then after a NUL optional `context` and `profile` lines.
#![no_main]

#[path = "proto_common.rs"]
mod common;

use entra_cred_core::kubeconfig::{convert, parse, Options, COMMAND};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (yaml, rest) = common::split_nul(&text);
    let mut it = rest.lines();
    let pick = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_string);
    let opts = Options {
        context: pick(it.next()),
        profile: pick(it.next()),
    };
    for o in [Options::default(), opts] {
        match convert(yaml, &o) {
            Ok(out) => {
                let Some(new) = out.text else {
                    assert!(out.changes.is_empty());
                    continue;
                };
                assert!(!out.changes.is_empty());
                let again = convert(&new, &o)
                    .unwrap_or_else(|e| panic!("converted output does not convert: {e}\n{new}"));
                assert!(
                    again.changes.is_empty(),
                    "second conversion changed {:?}\n{new}",
                    again.changes
                );
                assert_eq!(again.text, None);
                for c in &out.changes {
                    assert!(
                        again.already.contains(&c.user),
                        "{} not kubectl-entra after: {new}",
                        c.user
                    );
                }
                let doc = parse(&new).expect("output parses");
                assert!(doc["users"].as_vec().is_some());
                assert!(new.contains(COMMAND));
            }
            Err(e) => {
                common::assert_error(&e);
                assert_eq!(e.exit_code(), 2, "{e}");
            }
        }
    }
});
