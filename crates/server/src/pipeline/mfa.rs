//! MFA verification: `POST /auth/v1/factors/{id}/verify` raises the current
//! session to aal2.
//!
//! Auth answers with a token response for the same Auth session, whose
//! refresh token it swapped: the proxy replaces the current session's tokens
//! in place (no second session, the cookie unchanged), and the browser's new
//! placeholders carry the aal2 claims and the new `amr`.

use crate::body::Body;
use crate::pipeline::account::no_session;
use crate::pipeline::auth_answer::{read_answer, relay_answer};
use crate::pipeline::context::{Ctx, Live, Presented, store_down};
use crate::pipeline::forward::{send, session_bearer};
use crate::pipeline::sign_in::{placeholder_body, token_answer};
use crate::upstream::make_private;
use http::{Response, StatusCode};
use hyper::body::Incoming;
use sbp_core::ProxyError;
use sbp_core::auth::read_token_response;
use sbp_core::config::TokenMode;
use sbp_core::session::UserObject;

/// Forwards the verification with the session's token; its tokens replace
/// the session's.
pub async fn verify(ctx: &mut Ctx, body: Incoming) -> Result<Response<Body>, ProxyError> {
    let Some(session) = ctx.fresh_session().await? else {
        return Ok(no_session(ctx));
    };
    let Some(key) = ctx.live().map(|live| live.key.clone()) else {
        return Ok(no_session(ctx));
    };
    let upstream = send(ctx, body, session_bearer(&session)?).await?;
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
            crate::mint::first_tokens(&app, mint, &grant.claims.all, &grant.tokens)?
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
    ctx.presented = Presented::Live(Live {
        key,
        session: updated,
    });
    let body = placeholder_body(&app, &grant.claims.all, &grant.body, &grant.user);
    let mut response = token_answer(ctx, answer.parts, body, &secrets);
    make_private(response.headers_mut());
    Ok(response)
}
