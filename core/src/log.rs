//! Diagnostics on stderr, controlled by `ENTRA_CRED_LOG`
//! (`error` (default), `warn`, `info`, `debug`).
//!
//! Messages are built from non-secret values only: [`crate::Secret`] has no
//! `Display`, so a token cannot be formatted into a log line by accident.

use std::sync::atomic::{AtomicU8, Ordering};

/// Verbosity levels, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Only errors (the default).
    Error = 0,
    /// Warnings too.
    Warn = 1,
    /// What entra-cred is doing.
    Info = 2,
    /// Everything, including each HTTP request (method, host, path, status).
    Debug = 3,
}

static LEVEL: AtomicU8 = AtomicU8::new(u8::MAX);

/// The level from `ENTRA_CRED_LOG`, read once.
pub fn level() -> Level {
    let v = LEVEL.load(Ordering::Relaxed);
    let v = if v == u8::MAX {
        let l = parse(std::env::var("ENTRA_CRED_LOG").ok().as_deref()) as u8;
        LEVEL.store(l, Ordering::Relaxed);
        l
    } else {
        v
    };
    match v {
        0 => Level::Error,
        1 => Level::Warn,
        2 => Level::Info,
        _ => Level::Debug,
    }
}

fn parse(v: Option<&str>) -> Level {
    match v.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        Some("debug") | Some("trace") => Level::Debug,
        Some("info") => Level::Info,
        Some("warn") | Some("warning") => Level::Warn,
        _ => Level::Error,
    }
}

/// Whether messages at `l` are shown.
pub fn enabled(l: Level) -> bool {
    l <= level()
}

/// Writes one diagnostic line (used by the macros).
pub fn write(l: Level, msg: std::fmt::Arguments<'_>) {
    if enabled(l) {
        let tag = match l {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        };
        eprintln!("entra-cred [{tag}] {msg}");
    }
}

/// Logs at debug level.
#[macro_export]
macro_rules! debug {
    ($($t:tt)*) => { $crate::log::write($crate::log::Level::Debug, format_args!($($t)*)) };
}

/// Logs at info level.
#[macro_export]
macro_rules! info {
    ($($t:tt)*) => { $crate::log::write($crate::log::Level::Info, format_args!($($t)*)) };
}

/// Logs at warn level.
#[macro_export]
macro_rules! warn {
    ($($t:tt)*) => { $crate::log::write($crate::log::Level::Warn, format_args!($($t)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_levels() {
        assert_eq!(parse(None), Level::Error);
        assert_eq!(parse(Some("DEBUG")), Level::Debug);
        assert_eq!(parse(Some("warn")), Level::Warn);
        assert_eq!(parse(Some("info")), Level::Info);
        assert_eq!(parse(Some("nonsense")), Level::Error);
    }
}
