//! Mint mode at run time: the session's upstream token is signed here from
//! the claims Auth gave it, once per token lifetime, never per request and
//! never with a call to Auth.

use crate::app::App;
use crate::refresh::Refreshed;
use sbp_core::ProxyError;
use sbp_core::session::{Session, SessionKey, StoreError, UpstreamTokens, UserObject};
use sbp_core::token::{MintKey, claims_for_user, needs_refresh, read_claims};
use serde_json::{Map, Value};
use std::sync::Arc;

fn mint_tokens(
    app: &App,
    mint: &MintKey,
    claims: &Map<String, Value>,
    refresh_token: &str,
) -> Result<UpstreamTokens, ProxyError> {
    let (access_token, issued_at, expires_at) = mint
        .mint(claims, app.now(), app.config.mint_ttl)
        .map_err(|e| {
        tracing::error!(error = %e, "cannot mint a token");
        ProxyError::Internal
    })?;
    Ok(UpstreamTokens {
        access_token,
        // Auth's own refresh token is kept, unused, so the session survives
        // a switch back to refresh mode.
        refresh_token: refresh_token.to_string(),
        issued_at,
        expires_at,
    })
}

/// Tokens for a new session signed in with Auth's `tokens` and `claims`.
pub fn first_tokens(
    app: &App,
    mint: &MintKey,
    claims: &Map<String, Value>,
    tokens: &UpstreamTokens,
) -> Result<UpstreamTokens, ProxyError> {
    mint_tokens(app, mint, claims, &tokens.refresh_token)
}

/// The claims to mint from: those of the session's current token (Auth's
/// own for a session made in refresh mode, or a minted one).
fn session_claims(session: &Session) -> Map<String, Value> {
    read_claims(&session.tokens.access_token).map_or_else(
        || Map::from_iter([("sub".to_string(), Value::from(session.user_id.clone()))]),
        |c| c.all,
    )
}

/// Signs a new token for the session when its current one is near expiry.
pub async fn remint(app: &App, key: &SessionKey, mint: &MintKey) -> Refreshed {
    let session = match app.sessions.reload(key).await {
        Ok(Some(session)) => session,
        Ok(None) => return Refreshed::Revoked,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read session before minting");
            return Refreshed::Failed;
        }
    };
    if !needs_refresh(&session.tokens, app.now(), app.config.refresh_margin) {
        return Refreshed::Fresh(session);
    }
    let claims = session_claims(&session);
    let Ok(tokens) = mint_tokens(app, mint, &claims, &session.tokens.refresh_token) else {
        return Refreshed::Failed;
    };
    match app
        .sessions
        .update_tokens(key, &tokens, &session.user)
        .await
    {
        Ok(Some(session)) => Refreshed::Fresh(session),
        Ok(None) => Refreshed::Revoked,
        Err(e) => {
            tracing::warn!(error = %e, "cannot store a minted token");
            Refreshed::Failed
        }
    }
}

/// Records Auth's updated user object and mints from its claims from now on.
pub async fn update_user(
    app: &App,
    mint: &MintKey,
    key: &SessionKey,
    session: &Session,
    user: Value,
) -> Result<Option<Arc<Session>>, StoreError> {
    let claims = claims_for_user(&session_claims(session), &user);
    let Ok(tokens) = mint_tokens(app, mint, &claims, &session.tokens.refresh_token) else {
        return Ok(None);
    };
    let user = UserObject::from_value(&user);
    app.sessions.update_tokens(key, &tokens, &user).await
}
