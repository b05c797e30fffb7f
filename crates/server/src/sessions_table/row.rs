//! One row of `public.sessions` (the repository's `schema.sql`): the
//! public fields of a proxy session, never its tokens or cached user.

use sbp_core::edge::Timestamp;
use sbp_core::env::UnixSeconds;
use sbp_core::session::Session;
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The session's public id (the table's primary key).
    pub id: String,
    pub user_id: String,
    pub created_at: UnixSeconds,
    pub last_seen_at: UnixSeconds,
    /// When the session ends unless it is used again: the sooner of its
    /// absolute and idle expiry, as the proxy's own sweep reads it.
    pub expires_at: UnixSeconds,
    pub ip: Option<String>,
    pub country: Option<String>,
    pub user_agent: Option<String>,
}

impl Row {
    pub fn of(session: &Session) -> Row {
        Row {
            id: session.id.clone(),
            user_id: session.user_id.clone(),
            created_at: session.created_at,
            last_seen_at: session.last_seen_at,
            expires_at: session.valid_until(),
            ip: session.ip.clone(),
            country: session.country.clone(),
            user_agent: session.user_agent.clone(),
        }
    }

    /// The row as PostgREST takes it; times in RFC 3339.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "user_id": self.user_id,
            "created_at": Timestamp(self.created_at),
            "last_seen_at": Timestamp(self.last_seen_at),
            "expires_at": Timestamp(self.expires_at),
            "ip": self.ip,
            "country": self.country,
            "user_agent": self.user_agent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sbp_core::session::{NewSession, UpstreamTokens};

    #[test]
    fn a_row_has_the_public_fields_and_the_sooner_expiry_only() {
        let session = Session::new(
            NewSession {
                id: "7d0c8a52-4f4b-4a53-9d1e-3f0d4c6b2a10".into(),
                user_id: "0e9b3a1c-2d4e-4f60-8a7b-9c0d1e2f3a4b".into(),
                user: json!({"id": "u", "email": "a@example.com"}).into(),
                auth_session_id: Some("auth-session".into()),
                tokens: UpstreamTokens {
                    access_token: "secret-access".into(),
                    refresh_token: "secret-refresh".into(),
                    issued_at: 0,
                    expires_at: 3600,
                },
                ip: Some("203.0.113.7".into()),
                user_agent: Some("Firefox".into()),
                country: Some("NL".into()),
            },
            1_700_000_000,
            30 * 86_400,
            3600,
        );
        let json = Row::of(&session).to_json();
        assert_eq!(
            json,
            json!({
                "id": "7d0c8a52-4f4b-4a53-9d1e-3f0d4c6b2a10",
                "user_id": "0e9b3a1c-2d4e-4f60-8a7b-9c0d1e2f3a4b",
                "created_at": "2023-11-14T22:13:20Z",
                "last_seen_at": "2023-11-14T22:13:20Z",
                "expires_at": "2023-11-14T23:13:20Z",
                "ip": "203.0.113.7",
                "country": "NL",
                "user_agent": "Firefox",
            })
        );
        let text = json.to_string();
        assert!(
            !text.contains("secret") && !text.contains("email"),
            "{text}"
        );
    }
}
