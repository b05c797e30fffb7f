//! The request stage: what the proxy works out about a request before any
//! handler runs: its route, whether the guards let it through, and the
//! session its cookie names.

mod guard;

use crate::app::App;
use crate::pipeline::connection::Connection;
use crate::pipeline::context::Ctx;
use crate::upstream::OnLane;
use http::Request;
use hyper::body::Incoming;
use sbp_core::ProxyError;
use sbp_core::route::Route;
use std::sync::Arc;

/// The request's context and its route. Inlined: a call would copy the
/// context (the request's head) on its way out.
#[inline]
pub fn classify<'a>(
    app: Arc<App>,
    request: Request<Incoming>,
    connection: Arc<Connection>,
    lane: OnLane<'a>,
) -> (Ctx<'a>, Route, Incoming) {
    let (parts, body) = request.into_parts();
    let classified = sbp_core::route::classify(
        &parts.method,
        parts.uri.path(),
        parts.uri.query(),
        app.config.public_url.base_path(),
    );
    let route = match classified.route {
        // Without an app behind the proxy, its paths are not found.
        Route::App if app.front_door.is_none() => Route::NotFound,
        route => route,
    };
    (Ctx::new(app, parts, connection, lane), route, body)
}

/// Applies the guards, then loads the session for every route that may use
/// one (not the health check, the public keys, the Auth hook, or a request
/// that is refused anyway).
pub async fn admit(ctx: &mut Ctx<'_>, route: &Route) -> Result<(), ProxyError> {
    guard::check(ctx, route)?;
    match route {
        Route::Health
        | Route::Jwks
        | Route::AuthHook
        | Route::NotFound
        | Route::MethodNotAllowed
        | Route::DotSegments => Ok(()),
        _ => ctx.load_session().await,
    }
}
