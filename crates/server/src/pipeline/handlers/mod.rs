//! The handlers: what the proxy does for each route, once the request stage
//! admitted the request. A handler answers itself, calls Supabase or (the
//! front door) the app behind the proxy, and
//! says in [`Ctx::cookie`](crate::pipeline::context::Ctx) what becomes of
//! the cookie; the response stage does the rest.

mod account;
mod confirm;
mod edge;
mod forward;
mod front_door;
mod hooks;
mod mfa;
mod oauth;
mod realtime;
mod sign_in;

use crate::body::Body;
use crate::pipeline::context::Ctx;
use http::Response;
use hyper::body::Incoming;
use sbp_core::ProxyError;
use sbp_core::route::Route;

/// Runs the handler of `route`.
pub async fn handle(
    ctx: &mut Ctx<'_>,
    route: Route,
    body: Incoming,
) -> Result<Response<Body>, ProxyError> {
    // The routes taken once per sign-in or socket are boxed, so that the
    // future of every request is only as large as forwarding needs.
    match route {
        Route::Health => Ok(Box::pin(edge::health(ctx)).await),
        Route::Jwks => Ok(edge::jwks(ctx)),
        Route::Authorize => Ok(Box::pin(oauth::authorize(ctx)).await),
        Route::Callback => Ok(Box::pin(oauth::callback(ctx)).await),
        Route::Confirm => Ok(Box::pin(confirm::confirm(ctx)).await),
        Route::AuthHook => Box::pin(hooks::auth_hook(ctx, body)).await,
        Route::NotFound => Err(ProxyError::NotFound),
        Route::MethodNotAllowed => Err(ProxyError::MethodNotAllowed),
        Route::DotSegments => Err(ProxyError::BadRequest("the path has dot segments".into())),
        Route::Session => edge::session(ctx),
        Route::Sessions => Box::pin(edge::sessions(ctx)).await,
        Route::RevokeSession(id) => Box::pin(edge::revoke(ctx, &id)).await,
        Route::SignIn => Box::pin(sign_in::sign_in(ctx, body)).await,
        Route::MfaVerify => Box::pin(mfa::verify(ctx, body)).await,
        Route::RefreshGrant => Ok(sign_in::refresh_grant(ctx)),
        Route::User => Box::pin(account::user(ctx, body)).await,
        Route::Logout(scope) => Box::pin(account::logout(ctx, scope, body)).await,
        Route::RealtimeSocket => Box::pin(realtime::socket(ctx)).await,
        Route::Forward(service) => forward::forward(ctx, body, service).await,
        Route::App => Box::pin(front_door::forward(ctx, body)).await,
    }
}
