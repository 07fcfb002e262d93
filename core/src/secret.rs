//! [`Secret`]: a value that must never be printed.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A secret value (access token, refresh token, client secret, ACR or AWS key).
///
/// `Debug` prints `REDACTED`; there is deliberately no `Display`, so a secret
/// cannot end up in a `format!` by accident. Read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The secret itself. Call it only where the value leaves for its one
    /// legitimate destination (an HTTP body, a protocol answer, the cache).
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Secret(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("REDACTED")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new("eyJhbGciOi.secret".to_string());
        assert_eq!(format!("{s:?}"), "REDACTED");
        assert_eq!(format!("{:?}", Some(&s)), "Some(REDACTED)");
        assert_eq!(s.expose(), "eyJhbGciOi.secret");
    }

    #[test]
    fn serde_is_transparent() {
        let s = Secret::new("abc".to_string());
        assert_eq!(serde_json::to_string(&s).expect("json"), "\"abc\"");
    }
}
