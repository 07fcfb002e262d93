//! The one error type of entra-cred and its mapping to exit codes.
//!
//! Every binary ends with [`Error::exit_code`] and prints `Display` (one line)
//! on stderr. The codes are the contract of SPEC.md:
//!
//! | code | meaning |
//! |---|---|
//! | 1 | general error |
//! | 2 | profile not found or configuration invalid |
//! | 3 | no usable login: interaction needed but not possible here |
//! | 4 | refresh token expired or revoked (`invalid_grant`): sign in again |
//! | 5 | network error: unreachable, timed out, or failing after retries |

use std::fmt;

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error answer from Entra ID (`{"error": ..., "error_description": ..., "error_codes": [...]}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraError {
    /// The OAuth error, e.g. `invalid_grant`.
    pub error: String,
    /// The first `AADSTS` code, from `error_codes` or the description.
    pub code: Option<u32>,
    /// The description's first sentence, without trace and correlation ids.
    pub description: String,
    /// The HTTP status of the answer.
    pub status: u16,
}

impl EntraError {
    /// `AADSTS<code>` when there is a code.
    pub fn aadsts(&self) -> Option<String> {
        self.code.map(|c| format!("AADSTS{c}"))
    }
}

impl fmt::Display for EntraError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)?;
        if !self.description.is_empty() {
            // The description usually starts with "AADSTS12345: ".
            write!(f, ": {}", self.description)?;
        } else if let Some(a) = self.aadsts() {
            write!(f, " ({a})")?;
        }
        Ok(())
    }
}

/// Every failure entra-cred can report. `Display` is a single line that says
/// what failed and what to do; it never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The configuration is invalid (exit 2).
    Config(String),
    /// A profile was named but does not exist (exit 2).
    ProfileNotFound(String),
    /// A person would have to sign in, and cannot here (exit 3).
    InteractionRequired(String),
    /// The refresh token (or sign-in) expired or was revoked (exit 4).
    LoginExpired {
        /// What was being done.
        context: String,
        /// Entra's answer.
        entra: EntraError,
    },
    /// A service could not be reached, timed out, or kept failing (exit 5).
    Network(String),
    /// Entra ID (or another service) refused the request (exit 1).
    Entra {
        /// What was being done.
        context: String,
        /// Entra's answer.
        entra: EntraError,
    },
    /// Input from the calling program could not be understood (exit 1).
    Input(String),
    /// Anything else (exit 1).
    Other(String),
}

impl Error {
    /// The process exit code of SPEC.md for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::ProfileNotFound(_) => 2,
            Error::InteractionRequired(_) => 3,
            Error::LoginExpired { .. } => 4,
            Error::Network(_) => 5,
            Error::Entra { .. } | Error::Input(_) | Error::Other(_) => 1,
        }
    }

    /// An Entra error answer, classified: `invalid_grant` (and the sign-in
    /// errors that mean the same) becomes [`Error::LoginExpired`].
    pub fn from_entra(context: impl Into<String>, entra: EntraError) -> Error {
        let context = context.into();
        let expired = entra.error == "invalid_grant"
            || entra.error == "interaction_required"
            || entra.error == "consent_required"
            || entra.error == "login_required";
        if expired {
            Error::LoginExpired { context, entra }
        } else {
            Error::Entra { context, entra }
        }
    }

    /// An I/O failure on a file, with the path in the message.
    pub fn io(what: &str, path: &std::path::Path, err: &std::io::Error) -> Error {
        Error::Other(format!("{what} {}: {err}", path.display()))
    }

    /// The `AADSTS` code when the error came from Entra.
    pub fn aadsts(&self) -> Option<String> {
        match self {
            Error::LoginExpired { entra, .. } | Error::Entra { entra, .. } => entra.aadsts(),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Parts come from outside (a profile name from ENTRA_CRED_PROFILE, a path, a
        // server's text): fold the whole message so it is always one line.
        f.write_str(&one_line(&self.unfolded()))
    }
}

impl Error {
    /// The message before folding into one line.
    fn unfolded(&self) -> String {
        let mut s = String::new();
        let _ = self.write_unfolded(&mut s);
        s
    }

    fn write_unfolded(&self, f: &mut impl fmt::Write) -> fmt::Result {
        match self {
            Error::Config(m) => write!(f, "configuration error: {m}"),
            Error::ProfileNotFound(p) => write!(
                f,
                "profile '{p}' not found in the configuration file (add a [profiles.{p}] table, or run `entra-cred status` to list profiles)"
            ),
            Error::InteractionRequired(m) => write!(f, "{m}"),
            Error::LoginExpired { context, entra } => write!(
                f,
                "{context}: {entra}; the sign-in has expired or was revoked: sign in again with `entra-cred login`"
            ),
            Error::Network(m) => write!(f, "network error: {m}"),
            Error::Entra { context, entra } => write!(f, "{context}: {entra}"),
            Error::Input(m) => write!(f, "invalid input: {m}"),
            Error::Other(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for Error {}

/// One line of text: newlines and control characters from servers are folded
/// into spaces so a message stays on one stderr line.
pub fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut last_space = false;
    for c in s.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if c == ' ' {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entra(error: &str) -> EntraError {
        EntraError {
            error: error.into(),
            code: Some(70008),
            description: "AADSTS70008: expired".into(),
            status: 400,
        }
    }

    #[test]
    fn exit_codes() {
        assert_eq!(Error::Config("x".into()).exit_code(), 2);
        assert_eq!(Error::ProfileNotFound("x".into()).exit_code(), 2);
        assert_eq!(Error::InteractionRequired("x".into()).exit_code(), 3);
        assert_eq!(
            Error::from_entra("c", entra("invalid_grant")).exit_code(),
            4
        );
        assert_eq!(
            Error::from_entra("c", entra("invalid_client")).exit_code(),
            1
        );
        assert_eq!(Error::Network("x".into()).exit_code(), 5);
        assert_eq!(Error::Other("x".into()).exit_code(), 1);
    }

    #[test]
    fn messages_are_one_line_and_name_aadsts() {
        let e = Error::from_entra("refreshing the token", entra("invalid_grant"));
        let m = e.to_string();
        assert!(!m.contains('\n'));
        assert!(m.contains("AADSTS70008"));
        assert!(m.contains("entra-cred login"));
        assert_eq!(e.aadsts().as_deref(), Some("AADSTS70008"));
    }

    #[test]
    fn outside_text_in_messages_stays_on_one_line() {
        // Found by fuzzing (fuzz/corpus/config/crash-profile-name-with-cr): a profile name
        // with control characters, from ENTRA_CRED_PROFILE or -p, made a two-line error.
        let e = Error::ProfileNotFound("n\r\0\0\0ope".into());
        let m = e.to_string();
        assert!(!m.chars().any(char::is_control), "{m:?}");
        assert!(m.contains("profile 'n ope' not found"), "{m}");
        let e = Error::io(
            "cannot write",
            std::path::Path::new("/tmp/a\nb"),
            &std::io::Error::other("x"),
        );
        assert!(!e.to_string().contains('\n'));
        let e = Error::Config("line 1\nline 2".into());
        assert_eq!(e.to_string(), "configuration error: line 1 line 2");
    }

    #[test]
    fn one_line_folds_controls() {
        assert_eq!(one_line("a\r\n b\tc\u{1b}[0m"), "a b c [0m");
    }
}
