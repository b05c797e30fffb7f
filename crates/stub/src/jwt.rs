//! HS256 signing and verification with the project's JWT secret (and
//! verification of ES256/RS256 tokens by trusted public keys, by `kid`),
//! with the clock-skew rules of each service (PostgREST 30 s, Storage and
//! Auth none).

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
    /// Trusted public keys by `kid`.
    trusted: Vec<(String, DecodingKey)>,
    jwks: Value,
}

impl Keys {
    /// The secret plus public keys accepted by their `kid`.
    pub fn with_trusted(
        secret: &str,
        jwks: &[jsonwebtoken::jwk::Jwk],
    ) -> Result<Self, jsonwebtoken::errors::Error> {
        let mut trusted = Vec::new();
        for jwk in jwks {
            let kid = jwk.common.key_id.clone().unwrap_or_default();
            trusted.push((kid, DecodingKey::from_jwk(jwk)?));
        }
        Ok(Keys {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            trusted,
            jwks: serde_json::json!({"keys": jwks}),
        })
    }

    /// The trusted public keys as a JWK set.
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    /// The key and algorithm a token claims to be signed with.
    fn key_for(&self, token: &str) -> Result<(&DecodingKey, Algorithm), JwtError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| JwtError::Invalid(format!("malformed JWT: {e}")))?;
        match header.alg {
            Algorithm::HS256 => Ok((&self.decoding, Algorithm::HS256)),
            alg @ (Algorithm::ES256 | Algorithm::RS256) => self
                .trusted
                .iter()
                .find(|(kid, _)| header.kid.as_deref() == Some(kid.as_str()))
                .map(|(_, key)| (key, alg))
                .ok_or_else(|| JwtError::Invalid("unknown signing key".to_owned())),
            other => Err(JwtError::Invalid(format!(
                "algorithm {other:?} not accepted"
            ))),
        }
    }

    /// Signs claims as an HS256 JWT.
    pub fn sign(&self, claims: &Value) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    /// Verifies signature, `exp`, `nbf` and `iat` (each with `leeway` seconds); returns the claims.
    pub fn verify(&self, token: &str, leeway: u64) -> Result<Map<String, Value>, JwtError> {
        let (key, algorithm) = self.key_for(token)?;
        let mut validation = Validation::new(algorithm);
        validation.leeway = leeway;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature => JwtError::Expired,
                ErrorKind::InvalidSignature => JwtError::Invalid("invalid signature".to_owned()),
                ErrorKind::ImmatureSignature => JwtError::Invalid("JWT not yet valid".to_owned()),
                _ => JwtError::Invalid(format!("malformed JWT: {e}")),
            },
        )?;
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
        let keys = Keys::with_trusted("secret-secret-secret-secret-secret", &[]).unwrap();
        let token = keys.sign(&json!({"exp": unix_now() - 10})).expect("sign");
        assert_eq!(keys.verify(&token, 0), Err(JwtError::Expired));
        assert!(keys.verify(&token, 30).is_ok());
    }

    #[test]
    fn verify_rejects_other_secret_and_garbage() {
        let keys = Keys::with_trusted("secret-secret-secret-secret-secret", &[]).unwrap();
        let other = Keys::with_trusted("another-secret-another-secret-xx", &[]).unwrap();
        let token = other.sign(&json!({"exp": unix_now() + 60})).expect("sign");
        assert!(matches!(keys.verify(&token, 0), Err(JwtError::Invalid(_))));
        assert!(matches!(
            keys.verify("not.a.jwt", 0),
            Err(JwtError::Invalid(_))
        ));
    }

    #[test]
    fn verify_rejects_iat_in_the_future_beyond_leeway() {
        let keys = Keys::with_trusted("secret-secret-secret-secret-secret", &[]).unwrap();
        let token = keys.sign(&json!({"iat": unix_now() + 20})).expect("sign");
        assert!(keys.verify(&token, 30).is_ok());
        assert!(matches!(keys.verify(&token, 0), Err(JwtError::Invalid(_))));
    }
}
