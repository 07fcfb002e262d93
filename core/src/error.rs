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
//!
//! Where a caller decides something from an error, the error carries a typed
//! payload for it ([`Error::Registry`], [`Error::Sts`]) instead of text to
//! match: the message and the exit code are still made here, once.

use serde::{Deserialize, Serialize};
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
    /// A container registry refused to exchange an Entra token for its own
    /// (exit 1). The ACR exchange asks Entra for a new token once on a 401.
    Registry {
        /// The registry (`host[:port]`).
        registry: String,
        /// The HTTP status of its answer.
        status: u16,
        /// `CODE: message` from its answer, one short line, when it had one.
        detail: Option<String>,
    },
    /// AWS STS refused `AssumeRoleWithWebIdentity` (exit 1; 5 when STS could
    /// not reach Entra ID).
    Sts(StsRefusal),
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
            Error::Sts(r) if r.code == StsCode::IdpCommunication => 5,
            Error::Entra { .. }
            | Error::Input(_)
            | Error::Registry { .. }
            | Error::Sts(_)
            | Error::Other(_) => 1,
        }
    }

    /// For a failure of the network (exit 5: a service could not be reached,
    /// timed out, or kept failing), what failed: the message after
    /// `network error: `. Such a failure may heal, so a cached credential
    /// that is still valid serves meanwhile.
    pub fn network_cause(&self) -> Option<String> {
        match self {
            Error::Network(m) => Some(m.clone()),
            Error::Sts(r) if r.code == StsCode::IdpCommunication => Some(one_line(&r.to_string())),
            _ => None,
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
            Error::Registry {
                registry,
                status,
                detail,
            } => {
                write!(
                    f,
                    "registry {registry} refused the token exchange: HTTP {status}"
                )?;
                if let Some(d) = detail {
                    write!(f, ": {d}")?;
                }
                f.write_str(match status {
                    401 | 403 => "; check that the signed-in identity may pull from this registry (role AcrPull), or set acr_scope = \"arm\" in the profile for registries that only take Resource Manager tokens",
                    404 => "; is it an Azure Container Registry?",
                    _ => "",
                })
            }
            Error::Sts(r) if r.code == StsCode::IdpCommunication => {
                write!(f, "network error: {r}")
            }
            Error::Sts(r) => write!(f, "{r}"),
            Error::Other(m) => write!(f, "{m}"),
        }
    }
}

/// An AWS STS error code that entra-cred acts on or explains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StsCode {
    /// `InvalidIdentityToken`: STS does not trust the token's issuer or audience.
    InvalidIdentityToken,
    /// `ExpiredTokenException`: the web identity token has expired (asked
    /// again once with a newly fetched one).
    ExpiredToken,
    /// `IDPRejectedClaim`: a claim fails the role's trust policy.
    IdpRejectedClaim,
    /// `IDPCommunicationError`: STS could not reach Entra ID (retried; then
    /// a network failure, exit 5).
    IdpCommunication,
    /// `AccessDenied`: the role's trust policy does not allow the call.
    AccessDenied,
    /// Any other code, as STS sent it.
    Other(String),
}

impl StsCode {
    /// The code of an STS `<Code>` element.
    pub fn parse(code: &str) -> StsCode {
        match code {
            "InvalidIdentityToken" => StsCode::InvalidIdentityToken,
            "ExpiredTokenException" => StsCode::ExpiredToken,
            "IDPRejectedClaim" => StsCode::IdpRejectedClaim,
            "IDPCommunicationError" => StsCode::IdpCommunication,
            "AccessDenied" => StsCode::AccessDenied,
            other => StsCode::Other(other.to_string()),
        }
    }

    /// The code as STS spells it.
    pub fn as_str(&self) -> &str {
        match self {
            StsCode::InvalidIdentityToken => "InvalidIdentityToken",
            StsCode::ExpiredToken => "ExpiredTokenException",
            StsCode::IdpRejectedClaim => "IDPRejectedClaim",
            StsCode::IdpCommunication => "IDPCommunicationError",
            StsCode::AccessDenied => "AccessDenied",
            StsCode::Other(c) => c,
        }
    }
}

/// AWS STS's refusal of `AssumeRoleWithWebIdentity`, with what the message
/// needs to say what to check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StsRefusal {
    /// STS's `<Code>`.
    pub code: StsCode,
    /// STS's `<Message>` (may be empty).
    pub message: String,
    /// The role that was to be assumed.
    pub role_arn: String,
    /// Whether the web identity token was the user's ID token (whose audience
    /// is the profile's client id) rather than an access token for `--scope`.
    pub id_token: bool,
    /// How many times STS was asked.
    pub attempts: u32,
}

impl fmt::Display for StsRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code.as_str();
        let what = if self.message.is_empty() {
            code.to_string()
        } else {
            format!("{code}: {}", self.message)
        };
        let role = &self.role_arn;
        match self.code {
            StsCode::InvalidIdentityToken => {
                let audience = if self.id_token {
                    "the profile's client id (ID tokens are issued to it)"
                } else {
                    "the application of --scope"
                };
                write!(f, "STS rejected the Entra token ({what}): the IAM OIDC provider must trust this tenant's issuer and list {audience} as an audience")
            }
            StsCode::ExpiredToken => write!(f, "STS says the Entra token has expired although it was just fetched ({what}): check this machine's clock"),
            StsCode::IdpRejectedClaim => write!(f, "STS rejected a claim of the Entra token ({what}): check the conditions (aud, sub, amr) in the trust policy of {role}"),
            StsCode::IdpCommunication => write!(f, "STS could not reach Entra ID to verify the token ({what}) after {} attempts: try again later", self.attempts),
            StsCode::AccessDenied => write!(f, "not allowed to assume {role} ({what}): its trust policy must allow sts:AssumeRoleWithWebIdentity for this OIDC provider and token"),
            StsCode::Other(_) => write!(f, "STS refused AssumeRoleWithWebIdentity ({what})"),
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
