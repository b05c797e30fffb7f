//! Sign-in interception and the browser's refresh grant.
//!
//! A token response from Auth becomes a session: the tokens stay here, the
//! browser gets a cookie and the same JSON with placeholder tokens. The
//! browser's later refresh grants are answered from the session.

use crate::app::App;
use crate::body::{Body, empty};
use crate::pipeline::context::{CookieChange, Ctx, store_down};
use crate::pipeline::handlers::forward::send;
use crate::pipeline::response::auth_answer::{read_answer, relay_answer};
use crate::pipeline::response::respond;
use crate::upstream::{drop_upstream_cookies, replace_body};
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use sbp_core::ProxyError;
use sbp_core::auth::{
    AuthError, SignIn, browser_token_response, continued_session, continues, read_token_response,
    wants_versioned_errors,
};
use sbp_core::config::TokenMode;
use sbp_core::route::Service;
use sbp_core::session::{EndReason, NewSession, Session, SessionSecret, UserObject};
use sbp_core::token::{placeholder_refresh_token, session_claims};
use serde_json::{Map, Value};

/// Forwards a sign-in; a token response creates the session.
pub async fn sign_in(ctx: &mut Ctx<'_>, body: Incoming) -> Result<Response<Body>, ProxyError> {
    let anon_bearer = ctx.app.upstream.anon_bearer.clone();
    let upstream = send(ctx, body, anon_bearer, Service::Auth).await?;
    let answer = read_answer(ctx, upstream).await?;
    let grant = (answer.parts.status == StatusCode::OK)
        .then(|| read_token_response(&answer.body))
        .flatten();
    let Some(grant) = grant else {
        // Not a token response (an error, a sign-up awaiting confirmation):
        // relayed without any token, or refused if it cannot be read.
        return relay_answer(ctx, answer);
    };
    let secrets = [
        grant.tokens.access_token.clone(),
        grant.tokens.refresh_token.clone(),
    ];
    let body = start_session(ctx, grant).await?;
    Ok(token_answer(ctx, answer.parts, body, &secrets))
}

/// The browser's answer to a call that Auth answered with tokens: the
/// placeholder `body` as JSON, without any upstream cookie that names or
/// carries a token (`secrets` are the upstream tokens themselves).
pub fn token_answer(
    ctx: &Ctx,
    mut parts: http::response::Parts,
    body: Vec<u8>,
    secrets: &[String],
) -> Response<Body> {
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    drop_upstream_cookies(
        &mut parts.headers,
        &ctx.app.config.cookie_name,
        true,
        &secrets,
    );
    let mut response = replace_body(parts, body.into());
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Stores the session for `grant` and returns the body for the browser.
/// A sign-in of the user whose session the browser holds continues that
/// session (same cookie, same public id); any other replaces the browser's
/// old session with a new one.
pub async fn start_session(ctx: &mut Ctx<'_>, grant: SignIn) -> Result<Vec<u8>, ProxyError> {
    let app = ctx.app.clone();
    let now = app.now();
    let continued = ctx
        .live()
        .filter(|live| continues(&live.session, &grant.claims.sub))
        .map(|live| (live.key.clone(), live.session.clone()));
    if continued.is_none()
        && let Some(old) = ctx.presented_key().cloned()
    {
        app.sessions
            .end(&old, EndReason::Replaced)
            .await
            .map_err(store_down)?;
    }
    let new = NewSession {
        id: uuid::Builder::from_random_bytes(app.random())
            .into_uuid()
            .to_string(),
        user_id: grant.claims.sub.clone(),
        user: UserObject::from_value(&grant.user),
        auth_session_id: grant.claims.session_id.clone(),
        tokens: grant.tokens,
        ip: Some(ctx.client_ip().to_string()),
        user_agent: ctx.user_agent(),
        country: ctx.header("cf-ipcountry").map(str::to_string),
    };
    let config = &app.config;
    let mut new = new;
    if let TokenMode::Mint(mint) = &config.token_mode {
        new.tokens = app
            .sessions
            .first_tokens(mint, &grant.claims.all, &new.tokens)?;
    }
    match continued {
        Some((key, current)) => {
            let session = continued_session(&current, new, now, config.session_idle_ttl);
            let replaced = current.auth_session_id != session.auth_session_id;
            app.sessions
                .insert(&key, session)
                .await
                .map_err(store_down)?;
            if replaced {
                end_auth_session(ctx, &current.tokens.access_token).await;
            }
        }
        None => {
            let secret = SessionSecret::generate(&app.rng);
            let session = Session::new(new, now, config.session_ttl, config.session_idle_ttl);
            app.sessions
                .insert(&secret.key(), session)
                .await
                .map_err(store_down)?;
            ctx.cookie = CookieChange::Set(secret);
        }
    }
    Ok(placeholder_body(
        &app,
        &grant.claims.all,
        &grant.body,
        &grant.user,
    ))
}

/// Ends the Auth session a continued session held before (`logout?scope=
/// local` with its token), so a sign-in that continues a session does not
/// leave a second Auth session behind; a failure is logged: that session
/// then lives on in Auth only until its refresh token expires.
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
        tracing::warn!(error = %e, "cannot end the Auth session a continued session held");
    }
}

/// A token response for the browser: `base` and `user` with placeholders
/// carrying `claims` (signed with the proxy's own key) in place of tokens.
pub fn placeholder_body(
    app: &App,
    claims: &Map<String, Value>,
    base: &Map<String, Value>,
    user: &Value,
) -> Vec<u8> {
    let now = app.now();
    let (access, expires_at) = app.placeholder_key.sign(claims, now);
    let refresh = placeholder_refresh_token(&app.rng);
    browser_token_response(base, user, &access, expires_at, &refresh, now)
}

/// `grant_type=refresh_token`: new placeholders from the session, no Auth call.
pub fn refresh_grant(ctx: &Ctx) -> Response<Body> {
    let Some(live) = ctx.live() else {
        let versioned = wants_versioned_errors(ctx.header("x-supabase-api-version"));
        return respond::auth_error(AuthError::RefreshTokenNotFound, versioned);
    };
    let session = &live.session;
    let claims = session_claims(session);
    let body = placeholder_body(&ctx.app, &claims, &Map::new(), &session.user.to_value());
    respond::json_bytes(200, body)
}
