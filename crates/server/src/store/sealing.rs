//! Opening the upstream tokens of a session read from a store.
//!
//! A session whose tokens cannot be opened (sealed with a `PROXY_STORE_KEY`
//! that is no longer configured, or altered) is treated as gone: the cookie
//! that points at it becomes anonymous, and the reason is logged.

use sbp_core::session::{Session, SessionKey, TokenSeal};

/// `session` with its tokens opened, or `None` (logged) when they cannot be.
pub fn opened(seal: &TokenSeal, key: &SessionKey, mut session: Session) -> Option<Session> {
    match seal.open(key, &mut session.tokens) {
        Ok(()) => Some(session),
        Err(e) => {
            tracing::warn!(
                session = %session.id,
                "a stored session's upstream tokens cannot be opened: {e}; treating the session as signed out"
            );
            None
        }
    }
}

/// `session` with its tokens sealed, as the store writes it.
pub fn sealed(seal: &TokenSeal, key: &SessionKey, session: &Session) -> Session {
    let mut stored = session.clone();
    stored.tokens = seal.seal(key, &session.tokens);
    stored
}
