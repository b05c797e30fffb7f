//! The 256-bit session secret carried by the cookie, and the store key derived from it.
//!
//! The store is keyed by SHA-256 of the secret, so a dump of the store does
//! not contain anything a browser could present.

use crate::env::{RandomSource, random_array};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use std::fmt;

/// The secret a browser holds in its cookie.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionSecret([u8; 32]);

impl SessionSecret {
    pub fn generate(rng: &dyn RandomSource) -> Self {
        Self(random_array(rng))
    }

    /// Parses a cookie value; anything but 43 base64url characters that
    /// decode to 32 bytes is `None`.
    pub fn from_cookie_value(value: &str) -> Option<Self> {
        if value.len() != 43 {
            return None;
        }
        // 43 characters decode to 32 bytes; the spare byte makes room for
        // the decoder's estimate.
        let mut bytes = [0u8; 33];
        let written = URL_SAFE_NO_PAD.decode_slice(value, &mut bytes).ok()?;
        let secret: [u8; 32] = bytes[..written].try_into().ok()?;
        Some(Self(secret))
    }

    pub fn cookie_value(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// The key under which this secret's session is stored.
    pub fn key(&self) -> SessionKey {
        SessionKey(URL_SAFE_NO_PAD.encode(Sha256::digest(self.0)))
    }
}

impl fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionSecret(..)")
    }
}

/// The store key of a session: base64url of SHA-256 of its secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey(String);

impl SessionKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Rebuilds a key read back from a store.
    pub fn from_stored(text: &str) -> Self {
        Self(text.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter;
    impl RandomSource for Counter {
        fn fill(&self, buf: &mut [u8]) {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = i as u8;
            }
        }
    }

    #[test]
    fn cookie_value_round_trips_and_key_differs() {
        let secret = SessionSecret::generate(&Counter);
        let value = secret.cookie_value();
        assert_eq!(value.len(), 43);
        assert_eq!(
            SessionSecret::from_cookie_value(&value),
            Some(secret.clone())
        );
        assert_ne!(secret.key().as_str(), value);
        assert_eq!(secret.key().as_str().len(), 43);
    }

    #[test]
    fn malformed_values_are_rejected() {
        let good = SessionSecret::generate(&Counter).cookie_value();
        let truncated = &good[..42];
        let tampered = format!("{}*", &good[..42]);
        let padded = format!("{good}=");
        for bad in ["", "abc", truncated, &tampered, &padded, &"A".repeat(44)] {
            assert_eq!(SessionSecret::from_cookie_value(bad), None, "{bad}");
        }
    }
}
