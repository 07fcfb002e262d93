//! What every entra-cred binary does the same way: one-line errors with the
//! exit codes of [`crate::Error`], no panic output beyond one line, clap
//! usage errors folded to one line (exit 2), stdout writes that never
//! panic on a closed pipe, the environment checked for variables that are not
//! text (exit 2, [`crate::variables`]), and SIGXFSZ ignored so that a full
//! file-size limit is an error line, not a silent death.

use crate::error::{one_line, Error, Result};
use std::io::Write;
use std::process::ExitCode;

/// Runs a binary's body: prints `bin: <error>` on one stderr line and exits
/// with the error's code. A panic (a bug) also prints one line and exits 1.
pub fn run(bin: &'static str, body: impl FnOnce() -> Result<()>) -> ExitCode {
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        eprintln!(
            "{bin}: internal error: {} (please report this)",
            one_line(&msg)
        );
        std::process::exit(1);
    }));
    ignore_file_size_signal();
    // Variables named by SPEC.md that are not text: exit 2 before anything reads them.
    match crate::variables::check().and_then(|()| body()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{bin}: {}", one_line(&e.to_string()));
            ExitCode::from(e.exit_code())
        }
    }
}

/// Ignores SIGXFSZ, so that a file-size limit (`ulimit -f`) makes a write fail
/// with an error line (EFBIG) instead of killing the process without a word.
pub fn ignore_file_size_signal() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler
    // code; it is async-signal-safe and affects only this process.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// Parses the command line with clap. `--help` and `--version` print and exit
/// 0; a usage error prints its first line and a pointer to `--help`, exit 2.
pub fn parse<T: clap::Parser>(bin: &str) -> T {
    parse_with(bin, T::command())
}

/// [`parse`] with a command built by the caller (e.g. with some flags hidden).
pub fn parse_with<T: clap::FromArgMatches>(bin: &str, cmd: clap::Command) -> T {
    match cmd.try_get_matches().and_then(|m| T::from_arg_matches(&m)) {
        Ok(v) => v,
        Err(e) => {
            use clap::error::ErrorKind;
            match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let _ = e.print();
                    std::process::exit(
                        if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                            2
                        } else {
                            0
                        },
                    );
                }
                _ => {
                    let text = e.render().to_string();
                    // clap's message may run over several lines ("...not provided:\n  --scope");
                    // keep everything before the usage block, on one line.
                    let body: Vec<&str> = text
                        .lines()
                        .take_while(|l| {
                            !l.starts_with("Usage:") && !l.starts_with("For more information")
                        })
                        .map(str::trim)
                        .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
                        .collect();
                    let msg = body.join(" ");
                    let msg = msg.trim_start_matches("error: ");
                    let msg = if msg.is_empty() {
                        "invalid arguments"
                    } else {
                        msg
                    };
                    eprintln!("{bin}: {} (see `{bin} --help`)", one_line(msg));
                    std::process::exit(2);
                }
            }
        }
    }
}

/// Writes to stdout and flushes; a closed pipe is an error, not a panic.
pub fn print(s: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| Error::Other(format!("cannot write to stdout: {e}")))
}

/// Reads all of stdin (at most `limit` bytes) as UTF-8.
pub fn read_stdin(limit: u64) -> Result<String> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::io::stdin()
        .lock()
        .take(limit)
        .read_to_end(&mut buf)
        .map_err(|e| Error::Input(format!("cannot read stdin: {e}")))?;
    String::from_utf8(buf).map_err(|_| Error::Input("stdin is not UTF-8 text".into()))
}
