//! The identity the proxy hands the app behind it (`PROXY_APP_URL`): the
//! `X-Supabase-Identity` header, a short-lived ES256 JWT made from the
//! session's cached user and claims, signed with a P-256 key the proxy
//! generates at start or imports (`PROXY_IDENTITY_KEY`), whose public half
//! is served in the JWKS.

use crate::env::{RandomSource, UnixSeconds, random_array};
use crate::session::Session;
use crate::token::{MintKey, session_claims};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value, json};

/// The header the app reads the identity from (browsers' copies are removed).
pub const IDENTITY_HEADER: &str = "x-supabase-identity";

/// How long a signed identity is valid, seconds.
pub const IDENTITY_TTL: u64 = 60;

/// The key identities are signed with: always ES256, always with a `kid`.
#[derive(Debug)]
pub struct IdentityKey {
    key: MintKey,
    kid: String,
    public: Value,
}

impl IdentityKey {
    /// A new P-256 key from `rng` (for a proxy without `PROXY_IDENTITY_KEY`).
    pub fn generate(rng: &dyn RandomSource) -> IdentityKey {
        loop {
            // Nearly every 32 bytes is a valid scalar; retry the others.
            let Ok(secret) = p256::SecretKey::from_slice(&random_array::<32>(rng)) else {
                continue;
            };
            if let Ok(key) = IdentityKey::import(&private_jwk(&secret)) {
                return key;
            }
        }
    }

