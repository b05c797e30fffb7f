//! MFA verification: `POST /auth/v1/factors/{id}/verify` raises the current
//! session to aal2.
//!
//! Auth answers with a token response for the same Auth session, whose
//! refresh token it swapped: the proxy replaces the current session's tokens
//! in place (no second session, the cookie unchanged), and the browser's new
//! placeholders carry the aal2 claims and the new `amr`. Auth also ends the
//! user's other sessions below aal2, and so does the proxy.

use crate::body::Body;
use crate::pipeline::context::{Ctx, Live, Presented, store_down};
use crate::pipeline::handlers::account::no_session;
use crate::pipeline::handlers::forward::{send, session_bearer};
use crate::pipeline::handlers::sign_in::{placeholder_body, token_answer};
use crate::pipeline::response::auth_answer::{read_answer, relay_answer};
use http::{Response, StatusCode};
use hyper::body::Incoming;
use sbp_core::ProxyError;
use sbp_core::auth::read_token_response;
use sbp_core::config::TokenMode;
use sbp_core::http::make_private;
use sbp_core::route::Service;
use sbp_core::session::{EndReason, SessionKey, UserObject};
use sbp_core::token::read_claims;

/// Forwards the verification with the session's token; its tokens replace
/// the session's.
pub async fn verify(ctx: &mut Ctx<'_>, body: Incoming) -> Result<Response<Body>, ProxyError> {
    let Some(session) = ctx.fresh_session().await? else {
        return Ok(no_session(ctx));
    };
    let Some(key) = ctx.live().map(|live| live.key.clone()) else {
        return Ok(no_session(ctx));
    };
    let upstream = send(ctx, body, session_bearer(&session)?, Service::Auth).await?;
    let answer = read_answer(ctx, upstream).await?;
    let grant = (answer.parts.status == StatusCode::OK)
        .then(|| read_token_response(&answer.body))
        .flatten();
    let Some(grant) = grant else {
        let mut response = relay_answer(ctx, answer)?;
        make_private(response.headers_mut());
        return Ok(response);
    };
    let app = ctx.app.clone();
    let secrets = [
        grant.tokens.access_token.clone(),
        grant.tokens.refresh_token.clone(),
    ];
    let tokens = match &app.config.token_mode {
        TokenMode::Mint(mint) => {
            app.sessions
                .first_tokens(mint, &grant.claims.all, &grant.tokens)?
        }
        TokenMode::Refresh => grant.tokens.clone(),
    };
    let user = UserObject::from_value(&grant.user);
    let Some(updated) = app
        .sessions
        .update_tokens(&key, &tokens, &user)
        .await
        .map_err(store_down)?
    else {
        // Revoked while Auth was verifying: the verification makes no session.
        ctx.presented = Presented::Stale(key);
        return Ok(no_session(ctx));
    };
    end_sessions_below_aal2(ctx, &key, &updated.user_id).await?;
    ctx.presented = Presented::Live(Live {
        key,
        session: updated,
    });
    let body = placeholder_body(&app, &grant.claims.all, &grant.body, &grant.user);
    let mut response = token_answer(ctx, answer.parts, body, &secrets);
    make_private(response.headers_mut());
    Ok(response)
}

/// Ends the user's other sessions whose upstream token is below aal2, as
/// Auth did when it verified the factor.
async fn end_sessions_below_aal2(
    ctx: &Ctx<'_>,
    current: &SessionKey,
    user_id: &str,
) -> Result<(), ProxyError> {
    let sessions = ctx
        .app
        .sessions
        .list_user(user_id)
        .await
        .map_err(store_down)?;
    for (key, session) in sessions {
        let claims = read_claims(&session.tokens.access_token);
        let aal = claims
            .as_ref()
            .and_then(|c| c.all.get("aal"))
            .and_then(|a| a.as_str());
        if key != *current && aal != Some("aal2") {
            ctx.app
                .sessions
                .end(&key, EndReason::Revoked)
                .await
                .map_err(store_down)?;
        }
    }
    Ok(())
}
