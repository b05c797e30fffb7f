//! The proxy's own endpoints under `/edge/v1`.

use crate::body::{Body, full};
use crate::pipeline::context::{CookieChange, Ctx, store_down};
use crate::pipeline::handlers::forward::session_bearer;
use crate::pipeline::response::respond;
use http::header::AUTHORIZATION;
use http::{Method, Request, Response};
use sbp_core::ProxyError;
use sbp_core::config::TokenMode;
use sbp_core::edge::{session_list_item, session_view};
use sbp_core::session::{EndReason, Session};
use sbp_core::token::usable;
use serde_json::json;
use std::sync::Arc;

/// `GET /edge/v1/session`: who is this, without tokens.
pub fn session(ctx: &Ctx) -> Result<Response<Body>, ProxyError> {
    let live = ctx.live().ok_or(ProxyError::Unauthenticated)?;
    // The same session gives the same body: made once per connection.
    let body = ctx.connection.session_body(&live.session, || {
        // The user's JSON plus the id and four timestamps: one allocation.
        let mut body = Vec::with_capacity(live.session.user.as_json().len() + 256);
        serde_json::to_writer(&mut body, &session_view(&live.session))
            .map_err(|_| ProxyError::Internal)?;
        Ok(body.into())
    })?;
    Ok(respond::json_bytes(200, body))
}

/// `GET /edge/v1/sessions`: the user's live sessions, newest first.
pub async fn sessions(ctx: &Ctx<'_>) -> Result<Response<Body>, ProxyError> {
    let live = ctx.live().ok_or(ProxyError::Unauthenticated)?;
    let now = ctx.app.now();
    let mut all = ctx
        .app
        .sessions
        .list_user(&live.session.user_id)
        .await
        .map_err(store_down)?;
    all.retain(|(_, s)| !s.is_expired(now));
    all.sort_by_key(|(_, s)| std::cmp::Reverse(s.created_at));
    let list: Vec<_> = all
        .iter()
        .map(|(k, s)| session_list_item(s, *k == live.key))
        .collect();
    Ok(respond::json(200, &json!(list)))
}

/// `DELETE /edge/v1/sessions/{id}`: revoke one of the caller's own sessions.
pub async fn revoke(ctx: &mut Ctx<'_>, id: &str) -> Result<Response<Body>, ProxyError> {
    let live = ctx.live().ok_or(ProxyError::Unauthenticated)?;
    let current = live.key.clone();
    let all = ctx
        .app
        .sessions
        .list_user(&live.session.user_id)
        .await
        .map_err(store_down)?;
    let (key, _) = all
        .into_iter()
        .find(|(_, s)| s.id == id)
        .ok_or(ProxyError::SessionNotFound)?;
    let removed = ctx
        .app
        .sessions
        .end(&key, EndReason::Revoked)
        .await
        .map_err(store_down)?;
    if let Some(session) = removed {
        end_auth_session(ctx, session);
    }
    if key == current {
        ctx.cookie = CookieChange::Clear;
    }
    Ok(respond::json(200, &json!({"id": id})))
}

/// Ends the revoked session in Auth too (best effort, in the background), so
/// its refresh token dies with it. Only a token naming its Auth session is
/// used: one without `session_id` would end all the user's sessions.
fn end_auth_session(ctx: &Ctx, session: Session) {
    if session.auth_session_id.is_none() || !usable(&session.tokens, ctx.app.now()) {
        return;
    }
    let app = Arc::clone(&ctx.app);
    tokio::spawn(async move {
        let request = Request::builder()
            .method(Method::POST)
            .uri("/auth/v1/logout?scope=local")
            .body(full(""));
        if let (Ok(mut request), Ok(bearer)) = (request, session_bearer(&session)) {
            request.headers_mut().insert(AUTHORIZATION, bearer);
            if let Err(e) = app.upstream.call(request, 64 * 1024).await {
                tracing::warn!(error = %e, "cannot end the revoked session in Auth");
            }
        }
    });
}

/// `GET /edge/v1/.well-known/jwks.json`: the public keys minted tokens are
/// signed with (none for HS256 or in refresh mode), and with an app behind
/// the proxy the key of its `X-Supabase-Identity`.
pub fn jwks(ctx: &Ctx) -> Response<Body> {
    let mut keys = match &ctx.app.config.token_mode {
        TokenMode::Mint(mint) => mint.jwks(),
        TokenMode::Refresh => json!({"keys": []}),
    };
    if let (Some(door), Some(list)) = (&ctx.app.front_door, keys["keys"].as_array_mut()) {
        list.push(door.identities.key().public_jwk());
    }
    let mut response = respond::json(200, &keys);
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("public, max-age=600"),
    );
    response
}

/// `GET /edge/v1/health`: 200 when the store answers.
pub async fn health(ctx: &Ctx<'_>) -> Response<Body> {
    match ctx.app.sessions.ping().await {
        Ok(()) => respond::json(200, &json!({"status": "ok"})),
        Err(e) => {
            tracing::warn!(error = %e, "health check: store unavailable");
            respond::error(&ProxyError::StoreUnavailable)
        }
    }
}
