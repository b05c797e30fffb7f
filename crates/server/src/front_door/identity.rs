//! The signed identity headers, kept per session for a few seconds: signing
//! costs (ES256), and a page's many requests need the same identity.

use http::HeaderValue;
use sbp_core::env::UnixSeconds;
use sbp_core::identity::{IDENTITY_TTL, IdentityKey, identity_claims};
use sbp_core::session::Session;
use serde_json::{Map, Value};
use std::sync::Arc;

/// How long a signed identity is reused: well within its [`IDENTITY_TTL`],
/// so the app always receives one valid for most of a minute.
const REUSE_FOR: UnixSeconds = 5;
const _: () = assert!((REUSE_FOR as u64) * 4 < IDENTITY_TTL);

/// How many sessions' identities are kept.
const CAPACITY: usize = 10_000;

#[derive(Clone)]
struct Signed {
    claims: Map<String, Value>,
    iat: UnixSeconds,
    header: HeaderValue,
}

pub struct Identities {
    key: Arc<IdentityKey>,
    /// The `iss` of every identity: the proxy's public URL.
    issuer: String,
    recent: quick_cache::sync::Cache<String, Signed>,
}

impl Identities {
    pub fn new(key: Arc<IdentityKey>, issuer: String) -> Identities {
        Identities {
            key,
            issuer,
            recent: quick_cache::sync::Cache::new(CAPACITY),
        }
    }

    pub fn key(&self) -> &IdentityKey {
        &self.key
    }

    /// The `X-Supabase-Identity` value for `session` at `now`: one signed
    /// at most [`REUSE_FOR`] seconds ago for the same claims, or a new one.
    pub fn header(&self, session: &Session, now: UnixSeconds) -> Option<HeaderValue> {
        let claims = identity_claims(session, &self.issuer);
        if let Some(signed) = self.recent.get(&session.id)
            && signed.claims == claims
            && (0..=REUSE_FOR).contains(&(now - signed.iat))
        {
            return Some(signed.header);
        }
        let token = match self.key.sign(&claims, now) {
            Ok((token, _)) => token,
            Err(e) => {
                tracing::error!(error = %e, "cannot sign the identity");
                return None;
            }
        };
        let header = HeaderValue::try_from(token).ok()?;
        self.recent.insert(
            session.id.clone(),
            Signed {
                claims,
                iat: now,
                header: header.clone(),
            },
        );
        Some(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sbp_core::env::RandomSource;
    use sbp_core::session::{NewSession, UpstreamTokens};

    struct Fixed;
    impl RandomSource for Fixed {
        fn fill(&self, buf: &mut [u8]) {
            buf.fill(3);
        }
    }

    fn session() -> Session {
        let new = NewSession {
            id: "sid-1".into(),
            user_id: "u1".into(),
            user: serde_json::json!({"id": "u1", "email": "a@example.com"}).into(),
            auth_session_id: Some("as-1".into()),
            tokens: UpstreamTokens {
                access_token: "opaque".into(),
                refresh_token: "r".into(),
                issued_at: 0,
                expires_at: 3600,
            },
            ip: None,
            user_agent: None,
            country: None,
        };
        Session::new(new, 0, 1000, 1000)
    }

    #[test]
    fn an_identity_is_reused_briefly_and_only_for_the_same_claims() {
        let identities =
            Identities::new(Arc::new(IdentityKey::generate(&Fixed)), "http://p".into());
        let mut s = session();
        let first = identities.header(&s, 100).unwrap();
        assert_eq!(identities.header(&s, 100 + REUSE_FOR).unwrap(), first);
        let later = identities.header(&s, 101 + REUSE_FOR).unwrap();
        assert_ne!(later, first, "re-signed once it is older than REUSE_FOR");
        s.user = serde_json::json!({"id": "u1", "email": "new@example.com"}).into();
        assert_ne!(
            identities.header(&s, 101 + REUSE_FOR).unwrap(),
            later,
            "new claims, new identity"
        );
    }
}
