//! Placeholder tokens for the browser.
//!
//! The official client only accepts a sign-in with an access token, a refresh
//! token and `expires_in`. The browser gets a JWT-shaped access token with
//! the user's claims, signed with a key only this proxy holds (worthless
//! against Supabase), and an opaque refresh token that the proxy ignores.

use crate::env::{RandomSource, UnixSeconds, random_array};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Map, Value};

/// Lifetime of a placeholder access token, seconds. The browser asks the
/// proxy for a new one (a local refresh grant) shortly before it ends.
pub const PLACEHOLDER_TTL: i64 = 3600;

/// The proxy's own signing key for placeholders.
pub struct PlaceholderKey(EncodingKey);

impl PlaceholderKey {
    pub fn generate(rng: &dyn RandomSource) -> Self {
        Self(EncodingKey::from_secret(&random_array::<32>(rng)))
    }

    /// A placeholder access token with `claims` (Auth's, copied) and a fresh
    /// `iat`/`exp`; returns the token and its `exp`.
    pub fn sign(&self, claims: &Map<String, Value>, now: UnixSeconds) -> (String, UnixSeconds) {
        let exp = now + PLACEHOLDER_TTL;
        let mut claims = claims.clone();
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), exp.into());
        let token = encode(&Header::default(), &claims, &self.0).unwrap_or_default();
        (token, exp)
    }
}

/// An opaque refresh token for the browser; it grants nothing.
pub fn placeholder_refresh_token(rng: &dyn RandomSource) -> String {
    URL_SAFE_NO_PAD.encode(random_array::<16>(rng))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::read_claims;

    struct Fixed(u8);
    impl RandomSource for Fixed {
        fn fill(&self, buf: &mut [u8]) {
            buf.fill(self.0);
        }
    }

    #[test]
    fn placeholder_keeps_claims_and_sets_lifetime() {
        let mut claims = Map::new();
        claims.insert("sub".into(), "u1".into());
        claims.insert("exp".into(), 1.into());
        claims.insert("email".into(), "a@example.com".into());
        let key = PlaceholderKey::generate(&Fixed(7));
        let (token, exp) = key.sign(&claims, 1000);
        assert_eq!(exp, 1000 + PLACEHOLDER_TTL);
        let read = read_claims(&token).unwrap();
        assert_eq!(read.sub, "u1");
        assert_eq!((read.iat, read.exp), (1000, exp));
        assert_eq!(read.all["email"], "a@example.com");
        let other = PlaceholderKey::generate(&Fixed(8)).sign(&claims, 1000).0;
        assert_ne!(token, other, "signature depends on the proxy's key");
    }

    #[test]
    fn refresh_placeholder_is_opaque() {
        let t = placeholder_refresh_token(&Fixed(1));
        assert_eq!(t.len(), 22);
        assert!(read_claims(&t).is_none());
    }
}
