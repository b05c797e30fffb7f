//! The JSON the proxy's own `/edge/v1` endpoints answer with. No tokens, ever.

use crate::env::UnixSeconds;
use crate::session::{Session, UserObject};
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// RFC 3339 UTC time, as Supabase writes its timestamps (`null` when out of range).
pub struct Timestamp(pub UnixSeconds);

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // "+999999-12-31T23:59:59Z" is the longest: formatted on the stack.
        let mut buffer = [0u8; 32];
        let mut out = &mut buffer[..];
        let written = OffsetDateTime::from_unix_timestamp(self.0)
            .ok()
            .and_then(|t| t.format_into(&mut out, &Rfc3339).ok());
        match written.and_then(|n| std::str::from_utf8(&buffer[..n]).ok()) {
            Some(text) => serializer.serialize_str(text),
            None => serializer.serialize_none(),
        }
    }
}

/// `GET /edge/v1/session`, borrowing the session (the user is written as stored).
#[derive(Serialize)]
pub struct SessionView<'a> {
    id: &'a str,
    user: &'a UserObject,
    created_at: Timestamp,
    last_seen_at: Timestamp,
    expires_at: Timestamp,
    idle_expires_at: Timestamp,
}

pub fn session_view(session: &Session) -> SessionView<'_> {
    SessionView {
        id: &session.id,
        user: &session.user,
        created_at: Timestamp(session.created_at),
        last_seen_at: Timestamp(session.last_seen_at),
        expires_at: Timestamp(session.expires_at),
        idle_expires_at: Timestamp(session.idle_expires_at),
    }
}

/// One entry of `GET /edge/v1/sessions`.
pub fn session_list_item(session: &Session, current: bool) -> Value {
    json!({
        "id": session.id,
        "created_at": Timestamp(session.created_at),
        "last_seen_at": Timestamp(session.last_seen_at),
        "expires_at": Timestamp(session.expires_at),
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
        assert_eq!(serde_json::to_string(&Timestamp(i64::MAX)).unwrap(), "null");
        assert_eq!(
            serde_json::to_string(&Timestamp(253_402_300_799)).unwrap(),
            "\"9999-12-31T23:59:59Z\""
        );
    }
}
