//! Whether a request (or a Realtime socket) goes on with its session after
//! its upstream token was found near expiry and a refresh was tried: with
//! the refreshed session, with the current one while its token is still
//! valid, without a session, or not at all.

use super::policy::usable;
use crate::env::UnixSeconds;
use crate::session::Session;
use std::sync::Arc;

/// How a refresh (or, in mint mode, a re-mint) of a session ended.
#[derive(Clone, Debug)]
pub enum Refreshed {
    /// The session with tokens that are not near expiry.
    Fresh(Arc<Session>),
    /// Auth said the session is gone (one of its session-ending error
    /// codes), or it was deleted meanwhile: the session is over.
    Revoked,
    /// Auth, the path to it or the store failed, or Auth refused for a
    /// reason that does not end the session; the current token may still
    /// be usable.
    Failed,
}

/// What to do with the session after a refresh was tried.
#[derive(Clone, Debug)]
pub enum AfterRefresh {
    /// Go on with the refreshed session.
    Refreshed(Arc<Session>),
    /// The refresh failed but the current token is still valid: go on with it.
    Current,
    /// The session is over: go on without it (and clear the cookie).
    Revoked,
    /// The refresh failed and the current token has expired: the request
    /// cannot be served with its session.
    Unavailable,
}

/// Reads a refresh's `outcome` for a session whose current tokens are
/// `current`, at `now`.
pub fn after_refresh(outcome: Refreshed, current: &Session, now: UnixSeconds) -> AfterRefresh {
    match outcome {
        Refreshed::Fresh(session) => AfterRefresh::Refreshed(session),
        Refreshed::Revoked => AfterRefresh::Revoked,
        Refreshed::Failed if usable(&current.tokens, now) => AfterRefresh::Current,
        Refreshed::Failed => AfterRefresh::Unavailable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::tests_support::sample;

    #[test]
    fn a_fresh_session_replaces_the_current_one() {
        // `sample(t)`'s token expires at `t + 3600`.
        let current = sample(0);
        let fresh = Arc::new(sample(3590));
        match after_refresh(Refreshed::Fresh(fresh.clone()), &current, 3590) {
            AfterRefresh::Refreshed(session) => assert!(Arc::ptr_eq(&session, &fresh)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_revoked_session_is_dropped_even_with_a_valid_token() {
        let current = sample(0);
        assert!(matches!(
            after_refresh(Refreshed::Revoked, &current, 3550),
            AfterRefresh::Revoked
        ));
    }

    #[test]
    fn a_failed_refresh_keeps_a_token_until_it_expires() {
        let current = sample(0);
        assert!(matches!(
            after_refresh(Refreshed::Failed, &current, 3599),
            AfterRefresh::Current
        ));
        assert!(matches!(
            after_refresh(Refreshed::Failed, &current, 3600),
            AfterRefresh::Unavailable
        ));
    }
}
