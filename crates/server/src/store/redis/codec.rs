//! Turning the fields of a session hash back into a [`Session`].

use sbp_core::session::{Session, StoreError, UpstreamTokens};

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("redis session: {e}"))
}

pub fn encode_tokens(tokens: &UpstreamTokens) -> String {
    serde_json::to_string(tokens).unwrap_or_default()
}

/// `fields` are `session`, `tokens`, `user`, `seen`, `outdated` as stored
/// (`None` when missing); `None` overall when the session does not exist.
pub fn decode(fields: &[Option<String>]) -> Result<Option<Session>, StoreError> {
    let [Some(session), tokens, user, seen, outdated] = fields else {
        return Ok(None);
    };
    let mut session = Session::from_bytes(session.as_bytes()).map_err(corrupt)?;
    session.tokens_outdated = outdated.clone();
    if let Some(tokens) = tokens {
        session.tokens = serde_json::from_str(tokens).map_err(corrupt)?;
    }
    if let Some(user) = user {
        session.user = serde_json::from_str(user).map_err(corrupt)?;
    }
    if let Some(seen) = seen {
        let (last, idle) = seen
            .split_once(':')
            .ok_or_else(|| corrupt("bad seen field"))?;
        session.last_seen_at = last.parse().map_err(corrupt)?;
        session.idle_expires_at = idle.parse().map_err(corrupt)?;
    }
    Ok(Some(session))
}
