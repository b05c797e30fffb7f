//! Email links with no code in the app: `GET /edge/v1/confirm?token_hash=
//! &type=&next=` verifies the link with Auth (`POST /auth/v1/verify
//! {token_hash, type}`, the token-hash flow) and answers 303 to `next`.
//!
//! The token response becomes a session the way every sign-in does, except
//! for an email change confirmed in a browser already signed in as that
//! user: the current session is kept and its cached user replaced (the
//! Auth session the verification opened is ended again), so the change
//! does not leave the user with two sessions. An answer without tokens
//! (the first half of a secure email change) passes Auth's `msg` on as
//! `message`; errors go to `next` as `error` and `error_description`.

use crate::body::{Body, empty};
use crate::pipeline::context::{Ctx, store_down};
use crate::pipeline::handlers::oauth::{call_auth, redirect, session_from, unavailable};
use http::header::AUTHORIZATION;
use http::{Method, Request, Response, StatusCode};
use sbp_core::auth::read_token_response;
use sbp_core::redirect::{safe_next, with_error, with_params};
use sbp_core::route::query_param;
use sbp_core::session::UserObject;
use serde_json::Value;

/// The `type`s of email links `POST /verify` takes with a `token_hash`.
const LINK_TYPES: &[&str] = &[
    "signup",
    "invite",
    "magiclink",
    "recovery",
    "email_change",
    "email",
];

pub async fn confirm(ctx: &mut Ctx<'_>) -> Response<Body> {
    let config = ctx.app.config.clone();
    let query = ctx.parts.uri.query();
    let next = safe_next(
        query_param(query, "next").as_deref(),
        &config.public_url,
        &config.allowed_origins,
    );
    let token_hash = query_param(query, "token_hash").filter(|t| !t.is_empty());
    let kind = query_param(query, "type").filter(|t| LINK_TYPES.contains(&t.as_str()));
    let (Some(token_hash), Some(kind)) = (token_hash, kind) else {
        let description = "The link needs a token_hash and a type (signup, invite, magiclink, recovery, email_change or email)";
        return redirect(&with_error(&next, "invalid_request", description), None);
    };
    let body = serde_json::json!({"token_hash": token_hash, "type": kind});
    let outcome = match call_auth(ctx, "/auth/v1/verify", &body).await {
        Ok((status, answer)) if status == StatusCode::OK && kind == "email_change" => {
            email_changed(ctx, &answer).await
        }
        Ok((status, answer)) => session_from(ctx, status, &answer).await.map(|()| None),
        Err(error) => Err(error),
    };
    match outcome {
        Ok(None) => redirect(&next, None),
        Ok(Some(message)) => redirect(&with_params(&next, &[("message", &message)]), None),
        Err((error, description)) => redirect(&with_error(&next, &error, &description), None),
    }
}

/// A confirmed email change: the current session updated when it is the
/// user's, else a new session. `Some(msg)` when Auth answered without
/// tokens (the other address must confirm too).
async fn email_changed(
    ctx: &mut Ctx<'_>,
    answer: &[u8],
) -> Result<Option<String>, (String, String)> {
    let Some(grant) = read_token_response(answer) else {
        let json: Value = serde_json::from_slice(answer).unwrap_or_default();
        let message = json.get("msg").and_then(Value::as_str).unwrap_or_default();
        return Ok(Some(message.to_string()));
    };
    let current = ctx
        .fresh_session()
        .await
        .map_err(unavailable)?
        .filter(|session| session.user_id == grant.claims.sub);
    let (Some(session), Some(key)) = (current, ctx.live().map(|live| live.key.clone())) else {
        return session_from(ctx, StatusCode::OK, answer)
            .await
            .map(|()| None);
    };
    let user = UserObject::from_value(&grant.user);
    ctx.app
        .sessions
        .update_tokens(&key, &session.tokens, &user)
        .await
        .map_err(|e| unavailable(store_down(e)))?;
    end_auth_session(ctx, &grant.tokens.access_token).await;
    Ok(None)
}

/// Ends the Auth session a verification opened and the proxy does not
/// keep (`logout?scope=local` with its own token); a failure is logged:
/// that session then lives on in Auth only until its refresh token expires.
async fn end_auth_session(ctx: &Ctx<'_>, access_token: &str) {
    let Some(bearer) = crate::upstream::bearer(access_token) else {
        return;
    };
    let request = Request::builder()
        .method(Method::POST)
        .uri("/auth/v1/logout?scope=local")
        .header(AUTHORIZATION, bearer)
        .body(empty());
    if let Ok(request) = request
        && let Err(e) = ctx.app.upstream.call(request, 64 * 1024).await
    {
        tracing::warn!(error = %e, "cannot end the Auth session an email change opened");
    }
}
