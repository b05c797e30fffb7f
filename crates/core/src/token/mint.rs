//! Mint mode: the proxy signs short-lived upstream tokens itself, with
//! exactly the claims Auth put in the session's access token and a fresh
//! `iat`/`exp`, using the project's JWT secret (HS256) or an asymmetric
//! signing key imported into the project (ES256 or RS256, with its `kid`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Map, Value, json};
use std::fmt;

/// The key minted tokens are signed with.
pub struct MintKey {
    key: EncodingKey,
    algorithm: Algorithm,
    kid: Option<String>,
    /// The public half, served as a JWK set (asymmetric keys only).
    public: Option<Jwk>,
}

impl fmt::Debug for MintKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MintKey")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn b64(field: &Value, name: &str) -> Result<Vec<u8>, String> {
    let text = field
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("the JWK has no `{name}`"))?;
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| format!("the JWK's `{name}` is not base64url"))
}

/// A private JWK (EC P-256 or RSA) as a signing key, with its `kid`.
fn from_jwk(text: &str) -> Result<(EncodingKey, Algorithm, Option<String>), String> {
    let jwk: Value = serde_json::from_str(text).map_err(|e| format!("not a JWK: {e}"))?;
    let kid = jwk.get("kid").and_then(Value::as_str).map(str::to_string);
    match jwk.get("kty").and_then(Value::as_str) {
        Some("EC") => {
            use p256::pkcs8::EncodePrivateKey;
            if jwk.get("crv").and_then(Value::as_str) != Some("P-256") {
                return Err("only EC keys on P-256 (ES256) are supported".into());
            }
            let secret = p256::SecretKey::from_slice(&b64(&jwk, "d")?)
                .map_err(|_| "the JWK's `d` is not a P-256 private key".to_string())?;
            let der = secret.to_pkcs8_der().map_err(|e| e.to_string())?;
            Ok((
                EncodingKey::from_ec_der(der.as_bytes()),
                Algorithm::ES256,
                kid,
            ))
        }
        Some("RSA") => {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            let int = |name| b64(&jwk, name).map(|b| rsa::BigUint::from_bytes_be(&b));
            let key = rsa::RsaPrivateKey::from_components(
                int("n")?,
                int("e")?,
                int("d")?,
                vec![int("p")?, int("q")?],
            )
            .map_err(|e| format!("not a valid RSA private key: {e}"))?;
            let der = key.to_pkcs1_der().map_err(|e| e.to_string())?;
            Ok((
                EncodingKey::from_rsa_der(der.as_bytes()),
                Algorithm::RS256,
                kid,
            ))
        }
        _ => Err("the JWK must be an EC (P-256) or RSA private key".into()),
    }
}

/// A PEM private key (PKCS#8 EC P-256, or RSA).
fn from_pem(text: &str) -> Result<(EncodingKey, Algorithm, Option<String>), String> {
    if let Ok(key) = EncodingKey::from_ec_pem(text.as_bytes()) {
        return Ok((key, Algorithm::ES256, None));
    }
    if let Ok(key) = EncodingKey::from_rsa_pem(text.as_bytes()) {
        return Ok((key, Algorithm::RS256, None));
    }
    Err("not a PEM private key (PKCS#8 EC P-256, or RSA)".into())
}

impl MintKey {
    /// HS256 with the project's (legacy) JWT secret.
    pub fn from_secret(secret: &str) -> Result<MintKey, String> {
        if secret.len() < 32 {
            return Err("must be the project's JWT secret (at least 32 characters)".into());
        }
        MintKey {
            key: EncodingKey::from_secret(secret.as_bytes()),
            algorithm: Algorithm::HS256,
            kid: None,
            public: None,
        }
        .checked()
    }

    /// An asymmetric private key, as a JWK or PEM. The `kid` is, in order:
    /// `kid` if given, the JWK's own, or the key's RFC 7638 thumbprint.
    pub fn from_private_key(text: &str, kid: Option<&str>) -> Result<MintKey, String> {
        let text = text.trim();
        let (key, algorithm, own_kid) = if text.starts_with('{') {
            from_jwk(text)?
        } else {
            from_pem(text)?
        };
        let mut public =
            Jwk::from_encoding_key(&key, algorithm).map_err(|e| format!("unusable key: {e}"))?;
        let kid = kid
            .map(str::to_string)
            .or(own_kid)
            .unwrap_or_else(|| public.thumbprint(ThumbprintHash::SHA256));
        public.common.key_id = Some(kid.clone());
        public.common.public_key_use = Some(PublicKeyUse::Signature);
        MintKey {
            key,
            algorithm,
            kid: Some(kid),
            public: Some(public),
        }
        .checked()
    }

    /// Fails unless the key can actually sign.
    fn checked(self) -> Result<MintKey, String> {
        self.mint(&Map::new(), 0, 1)
            .map(|_| self)
            .map_err(|e| format!("the key cannot sign: {e}"))
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The setting the key came from: `SUPABASE_JWT_SECRET` (HS256) or
    /// `PROXY_JWT_PRIVATE_KEY` (an asymmetric key).
    pub fn setting(&self) -> &'static str {
        match self.public {
            None => "SUPABASE_JWT_SECRET",
            Some(_) => "PROXY_JWT_PRIVATE_KEY",
        }
    }

