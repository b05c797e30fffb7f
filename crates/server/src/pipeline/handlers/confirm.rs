//! Email links with no code in the app: `GET /edge/v1/confirm?token_hash=
//! &type=&next=` verifies the link with Auth (`POST /auth/v1/verify
//! {token_hash, type}`, the token-hash flow) and answers 303 to `next`.
//!
//! The token response becomes a session the way every sign-in does (an
//! email change confirmed in a browser signed in as that user continues
//! its session, see `sign_in::start_session`). An answer without tokens
//! (the first half of a secure email change) passes Auth's `msg` on as
//! `message`; errors go to `next` as `error` and `error_description`.

use crate::body::Body;
use crate::pipeline::context::Ctx;
use crate::pipeline::handlers::oauth::{call_auth, redirect, session_from};
use http::{Response, StatusCode};
use sbp_core::auth::read_token_response;
use sbp_core::redirect::{safe_next, with_error, with_params};
use sbp_core::route::query_param;
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
            verified(ctx, &answer).await
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

/// An answer without tokens (the first half of a secure email change)
/// passes Auth's `msg` on; a token response becomes a session.
async fn verified(ctx: &mut Ctx<'_>, answer: &[u8]) -> Result<Option<String>, (String, String)> {
    if read_token_response(answer).is_some() {
        return session_from(ctx, StatusCode::OK, answer)
            .await
            .map(|()| None);
    }
    let json: Value = serde_json::from_slice(answer).unwrap_or_default();
    let message = json.get("msg").and_then(Value::as_str).unwrap_or_default();
    Ok(Some(message.to_string()))
}
