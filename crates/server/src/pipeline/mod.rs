//! The request pipeline: classify the route, load the session, apply the
//! policy (answer locally, intercept Auth, or forward), send upstream, and
//! rewrite the response (cookie, CORS).

mod account;
mod auth_answer;
mod connection;
mod context;
mod cors;
mod edge;
mod forward;
mod guard;
mod mfa;
mod respond;
mod sign_in;

use crate::app::App;
use crate::body::Body;
use crate::realtime::{SessionLink, Upgrade};
use context::Ctx;
use http::{Request, Response};
use hyper::body::Incoming;
use sbp_core::ProxyError;
use sbp_core::route::{Route, classify};
use std::sync::Arc;

pub use connection::Connection;

/// Handles one request from a browser connection.
pub async fn handle(
    app: Arc<App>,
    request: Request<Incoming>,
    connection: Arc<Connection>,
) -> Response<Body> {
    if let Some(preflight) = cors::preflight(&app.config, &request) {
        return preflight;
    }
    let (parts, body) = request.into_parts();
    let classified = classify(
        &parts.method,
        parts.uri.path(),
        parts.uri.query(),
        app.config.public_url.base_path(),
    );
    let route = classified.route;
    let mut ctx = Ctx::new(app, parts, connection);
    let mut response = match dispatch(&mut ctx, route, body).await {
        Ok(response) => response,
        Err(e) => respond::error(&e),
    };
    ctx.finish(&mut response);
    cors::apply(&ctx.app.config, &ctx.parts.headers, response.headers_mut());
    response
}

async fn dispatch(
    ctx: &mut Ctx,
    route: Route,
    body: Incoming,
) -> Result<Response<Body>, ProxyError> {
    guard::check(ctx, &route)?;
    match route {
        Route::Health => return Ok(Box::pin(edge::health(ctx)).await),
        Route::Jwks => return Ok(edge::jwks(ctx)),
        Route::NotFound => return Err(ProxyError::NotFound),
        Route::MethodNotAllowed => return Err(ProxyError::MethodNotAllowed),
        Route::DotSegments => {
            return Err(ProxyError::BadRequest("the path has dot segments".into()));
        }
        _ => ctx.load_session().await?,
    }
    // The routes taken once per sign-in or socket are boxed, so that the
    // future of every request is only as large as forwarding needs.
    match route {
        Route::Session => edge::session(ctx),
        Route::Sessions => Box::pin(edge::sessions(ctx)).await,
        Route::RevokeSession(id) => Box::pin(edge::revoke(ctx, &id)).await,
        Route::SignIn => Box::pin(sign_in::sign_in(ctx, body)).await,
        Route::MfaVerify => Box::pin(mfa::verify(ctx, body)).await,
        Route::RefreshGrant => Ok(sign_in::refresh_grant(ctx)),
        Route::User => Box::pin(account::user(ctx, body)).await,
        Route::Logout(scope) => Box::pin(account::logout(ctx, scope, body)).await,
        Route::RealtimeSocket => Box::pin(realtime_socket(ctx)).await,
        Route::Forward(service) => forward::forward(ctx, body, service).await,
        Route::Health
        | Route::Jwks
        | Route::NotFound
        | Route::MethodNotAllowed
        | Route::DotSegments => Err(ProxyError::Internal),
    }
}

/// `GET /realtime/v1/websocket`: the upgrade and its origin are checked
/// before anything else, then the socket is relayed with the session's
/// fresh token (or the anon key).
async fn realtime_socket(ctx: &mut Ctx) -> Result<Response<Body>, ProxyError> {
    let upgrade = Upgrade::check(&ctx.app.realtime, &mut ctx.parts)?;
    let session = ctx.fresh_session().await?;
    let link = session.zip(ctx.live()).map(|(session, live)| SessionLink {
        key: live.key.clone(),
        session,
    });
    let client_ip = ctx.client_ip();
    upgrade
        .accept(
            &ctx.app.realtime,
            ctx.app.sessions.clone(),
            &ctx.parts,
            client_ip,
            link,
        )
        .await
}
