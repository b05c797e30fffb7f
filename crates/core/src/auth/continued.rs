//! A sign-in in a browser that already has a session of the same user
//! continues that session instead of starting another one.
//!
//! Auth answers with a new token response when a user who is signed in
//! finishes a step that signs them in again: an anonymous user's email
//! change verified (`POST /verify type=email_change`), an identity linked
//! (`linkIdentity`, then the `?code=` exchange), a second password sign-in.
//! The browser's session keeps its cookie, public id, creation time and
//! absolute expiry; it takes Auth's new tokens, session id and user.

use crate::env::UnixSeconds;
use crate::session::{NewSession, Session};

/// Whether a sign-in of `user_id` continues `current` (the browser's live session).
pub fn continues(current: &Session, user_id: &str) -> bool {
    current.user_id == user_id
}

/// `current` carrying what the sign-in `new` brought, used at `now`.
pub fn continued_session(
    current: &Session,
    new: NewSession,
    now: UnixSeconds,
    idle_ttl: u64,
) -> Session {
    let mut session = Session {
        id: current.id.clone(),
        user_id: new.user_id,
        user: new.user,
        auth_session_id: new.auth_session_id,
        tokens: new.tokens,
        created_at: current.created_at,
        last_seen_at: current.last_seen_at,
        expires_at: current.expires_at,
        idle_expires_at: current.idle_expires_at,
        ip: new.ip,
        user_agent: new.user_agent,
        country: new.country,
        // Auth's new tokens carry the user as it is now.
        tokens_outdated: None,
    };
    session.touch(now, idle_ttl);
    session
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::UpstreamTokens;

    fn sign_in(user_id: &str, auth_session: &str, token: &str) -> NewSession {
        NewSession {
            id: "11111111-1111-4111-8111-111111111111".into(),
            user_id: user_id.into(),
            user: serde_json::json!({"id": user_id, "email": "new@example.com"}).into(),
            auth_session_id: Some(auth_session.into()),
            tokens: UpstreamTokens {
                access_token: format!("{token}-access"),
                refresh_token: format!("{token}-refresh"),
                issued_at: 500,
                expires_at: 4100,
            },
            ip: Some("10.0.0.2".into()),
            user_agent: Some("second".into()),
            country: None,
        }
    }

    #[test]
    fn only_a_sign_in_of_the_same_user_continues_a_session() {
        let current = Session::new(sign_in("u1", "a1", "first"), 100, 10_000, 1000);
        assert!(continues(&current, "u1"));
        assert!(!continues(&current, "u2"));
    }

    #[test]
    fn the_continued_session_keeps_its_identity_and_takes_the_new_tokens() {
        let current = Session::new(sign_in("u1", "a1", "first"), 100, 10_000, 1000);
        let next = continued_session(&current, sign_in("u1", "a2", "second"), 500, 1000);
        assert_eq!(next.id, current.id, "the public id stays");
        assert_eq!(next.created_at, 100);
        assert_eq!(next.expires_at, current.expires_at, "no longer life");
        assert_eq!(next.auth_session_id.as_deref(), Some("a2"));
        assert_eq!(next.tokens.access_token, "second-access");
        assert_eq!(next.user.to_value()["email"], "new@example.com");
        assert_eq!((next.last_seen_at, next.idle_expires_at), (500, 1500));
        assert_eq!(next.user_agent.as_deref(), Some("second"));
    }
}
