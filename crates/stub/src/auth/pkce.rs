//! PKCE code challenges (RFC 7636): `s256` (base64url of SHA-256) and `plain`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::error::AuthError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    S256,
    Plain,
}

/// A code challenge a flow is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    value: String,
    method: Method,
}

impl Challenge {
    /// Reads `code_challenge` and `code_challenge_method` (default `s256`);
    /// `None` when no challenge was sent.
    pub fn parse(challenge: Option<&str>, method: Option<&str>) -> Result<Option<Self>, AuthError> {
        let Some(value) = challenge.filter(|c| !c.is_empty()) else {
            return Ok(None);
        };
        let method = match method.map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("s256") => Method::S256,
            Some("plain") => Method::Plain,
            Some(other) => {
                return Err(AuthError::validation(format!(
                    "code challenge method not supported: {other}"
                )));
            }
        };
        Ok(Some(Challenge {
            value: value.to_owned(),
            method,
        }))
    }

    /// GoTrue's `validatePKCEParams`, then [`Challenge::parse`]: both
    /// `code_challenge` and `code_challenge_method`, or neither; a
    /// challenge of 43 to 128 characters.
    pub fn validated(challenge: &str, method: &str) -> Result<Option<Self>, AuthError> {
        if challenge.is_empty() != method.is_empty() {
            return Err(AuthError::validation(
                "PKCE flow requires code_challenge_method and code_challenge",
            ));
        }
        if !challenge.is_empty() && !(43..=128).contains(&challenge.len()) {
            return Err(AuthError::validation(
                "code challenge has to be between 43 and 128 characters",
            ));
        }
        Self::parse(Some(challenge), Some(method))
    }

    /// Whether `verifier` answers this challenge.
    pub fn is_met_by(&self, verifier: &str) -> bool {
        match self.method {
            Method::S256 => {
                URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == self.value
            }
            Method::Plain => verifier == self.value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc7636_example() {
        let challenge = Challenge::parse(
            Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            Some("S256"),
        )
        .expect("valid")
        .expect("present");
        assert!(challenge.is_met_by("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert!(!challenge.is_met_by("wrong"));
    }

    #[test]
    fn plain_and_unknown_methods() {
        let plain = Challenge::parse(Some("abc"), Some("plain"))
            .expect("valid")
            .expect("present");
        assert!(plain.is_met_by("abc"));
        assert!(Challenge::parse(Some("abc"), Some("md5")).is_err());
        assert_eq!(Challenge::parse(None, Some("s256")), Ok(None));
    }
}
