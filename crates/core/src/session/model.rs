//! What the proxy stores for a session.

use super::user::UserObject;
use crate::env::UnixSeconds;
use serde::{Deserialize, Serialize};

/// Auth's own tokens for a session (refresh mode).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamTokens {
    pub access_token: String,
    pub refresh_token: String,
    /// `iat` of the access token.
    pub issued_at: UnixSeconds,
    /// `exp` of the access token.
    pub expires_at: UnixSeconds,
}

impl std::fmt::Debug for UpstreamTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTokens")
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// One signed-in browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Public id (UUID), shown in listings and used to revoke.
    pub id: String,
    pub user_id: String,
    /// Auth's user object, as last seen.
    pub user: UserObject,
    /// Auth's `session_id` claim, when present.
    pub auth_session_id: Option<String>,
    pub tokens: UpstreamTokens,
    pub created_at: UnixSeconds,
    pub last_seen_at: UnixSeconds,
    /// Absolute end of the session.
    pub expires_at: UnixSeconds,
    /// End of the session if it stays idle: `last_seen_at` + idle timeout.
    pub idle_expires_at: UnixSeconds,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub country: Option<String>,
    /// Set when the user changed after the tokens were issued (an Auth hook
    /// call, or `PUT /auth/v1/user` in mint mode): the tokens carry old
    /// claims and are replaced at their next use. It holds an id of that
    /// change, so that a refresh which began before the change does not
    /// clear it (see [`SessionStore::update_tokens`](super::SessionStore::update_tokens)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_outdated: Option<String>,
}

/// What a sign-in knows about the browser and the user, to make a [`Session`].
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: String,
    pub user_id: String,
    pub user: UserObject,
    pub auth_session_id: Option<String>,
    pub tokens: UpstreamTokens,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub country: Option<String>,
}

impl Session {
    pub fn new(new: NewSession, now: UnixSeconds, ttl: u64, idle_ttl: u64) -> Self {
        let expires_at = now.saturating_add(ttl as i64);
        Session {
            id: new.id,
            user_id: new.user_id,
            user: new.user,
            auth_session_id: new.auth_session_id,
            tokens: new.tokens,
            created_at: now,
            last_seen_at: now,
            expires_at,
            idle_expires_at: now.saturating_add(idle_ttl as i64).min(expires_at),
            ip: new.ip,
            user_agent: new.user_agent,
            country: new.country,
            tokens_outdated: None,
        }
    }

    /// The moment the session ends unless it is used again.
    pub fn valid_until(&self) -> UnixSeconds {
        self.expires_at.min(self.idle_expires_at)
    }

    pub fn is_expired(&self, now: UnixSeconds) -> bool {
        now >= self.valid_until()
    }

    /// Whether last-seen is old enough to be written again: at most once a
    /// minute, and at least twice per `idle_ttl`, so that a session in use
    /// never reaches its idle expiry even when that is under two minutes.
    pub fn needs_touch(&self, now: UnixSeconds, idle_ttl: u64) -> bool {
        let interval = (idle_ttl / 2).clamp(1, 60);
        now - self.last_seen_at >= interval as i64
    }

    /// Marks the session used at `now`.
    pub fn touch(&mut self, now: UnixSeconds, idle_ttl: u64) {
        self.last_seen_at = now;
        self.idle_expires_at = now.saturating_add(idle_ttl as i64).min(self.expires_at);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// A session with recognisable tokens, for tests.
    pub fn sample(now: UnixSeconds) -> Session {
        Session::new(
            NewSession {
                id: "00000000-0000-4000-8000-000000000001".into(),
                user_id: "user-1".into(),
                user: serde_json::json!({"id": "user-1", "email": "a@example.com"}).into(),
                auth_session_id: Some("auth-session-1".into()),
                tokens: UpstreamTokens {
                    access_token: "upstream-access-token".into(),
                    refresh_token: "upstream-refresh-token".into(),
                    issued_at: now,
                    expires_at: now + 3600,
                },
                ip: Some("127.0.0.1".into()),
                user_agent: Some("test".into()),
                country: None,
            },
            now,
            1000,
            100,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::sample;
    use super::*;

    #[test]
    fn idle_and_absolute_expiry() {
        let mut s = sample(0);
        assert_eq!(s.valid_until(), 100);
        assert!(!s.is_expired(99));
        assert!(s.is_expired(100));
        s.touch(950, 100);
        assert_eq!(
            s.valid_until(),
            1000,
            "idle never outlives the absolute end"
        );
        assert!(s.needs_touch(1010, 86_400));
        assert!(!s.needs_touch(1009, 86_400));
        // A short idle lifetime is recorded often enough to be kept.
        assert!(s.needs_touch(955, 10));
        assert!(!s.needs_touch(954, 10));
        assert!(s.needs_touch(951, 1));
    }

    #[test]
    fn bytes_round_trip_and_debug_hides_tokens() {
        let s = sample(5);
        assert_eq!(Session::from_bytes(&s.to_bytes()).unwrap(), s);
        assert!(!format!("{s:?}").contains("upstream-access-token"));
        assert!(Session::from_bytes(b"{not json").is_err());
    }
}
