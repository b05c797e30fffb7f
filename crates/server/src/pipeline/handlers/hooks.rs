//! `POST /edge/v1/hooks/auth`: changes made anywhere in Auth (the
//! dashboard, an admin script, a ban, a deletion), sent by a database
//! trigger as Supabase Database Webhook payloads about `auth.users` and
//! `auth.sessions`, signed with Standard Webhooks ([`sbp_core::hooks`]).
//!
//! A server-to-server call: no cookie, no Origin. Without
//! `PROXY_HOOK_SECRET` the route does not exist (404). A call is acted on
//! only when its signature matches one of the secrets, its timestamp is
//! within five minutes of the proxy's clock, and its `webhook-id` was not
//! seen before (by any instance sharing the store); anything else gets a
//! 401 and changes nothing. A payload that cannot be read gets a 400.

use crate::body::{Body, IdleTimeout, read_request_body};
use crate::pipeline::context::{Ctx, store_down};
use crate::pipeline::response::relay::idle_limit;
use crate::pipeline::response::respond;
use http::Response;
use hyper::body::Incoming;
use sbp_core::ProxyError;
use sbp_core::hooks::{HookSecrets, SignatureError, TIMESTAMP_TOLERANCE, decide, parse, verify};
use serde_json::json;

/// A `webhook-id` is remembered as long as a call carrying it can pass the
/// timestamp check: from five minutes before its timestamp to five after.
const REPLAY_WINDOW: u64 = 2 * TIMESTAMP_TOLERANCE;

/// The largest hook call read. An UPDATE carries the row twice (`record`
/// and `old_record`), and a call refused for its size is lost (pg_net does
/// not retry), so the limit is well above any `auth.users` row a JWT could
/// still carry, rather than `PROXY_MAX_AUTH_BODY`.
const HOOK_BODY_LIMIT: u64 = 1024 * 1024;

/// The 401 a refused call gets.
fn refused(why: &str) -> Response<Body> {
    respond::json(401, &json!({"error": "hook_refused", "message": why}))
}

pub async fn auth_hook(ctx: &mut Ctx<'_>, body: Incoming) -> Result<Response<Body>, ProxyError> {
    let Some(secrets) = ctx.app.config.hook_secrets.clone() else {
        return Err(ProxyError::NotFound);
    };
    let body = read_request_body(IdleTimeout::new(body, idle_limit(ctx)), HOOK_BODY_LIMIT).await?;
    if let Err(why) = check_signature(ctx, &secrets, &body) {
        tracing::warn!(%why, "an Auth hook call was refused");
        return Ok(refused(&why.to_string()));
    }
    let id = ctx.header("webhook-id").unwrap_or_default().to_string();
    let sessions = &ctx.app.sessions;
    if !sessions
        .claim_hook_id(&id, REPLAY_WINDOW)
        .await
        .map_err(store_down)?
    {
        tracing::warn!(webhook_id = %id, "an Auth hook call was replayed; refused");
        return Ok(refused("this webhook-id was already received"));
    }
    let effect = parse(&body)
        .and_then(|payload| decide(payload, sessions.now()))
        .map_err(|e| ProxyError::BadRequest(e.to_string()))?;
    let outcome = sessions.apply_hook(effect).await.map_err(store_down)?;
    tracing::info!(webhook_id = %id, ?outcome, "Auth hook call applied");
    Ok(respond::json(200, &json!({"ok": true})))
}

fn check_signature(ctx: &Ctx, secrets: &HookSecrets, body: &[u8]) -> Result<(), SignatureError> {
    verify(
        secrets,
        ctx.header("webhook-id"),
        ctx.header("webhook-timestamp"),
        ctx.header("webhook-signature"),
        body,
        ctx.app.now(),
    )
}
