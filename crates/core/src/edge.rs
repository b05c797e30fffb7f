//! The JSON the proxy's own `/edge/v1` endpoints answer with. No tokens, ever.

use crate::env::UnixSeconds;
use crate::session::Session;
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// RFC 3339 UTC time, as Supabase writes its timestamps.
pub fn timestamp(seconds: UnixSeconds) -> Value {
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .map_or(Value::Null, Value::String)
}

/// `GET /edge/v1/session`, borrowing the session (no copy of the user).
#[derive(Serialize)]
pub struct SessionView<'a> {
    id: &'a str,
    user: &'a Value,
    created_at: Value,
    last_seen_at: Value,
    expires_at: Value,
    idle_expires_at: Value,
}

pub fn session_view(session: &Session) -> SessionView<'_> {
    SessionView {
        id: &session.id,
        user: &session.user,
        created_at: timestamp(session.created_at),
        last_seen_at: timestamp(session.last_seen_at),
        expires_at: timestamp(session.expires_at),
        idle_expires_at: timestamp(session.idle_expires_at),
    }
}

/// One entry of `GET /edge/v1/sessions`.
pub fn session_list_item(session: &Session, current: bool) -> Value {
    json!({
        "id": session.id,
        "created_at": timestamp(session.created_at),
        "last_seen_at": timestamp(session.last_seen_at),
        "expires_at": timestamp(session.expires_at),
        "ip": session.ip,
        "user_agent": session.user_agent,
        "country": session.country,
        "current": current,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::tests_support::sample;

    #[test]
    fn views_have_no_tokens() {
        let s = sample(0);
        let view = serde_json::to_string(&session_view(&s)).unwrap();
        let item = session_list_item(&s, true).to_string();
        for text in [&view, &item] {
            assert!(!text.contains(&s.tokens.access_token));
            assert!(!text.contains(&s.tokens.refresh_token));
        }
        assert!(
            view.contains("\"created_at\":\"1970-01-01T00:00:00Z\""),
            "{view}"
        );
        assert_eq!(session_list_item(&s, true)["current"], true);
    }
}