    /// A P-256 private key as a JWK or PEM (PKCS#8), as
    /// `PROXY_JWT_PRIVATE_KEY` is read; the `kid` is the JWK's own or the
    /// key's RFC 7638 thumbprint.
    pub fn import(text: &str) -> Result<IdentityKey, String> {
        let key = MintKey::from_private_key(text, None)?;
        if key.algorithm() != Algorithm::ES256 {
            return Err("must be an EC P-256 key (ES256)".into());
        }
        let public = key.jwks()["keys"][0].clone();
        let kid = public["kid"]
            .as_str()
            .ok_or("the key has no kid")?
            .to_string();
        Ok(IdentityKey { key, kid, public })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half as a JWK (`kid`, `alg: ES256`, `use: sig`).
    pub fn public_jwk(&self) -> Value {
        let mut jwk = self.public.clone();
        jwk["alg"] = "ES256".into();
        jwk
    }

    /// The identity JWT for `claims` ([`identity_claims`]), valid from
    /// `now` for [`IDENTITY_TTL`]; returns it and its `exp`.
    pub fn sign(
        &self,
        claims: &Map<String, Value>,
        now: UnixSeconds,
    ) -> Result<(String, UnixSeconds), String> {
        self.key
            .mint(claims, now, IDENTITY_TTL)
            .map(|(token, _, exp)| (token, exp))
    }
}

/// `secret` as a private JWK on P-256.
fn private_jwk(secret: &p256::SecretKey) -> String {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let point = secret.public_key().to_encoded_point(false);
    let b64 = |bytes: Option<Vec<u8>>| URL_SAFE_NO_PAD.encode(bytes.unwrap_or_default());
    json!({
        "kty": "EC",
        "crv": "P-256",
        "d": URL_SAFE_NO_PAD.encode(secret.to_bytes()),
        "x": b64(point.x().map(|x| x.to_vec())),
        "y": b64(point.y().map(|y| y.to_vec())),
    })
    .to_string()
}

/// The claims of a session's identity (without `iat`/`exp`, which signing
/// adds): `iss`, `sub`, `email`, `phone`, `role`, `aal`, `is_anonymous`,
/// `app_metadata`, `sid` (the proxy session's public id) and `session_id`
/// (Auth's). The user object the proxy keeps (updated when the user
/// changes) wins over the token's claims; a field neither has is `null`
/// (`role` defaults to `authenticated`, `aal` to `aal1`, `is_anonymous` to
/// `false`).
pub fn identity_claims(session: &Session, issuer: &str) -> Map<String, Value> {
    let token = session_claims(session);
    let user = session.user.to_value();
    let field = |name: &str| {
        user.get(name)
            .or_else(|| token.get(name))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let from_token = |name: &str, default: &str| {
        token
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or(default)
            .to_string()
    };
    let auth_session = session
        .auth_session_id
        .clone()
        .map(Value::from)
        .or_else(|| token.get("session_id").cloned())
        .unwrap_or(Value::Null);
    let is_anonymous = field("is_anonymous").as_bool().unwrap_or(false);
    Map::from_iter([
        ("iss".to_string(), Value::from(issuer)),
        ("sub".into(), Value::from(session.user_id.clone())),
        ("email".into(), field("email")),
        ("phone".into(), field("phone")),
        ("role".into(), from_token("role", "authenticated").into()),
        ("aal".into(), from_token("aal", "aal1").into()),
        ("is_anonymous".into(), is_anonymous.into()),
        ("app_metadata".into(), field("app_metadata")),
        ("sid".into(), Value::from(session.id.clone())),
        ("session_id".into(), auth_session),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::jwk::Jwk;
    use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation, decode, decode_header};

    struct Counter(std::cell::Cell<u8>);
    impl RandomSource for Counter {
        fn fill(&self, buf: &mut [u8]) {
            let n = self.0.get().wrapping_add(1);
            self.0.set(n);
            buf.fill(n);
        }
    }

    fn session() -> Session {
        let mut session = crate::session::tests_support::sample(0);
        session.tokens.access_token = encode_claims(json!({"sub": "user-1", "exp": 3600,
            "role": "authenticated", "aal": "aal2", "session_id": "auth-session-1",
            "email": "old@example.com", "app_metadata": {"provider": "email"}}));
        session.user = json!({"id": "user-1", "email": "a@example.com", "phone": "",
            "app_metadata": {"provider": "email", "roles": ["admin"]}, "is_anonymous": false})
        .into();
        session
    }

    fn encode_claims(claims: Value) -> String {
        jsonwebtoken::encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(b"auth's key"),
        )
        .unwrap()
    }

    fn verify(token: &str, key: &IdentityKey) -> Map<String, Value> {
        let jwk: Jwk = serde_json::from_value(key.public_jwk()).unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
        validation.set_issuer(&["https://app.example.com"]);
        decode(token, &DecodingKey::from_jwk(&jwk).unwrap(), &validation)
            .unwrap()
            .claims
    }

    #[test]
    fn the_claims_come_from_the_cached_user_and_the_session() {
        let claims = identity_claims(&session(), "https://app.example.com");
        let want = json!({"iss": "https://app.example.com", "sub": "user-1",
            "email": "a@example.com", "phone": "", "role": "authenticated", "aal": "aal2",
            "is_anonymous": false, "app_metadata": {"provider": "email", "roles": ["admin"]},
            "sid": "00000000-0000-4000-8000-000000000001", "session_id": "auth-session-1"});
        assert_eq!(Value::Object(claims), want);
    }

    #[test]
    fn missing_fields_get_their_defaults() {
        let mut session = crate::session::tests_support::sample(0);
        session.auth_session_id = None;
        session.user = json!({"id": "user-1", "is_anonymous": true}).into();
        let claims = identity_claims(&session, "http://127.0.0.1:8787");
        assert_eq!(claims["role"], "authenticated");
        assert_eq!(claims["aal"], "aal1");
        assert_eq!(claims["is_anonymous"], true);
        assert_eq!(claims["email"], Value::Null);
        assert_eq!(claims["session_id"], Value::Null);
    }

    #[test]
    fn a_generated_key_signs_es256_with_its_kid_for_at_most_a_minute() {
        let key = IdentityKey::generate(&Counter(Default::default()));
        let claims = identity_claims(&session(), "https://app.example.com");
        let (token, exp) = key.sign(&claims, 1000).unwrap();
        assert_eq!(exp, 1060);
        let header = decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), Some(key.kid()));
        let got = verify(&token, &key);
        assert_eq!(
            (got["iat"].as_i64(), got["exp"].as_i64()),
            (Some(1000), Some(1060))
        );
        assert_eq!(got["sid"], claims["sid"]);
        let jwk = key.public_jwk();
        assert_eq!(
            (jwk["alg"].as_str(), jwk["use"].as_str()),
            (Some("ES256"), Some("sig"))
        );
        assert!(
            jwk.get("d").is_none(),
            "the private half is never published"
        );
        let other = IdentityKey::generate(&Counter(std::cell::Cell::new(40)));
        assert_ne!(other.kid(), key.kid(), "each key has its own kid");
    }

    #[test]
    fn an_imported_key_keeps_its_kid_and_must_be_p256() {
        let secret = p256::SecretKey::from_slice(&[9u8; 32]).unwrap();
        let mut jwk: Value = serde_json::from_str(&private_jwk(&secret)).unwrap();
        jwk["kid"] = "identity-1".into();
        let key = IdentityKey::import(&jwk.to_string()).unwrap();
        assert_eq!(key.kid(), "identity-1");
        let (token, _) = key.sign(&Map::new(), 0).unwrap();
        assert_eq!(
            decode_header(&token).unwrap().kid.as_deref(),
            Some("identity-1")
        );
        let rsa =
            json!({"kty": "RSA", "n": "AQAB", "e": "AQAB", "d": "AQAB", "p": "Aw", "q": "Bw"});
        assert!(IdentityKey::import(&rsa.to_string()).is_err());
        assert!(IdentityKey::import("not a key").is_err());
    }
}