    /// A token with `claims` and `iat` = `now`, `exp` = `now + ttl`; returns
    /// the token and its `iat` and `exp`.
    pub fn mint(
        &self,
        claims: &Map<String, Value>,
        now: i64,
        ttl: u64,
    ) -> Result<(String, i64, i64), String> {
        let exp = now + ttl as i64;
        let mut claims = claims.clone();
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), exp.into());
        let mut header = Header::new(self.algorithm);
        header.kid = self.kid.clone();
        let token = encode(&header, &claims, &self.key).map_err(|e| e.to_string())?;
        Ok((token, now, exp))
    }

    /// The public keys as a JWK set (empty for HS256: a secret is never published).
    pub fn jwks(&self) -> Value {
        json!({ "keys": self.public.iter().collect::<Vec<_>>() })
    }
}

/// Claims of the user's tokens, updated from Auth's user object (after the
/// user changed their email, phone or metadata).
pub fn claims_for_user(claims: &Map<String, Value>, user: &Value) -> Map<String, Value> {
    let mut claims = claims.clone();
    for field in [
        "email",
        "phone",
        "app_metadata",
        "user_metadata",
        "is_anonymous",
    ] {
        if let Some(value) = user.get(field) {
            claims.insert(field.into(), value.clone());
        }
    }
    claims
}

/// Whether tokens minted for `user` would carry other claims than `claims`
/// (then a session's minted token is outdated by the new user object).
pub fn user_changes_claims(claims: &Map<String, Value>, user: &Value) -> bool {
    claims_for_user(claims, user) != *claims
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation, decode};

    const SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";

    fn claims() -> Map<String, Value> {
        let v = json!({"sub": "u1", "role": "authenticated", "session_id": "s1", "aal": "aal1",
                       "amr": [{"method": "password", "timestamp": 1}], "iat": 1, "exp": 2});
        v.as_object().unwrap().clone()
    }

    fn verify(token: &str, key: &DecodingKey, alg: Algorithm) -> Map<String, Value> {
        let mut validation = Validation::new(alg);
        validation.validate_aud = false;
        validation.validate_exp = false;
        decode::<Map<String, Value>>(token, key, &validation)
            .unwrap()
            .claims
    }

    #[test]
    fn hs256_keeps_every_claim_but_the_times() {
        let key = MintKey::from_secret(SECRET).unwrap();
        let (token, iat, exp) = key.mint(&claims(), 1000, 300).unwrap();
        assert_eq!((iat, exp), (1000, 1300));
        let got = verify(
            &token,
            &DecodingKey::from_secret(SECRET.as_bytes()),
            Algorithm::HS256,
        );
        let mut want = claims();
        want.insert("iat".into(), 1000.into());
        want.insert("exp".into(), 1300.into());
        assert_eq!(got, want);
        assert_eq!(
            key.jwks(),
            json!({"keys": []}),
            "a secret is never published"
        );
        assert!(MintKey::from_secret("short").is_err());
        assert_eq!(key.setting(), "SUPABASE_JWT_SECRET");
    }

    #[test]
    fn es256_jwk_signs_with_its_kid_and_publishes_its_public_half() {
        let secret = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
        let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(
            &secret.public_key(),
            false,
        );
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "key-1",
            "d": URL_SAFE_NO_PAD.encode([7u8; 32]),
            "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()), "y": URL_SAFE_NO_PAD.encode(point.y().unwrap())});
        let key = MintKey::from_private_key(&jwk.to_string(), None).unwrap();
        assert_eq!(key.setting(), "PROXY_JWT_PRIVATE_KEY");
        let (token, _, _) = key.mint(&claims(), 1000, 300).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&token).unwrap().kid.as_deref(),
            Some("key-1")
        );
        let jwks = key.jwks();
        assert_eq!(jwks["keys"][0]["kid"], "key-1");
        assert!(
            jwks["keys"][0].get("d").is_none(),
            "the private part is never published"
        );
        let public: Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
        let got = verify(
            &token,
            &DecodingKey::from_jwk(&public).unwrap(),
            Algorithm::ES256,
        );
        assert_eq!(got["session_id"], "s1");
    }

    #[test]
    fn user_changes_reach_the_claims() {
        let user = json!({"id": "u1", "email": "new@example.com", "user_metadata": {"nick": "n"}, "identities": []});
        let updated = claims_for_user(&claims(), &user);
        assert_eq!(updated["email"], "new@example.com");
        assert_eq!(updated["user_metadata"], json!({"nick": "n"}));
        assert_eq!(updated["session_id"], "s1");
        assert!(updated.get("identities").is_none());
    }

    #[test]
    fn only_claim_fields_of_the_user_outdate_a_token() {
        let claims = claims_for_user(&claims(), &json!({"email": "a@example.com"}));
        let same = json!({"id": "u1", "email": "a@example.com", "identities": [1]});
        assert!(!user_changes_claims(&claims, &same));
        let promoted =
            json!({"id": "u1", "email": "a@example.com", "app_metadata": {"plan": "pro"}});
        assert!(user_changes_claims(&claims, &promoted));
    }

    #[test]
    fn bad_keys_are_refused_with_a_reason() {
        for bad in [
            "",
            "{}",
            "{\"kty\":\"EC\",\"crv\":\"P-384\"}",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
        ] {
            assert!(MintKey::from_private_key(bad, None).is_err(), "{bad}");
        }
    }
}
