//! Access tokens and token responses: the claims Auth puts in a JWT and the
//! `{access_token, token_type, expires_in, expires_at, refresh_token, user}` body.

use serde_json::{Value, json};
use uuid::Uuid;

use super::error::AuthError;
use super::store::{AuthStore, user_not_found};
use crate::clock::unix_now;
use crate::state::Shared;

/// Opens a session for the user and answers with a token response.
pub(crate) fn sign_in(
    shared: &Shared,
    store: &mut AuthStore,
    user_id: Uuid,
    amr_method: &str,
) -> Result<Value, AuthError> {
    let (session_id, refresh_token) = store.start_session(user_id, amr_method)?;
    token_response(shared, store, session_id, &refresh_token)
}

/// A token response for an existing session with the given refresh token.
pub(crate) fn token_response(
    shared: &Shared,
    store: &mut AuthStore,
    session_id: Uuid,
    refresh_token: &str,
) -> Result<Value, AuthError> {
    let session = store.session(session_id).ok_or_else(|| {
        AuthError::bad_request(
            "session_not_found",
            "Session from session_id claim in JWT does not exist",
        )
    })?;
    let user = store.user(session.user_id).ok_or_else(user_not_found)?;
    let amr: Vec<Value> = session
        .amr
        .iter()
        .map(|(method, timestamp)| json!({"method": method, "timestamp": timestamp}))
        .collect();
    let ttl = shared.config.access_token_ttl;
    let iat = unix_now();
    let claims = json!({
        "iss": shared.issuer,
        "sub": user.id,
        "aud": "authenticated",
        "exp": iat.saturating_add(ttl),
        "iat": iat,
        "email": user.email.clone().unwrap_or_default(),
        "phone": user.phone.clone().unwrap_or_default(),
        "app_metadata": user.app_metadata(),
        "user_metadata": user.user_metadata,
        "role": "authenticated",
        "aal": session.aal,
        "amr": amr,
        "session_id": session.id,
        "is_anonymous": user.is_anonymous,
    });
    let user_json = user.to_json();
    let access_token = shared
        .keys
        .sign(&claims)
        .map_err(|e| AuthError::unexpected(format!("signing failed: {e}")))?;
    store.note_issued(&access_token);
    Ok(json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": ttl,
        "expires_at": iat.saturating_add(ttl),
        "refresh_token": refresh_token,
        "user": user_json,
    }))
}

/// The `#access_token=...` fragment Auth appends to redirects of implicit flows.
pub(crate) fn fragment(tokens: &Value, kind: &str) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for key in [
        "access_token",
        "expires_at",
        "expires_in",
        "refresh_token",
        "token_type",
        "provider_token",
        "provider_refresh_token",
    ] {
        match &tokens[key] {
            Value::String(s) => {
                out.append_pair(key, s);
            }
            Value::Number(n) => {
                out.append_pair(key, &n.to_string());
            }
            _ => {}
        }
    }
    out.append_pair("type", kind);
    out.finish()
}
