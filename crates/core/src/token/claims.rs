//! Reading the claims of an access token Auth issued, and the claims a
//! session's tokens are made from ([`session_claims`]).
//!
//! The proxy received the token from Auth over the connection it opened, so
//! it reads the claims without verifying the signature: it only needs `iat`,
//! `exp`, `sub` and `session_id`, and keeps the rest for the placeholder.

use crate::session::Session;
use jsonwebtoken::dangerous::insecure_decode;
use serde_json::{Map, Value};

/// The claims of an upstream access token.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessClaims {
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    pub session_id: Option<String>,
    /// Every claim, as issued.
    pub all: Map<String, Value>,
}

/// Reads the claims of a JWT; `None` when it is not a JWT with `sub` and `exp`.
pub fn read_claims(token: &str) -> Option<AccessClaims> {
    let data = insecure_decode::<Map<String, Value>>(token).ok()?;
    let all = data.claims;
    let sub = all.get("sub")?.as_str()?.to_string();
    let exp = all.get("exp")?.as_i64()?;
    let iat = all
        .get("iat")
        .and_then(Value::as_i64)
        .unwrap_or(exp.saturating_sub(3600));
    let session_id = all
        .get("session_id")
        .and_then(Value::as_str)
        .map(str::to_string);
    Some(AccessClaims {
        sub,
        iat,
        exp,
        session_id,
        all,
    })
}

/// The claims a session's new tokens carry (a minted upstream token, the
/// browser's placeholder): those of its current upstream token (Auth's own
/// for a session made in refresh mode, or a minted one), or only its user
/// as `sub` when that token cannot be read.
pub fn session_claims(session: &Session) -> Map<String, Value> {
    read_claims(&session.tokens.access_token).map_or_else(
        || Map::from_iter([("sub".to_string(), Value::from(session.user_id.clone()))]),
        |c| c.all,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};

    #[test]
    fn reads_claims_without_the_key() {
        let token = encode(
            &Header::default(),
            &serde_json::json!({"sub": "u1", "iat": 10, "exp": 3610, "session_id": "s1", "role": "authenticated"}),
            &EncodingKey::from_secret(b"someone else's secret"),
        )
        .unwrap();
        let claims = read_claims(&token).unwrap();
        assert_eq!(claims.sub, "u1");
        assert_eq!((claims.iat, claims.exp), (10, 3610));
        assert_eq!(claims.session_id.as_deref(), Some("s1"));
        assert_eq!(claims.all["role"], "authenticated");
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        // Found by fuzzing (fuzz/ token_claims): `exp - 3600` overflowed.
        let token = encode(
            &Header::default(),
            &serde_json::json!({"sub": "u1", "exp": i64::MIN}),
            &EncodingKey::from_secret(b"k"),
        )
        .unwrap();
        let claims = read_claims(&token).unwrap();
        assert_eq!((claims.iat, claims.exp), (i64::MIN, i64::MIN));
    }

    #[test]
    fn a_session_is_minted_from_its_tokens_claims_or_else_its_user() {
        let mut session = crate::session::tests_support::sample(0);
        let token = encode(
            &Header::default(),
            &serde_json::json!({"sub": "u1", "exp": 3600, "role": "authenticated", "aal": "aal2"}),
            &EncodingKey::from_secret(b"k"),
        )
        .unwrap();
        session.tokens.access_token = token;
        let claims = session_claims(&session);
        assert_eq!(claims["role"], "authenticated");
        assert_eq!(claims["aal"], "aal2");
        assert_eq!(claims["sub"], "u1");

        session.tokens.access_token = "opaque".into();
        let claims = session_claims(&session);
        assert_eq!(claims.len(), 1, "{claims:?}");
        assert_eq!(claims["sub"], "user-1");
    }

    #[test]
    fn rejects_non_jwts() {
        for bad in ["", "abc", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.x"] {
            assert!(read_claims(bad).is_none(), "{bad}");
        }
    }
}
