//! HS256 signing and verification with the project's JWT secret, with the
//! clock-skew rules of each service (PostgREST 30 s, Storage and Auth none).

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value};

use crate::clock::unix_now;

/// Why a bearer token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JwtError {
    /// Signature fine, but `exp` is past.
    Expired,
    /// Malformed, wrongly signed, not yet valid or issued in the future.
    Invalid(String),
}

/// The project's signing key.
pub(crate) struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl Keys {
    pub fn new(secret: &str) -> Self {
        Keys {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
        }
    }

    /// Signs claims as an HS256 JWT.
    pub fn sign(&self, claims: &Value) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    /// Verifies signature, `exp`, `nbf` and `iat` (each with `leeway` seconds); returns the claims.
    pub fn verify(&self, token: &str, leeway: u64) -> Result<Map<String, Value>, JwtError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = leeway;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &self.decoding, &validation)
            .map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => JwtError::Expired,
            ErrorKind::InvalidSignature => JwtError::Invalid("invalid signature".to_owned()),
            ErrorKind::ImmatureSignature => JwtError::Invalid("JWT not yet valid".to_owned()),
            _ => JwtError::Invalid(format!("malformed JWT: {e}")),
        })?;
        let issued_in_future = data
            .claims
            .get("iat")
            .and_then(Value::as_u64)
            .is_some_and(|iat| iat > unix_now() + leeway);
        if issued_in_future {
            return Err(JwtError::Invalid("JWT issued at future".to_owned()));
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn verify_applies_leeway_to_exp() {
        let keys = Keys::new("secret-secret-secret-secret-secret");
        let token = keys.sign(&json!({"exp": unix_now() - 10})).expect("sign");
        assert_eq!(keys.verify(&token, 0), Err(JwtError::Expired));
        assert!(keys.verify(&token, 30).is_ok());
    }

    #[test]
    fn verify_rejects_other_secret_and_garbage() {
        let keys = Keys::new("secret-secret-secret-secret-secret");
        let other = Keys::new("another-secret-another-secret-xx");
        let token = other.sign(&json!({"exp": unix_now() + 60})).expect("sign");
        assert!(matches!(keys.verify(&token, 0), Err(JwtError::Invalid(_))));
        assert!(matches!(
            keys.verify("not.a.jwt", 0),
            Err(JwtError::Invalid(_))
        ));
    }

    #[test]
    fn verify_rejects_iat_in_the_future_beyond_leeway() {
        let keys = Keys::new("secret-secret-secret-secret-secret");
        let token = keys.sign(&json!({"iat": unix_now() + 20})).expect("sign");
        assert!(keys.verify(&token, 30).is_ok());
        assert!(matches!(keys.verify(&token, 0), Err(JwtError::Invalid(_))));
    }
}
