//! Invariants shared by the fuzz targets.
#![allow(dead_code)]

/// Text shown to people on one stderr line: no control characters at all
/// (no newline, no escape sequence from a server), no surrounding blanks.
pub fn assert_one_line(what: &str, s: &str) {
    assert!(
        !s.chars().any(char::is_control),
        "{what} has a control character: {s:?}"
    );
    assert_eq!(s, s.trim(), "{what} is not trimmed: {s:?}");
}

/// An error message as a binary prints it (`one_line` is applied again by
/// `cli::run`, but the message itself must already be a single line).
pub fn assert_message(e: &entra_cred_core::Error) {
    let m = e.to_string();
    assert!(
        !m.contains('\n') && !m.contains('\r'),
        "multi-line error: {m:?}"
    );
    assert!(
        (1..=5).contains(&e.exit_code()),
        "exit code {}",
        e.exit_code()
    );
}

/// A realistic "now" (the parsers take it as an argument).
pub const NOW: i64 = 1_795_000_000;
