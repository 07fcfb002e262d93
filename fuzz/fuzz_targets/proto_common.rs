//! Helpers shared by the protocol parsers' fuzz targets (phase 2; see
//! docs/proof-protocols.md).
#![allow(dead_code)]

// The shared pieces come from the first targets' helpers, so the two sets cannot drift apart.
#[path = "common.rs"]
mod base;
/// An error as a binary prints it: one line, a known exit code.
#[allow(unused_imports)]
pub use base::assert_message as assert_error;
/// A realistic "now" (the parsers take it as an argument).
#[allow(unused_imports)]
pub use base::NOW;

/// Text shown to people on one line: no control character (unlike `common::assert_one_line`,
/// surrounding blanks are allowed: protocol values are shown as they came).
pub fn assert_one_line(what: &str, s: &str) {
    assert!(
        !s.chars().any(char::is_control),
        "{what} has a control character: {s:?}"
    );
}

/// `secret` must not show in `shown` (a `Debug` rendering); secrets shorter
/// than 9 characters are too likely to occur by chance to judge.
pub fn assert_hidden(shown: &str, secret: &str) {
    if secret.len() >= 9 {
        assert!(!shown.contains(secret), "secret in Debug output: {shown}");
    }
}

/// Splits fuzz input at the first NUL: (head, tail); no NUL gives (all, "").
pub fn split_nul(s: &str) -> (&str, &str) {
    s.split_once('\0').unwrap_or((s, ""))
}

/// `KEY=VALUE` lines as an environment lookup.
pub fn env_from(lines: &str) -> impl Fn(&str) -> Option<String> + '_ {
    move |k: &str| {
        lines
            .lines()
            .filter_map(|l| l.split_once('='))
            .filter(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
            .next_back()
    }
}
