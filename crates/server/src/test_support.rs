//! Fixtures shared by the unit tests.

use sbp_core::session::{NewSession, Session, UpstreamTokens};

/// A session `id` with `access_token`, created at time 0 for 100 seconds.
pub fn session(id: &str, access_token: &str) -> Session {
    let tokens = UpstreamTokens {
        access_token: access_token.into(),
        refresh_token: "r".into(),
        issued_at: 0,
        expires_at: 3600,
    };
    let new = NewSession {
        id: id.into(),
        user_id: "u".into(),
        user: serde_json::json!({}).into(),
        auth_session_id: None,
        tokens,
        ip: None,
        user_agent: None,
        country: None,
    };
    Session::new(new, 0, 100, 100)
}
