//! Calls that need a signed-in user: `/auth/v1/user` and `/auth/v1/logout`.
//!
//! Without a session they are answered in Auth's own error shape, so the
//! official client signs itself out instead of holding a dead placeholder.

use crate::body::Body;
use crate::body::full;
use crate::pipeline::context::{CookieChange, Ctx, Live, Presented, store_down};
use crate::pipeline::handlers::forward::{send, session_bearer};
use crate::pipeline::response::auth_answer::relay_auth;
use crate::pipeline::response::respond;
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use sbp_core::ProxyError;
use sbp_core::auth::{AuthError, wants_versioned_errors};
use sbp_core::http::make_private;
use sbp_core::route::{LogoutScope, Service};
use sbp_core::session::{EndReason, Session};
use serde_json::Value;

/// Auth's answer to a call that needs a session, when there is none.
pub fn no_session(ctx: &Ctx) -> Response<Body> {
    let versioned = wants_versioned_errors(ctx.header("x-supabase-api-version"));
    respond::auth_error(AuthError::SessionNotFound, versioned)
}

/// `GET`/`PUT /auth/v1/user` with the session's token.
pub async fn user(ctx: &mut Ctx<'_>, body: Incoming) -> Result<Response<Body>, ProxyError> {
    let Some(session) = ctx.fresh_session().await? else {
        return Ok(no_session(ctx));
    };
    let upstream = send(ctx, body, session_bearer(&session)?, Service::Auth).await?;
    let mut response = relay_auth(ctx, upstream).await?;
    if response.status() == StatusCode::OK {
        response = remember_user(ctx, &session, response).await?;
    }
    make_private(response.headers_mut());
    Ok(response)
}

/// Auth's answer to `/user` is the user as it is now: the session keeps
/// it (both token modes; in mint mode tokens minted from now on carry its
/// claims).
async fn remember_user(
    ctx: &mut Ctx<'_>,
    session: &Session,
    response: Response<Body>,
) -> Result<Response<Body>, ProxyError> {
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map_err(|e| ProxyError::UpstreamUnavailable(e.to_string()))?
        .to_bytes();
    let user: Option<Value> = serde_json::from_slice(&bytes).ok();
    if let (Some(user), Some(live)) = (user.filter(|u| u.get("id").is_some()), ctx.live()) {
        let key = live.key.clone();
        let updated = ctx
            .app
            .sessions
            .update_user(&key, session, &user)
            .await
            .map_err(store_down)?;
        if let Some(session) = updated {
            ctx.presented = Presented::Live(Live { key, session });
        }
    }
    Ok(Response::from_parts(parts, full(bytes)))
}

/// `POST /auth/v1/logout?scope=…`: Auth first, then the matching proxy sessions.
pub async fn logout(
    ctx: &mut Ctx<'_>,
    scope: LogoutScope,
    body: Incoming,
) -> Result<Response<Body>, ProxyError> {
    let Some(live) = ctx.live() else {
        return Ok(no_session(ctx));
    };
    let (key, user_id) = (live.key.clone(), live.session.user_id.clone());
    let response = match ctx.fresh_session().await {
        Ok(Some(session)) => {
            let upstream = send(ctx, body, session_bearer(&session)?, Service::Auth).await?;
            relay_auth(ctx, upstream).await?
        }
        // Auth already ended the session (or cannot be reached to end it):
        // the proxy still signs the browser out.
        Ok(None) | Err(_) => {
            let mut response = Response::new(crate::body::empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            response
        }
    };
    let sessions = &ctx.app.sessions;
    let doomed = match scope {
        LogoutScope::Local => vec![key.clone()],
        LogoutScope::Others | LogoutScope::Global => {
            let all = sessions.list_user(&user_id).await.map_err(store_down)?;
            all.into_iter()
                .map(|(k, _)| k)
                .filter(|k| scope == LogoutScope::Global || *k != key)
                .collect()
        }
    };
    for k in &doomed {
        ctx.app
            .sessions
            .end(k, EndReason::SignOut)
            .await
            .map_err(store_down)?;
    }
    if scope != LogoutScope::Others {
        ctx.cookie = CookieChange::Clear;
    }
    Ok(response)
}
