//! One line for an endpoint or a tool that said no (the CI OIDC endpoints, the
//! managed identity hosts, the Azure CLI): what answered, its status, its own
//! words cut to one short line, and a hint.

use crate::error::{one_line, Error};

/// Longest server message quoted in an error line.
pub const MAX_MESSAGE: usize = 200;

/// `text` as one line of at most [`MAX_MESSAGE`] characters (`…` marks a cut).
pub fn short(text: &str) -> String {
    let m = one_line(text);
    if m.chars().count() > MAX_MESSAGE {
        m.chars().take(MAX_MESSAGE).collect::<String>() + "…"
    } else {
        m
    }
}

/// `before`, `text`, `after`; nothing when `text` is empty (a detail that may be missing).
pub fn detail(before: &str, text: &str, after: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!("{before}{text}{after}")
    }
}

/// `<context> answered HTTP <status>[: <message>]<hint>`, the message [`short`].
pub fn refused(context: &str, status: u16, message: &str, hint: &str) -> Error {
    let m = short(message);
    Error::Other(format!(
        "{context} answered HTTP {status}{}{hint}",
        detail(": ", &m, "")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_short_line() {
        assert_eq!(short("a\nb"), one_line("a\nb"));
        let long = "x".repeat(300);
        let cut = short(&long);
        assert_eq!(cut.chars().count(), MAX_MESSAGE + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(short(&cut), cut);
        assert_eq!(detail(" (", "why", ")"), " (why)");
        assert_eq!(detail(" (", "", ")"), "");
        assert_eq!(
            refused("the host at u", 403, "no", " (hint)").to_string(),
            Error::Other("the host at u answered HTTP 403: no (hint)".into()).to_string()
        );
        assert_eq!(
            refused("the host at u", 500, "", "").to_string(),
            Error::Other("the host at u answered HTTP 500".into()).to_string()
        );
    }
}
