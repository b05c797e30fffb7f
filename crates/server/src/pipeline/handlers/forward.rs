//! Forwarding a request to Supabase with the session's token (or the anon key).

use crate::body::{Body, IdleTimeout, full, read_request_body, upload};
use crate::pipeline::context::Ctx;
use crate::pipeline::response::auth_answer::relay_auth;
use crate::pipeline::response::relay::{idle_limit, relay_streamed};
use crate::upstream::{Forward, UpstreamResponse, bearer, forward_request};
use http::header::COOKIE;
use http::{HeaderValue, Response};
use hyper::body::Incoming;
use sbp_core::ProxyError;
use sbp_core::http::make_private;
use sbp_core::route::Service;
use sbp_core::session::Session;

/// Sends the request to `service` with `bearer` (`Bearer <token>`) and
/// returns the raw response.
pub async fn send(
    ctx: &Ctx<'_>,
    body: Incoming,
    bearer: HeaderValue,
    service: Service,
) -> Result<UpstreamResponse, ProxyError> {
    let app = &ctx.app;
    let limits = &app.config.limits;
    let to_auth = service == Service::Auth;
    let body = if to_auth {
        // Read whole, and dropped when it stalls like any streamed body.
        let body = IdleTimeout::new(body, idle_limit(ctx));
        full(read_request_body(body, limits.max_auth_body).await?)
    } else {
        upload(body, idle_limit(ctx))
    };
    let forward = Forward {
        path: ctx.path(),
        service,
        bearer,
        cookie: ctx
            .connection
            .forwarded_cookie(ctx.parts.headers.get_all(COOKIE), &app.config.cookie_name),
        forwarded_for: ctx.connection.forwarded_for(ctx.client_ip()),
        proto: app.config.public_url.scheme(),
        read_answer: to_auth,
    };
    let request = forward_request(&ctx.parts, body, forward, &app.upstream);
    app.upstream
        .send(Some(ctx.lane), request, Some(&ctx.upstream_time))
        .await
}

/// `Bearer <access token>` for a session; an access token that is not a
/// valid header value is refused rather than sent anonymously.
pub fn session_bearer(session: &Session) -> Result<HeaderValue, ProxyError> {
    bearer(&session.tokens.access_token).ok_or(ProxyError::Internal)
}

/// The default policy: the session's fresh token, streamed both ways
/// (Auth's answers are read whole, to remove any token from them).
pub async fn forward(
    ctx: &mut Ctx<'_>,
    body: Incoming,
    service: Service,
) -> Result<Response<Body>, ProxyError> {
    let session = ctx.fresh_session().await?;
    let bearer = match &session {
        Some(session) => ctx.connection.bearer(session)?,
        None => ctx.app.upstream.anon_bearer.clone(),
    };
    let upstream = send(ctx, body, bearer, service).await?;
    let mut response = match service {
        Service::Auth => relay_auth(ctx, upstream).await?,
        _ => relay_streamed(ctx, upstream),
    };
    if session.is_some() {
        make_private(response.headers_mut());
    }
    Ok(response)
}
