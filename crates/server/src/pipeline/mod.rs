//! The request pipeline, in the order a request goes through it:
//!
//! 1. the **request stage** ([`request`]): classify the route, refuse what
//!    the guards refuse, load the session the cookie names;
//! 2. a **handler** ([`handlers`]), chosen by the route: the proxy's own
//!    endpoints, sign-in and the other Auth calls it intercepts, MFA,
//!    forwarding to a Supabase service, the Realtime upgrade;
//! 3. the **response stage** ([`response`]): Auth's answers read and
//!    scrubbed, others relayed, then the one cookie decision and CORS.
//!
//! [`Ctx`](context::Ctx) carries a request through the three; a CORS
//! preflight is answered before the first.

mod connection;
mod context;
mod handlers;
mod request;
mod response;

use crate::access_log::{self, Handled};
use crate::app::App;
use crate::body::Body;
use crate::metrics::RouteClass;
use crate::upstream::OnLane;
use http::{Request, Response};
use hyper::body::Incoming;
use std::sync::Arc;

pub use connection::Connection;

/// Whether `request` goes to the app behind the proxy (`PROXY_APP_URL`).
fn for_app<B>(app: &App, request: &Request<B>) -> bool {
    app.front_door.is_some()
        && sbp_core::route::classify(
            request.method(),
            request.uri().path(),
            request.uri().query(),
            app.config.public_url.base_path(),
        )
        .route
            == sbp_core::route::Route::App
}

/// Handles one request from a browser connection through the three stages
/// (or answers its CORS preflight), and writes its access-log line. One
/// future for all of it: a layer per step would move the request and its
/// answer through each.
pub async fn handle(
    app: Arc<App>,
    mut request: Request<Incoming>,
    connection: Arc<Connection>,
    lane: OnLane<'_>,
) -> Response<Body> {
    let started = std::time::Instant::now();
    let request_id = access_log::request_id(request.headers_mut());
    if let Some(preflight) = preflight(&app, &request, started) {
        let handled = Handled {
            class: "preflight",
            upstream_us: None,
            session: None,
        };
        return access_log::finish(started, request.method(), request_id, &handled, preflight);
    }
    let (mut ctx, route, body) = request::classify(app, request, connection, lane);
    let class = access_log::route_class(&route);
    let metrics_class = RouteClass::of(&route);
    let answer = match request::admit(&mut ctx, &route).await {
        Ok(()) => handlers::handle(&mut ctx, route, body).await,
        Err(e) => Err(e),
    };
    let response = response::finish(&ctx, answer);
    ctx.app
        .metrics
        .request(metrics_class, response.status(), started.elapsed());
    let handled = Handled {
        class,
        upstream_us: ctx.upstream_time.micros(),
        session: ctx.live().map(|live| &*live.session),
    };
    access_log::finish(started, &ctx.parts.method, request_id, &handled, response)
}

/// The answer to a CORS preflight (counted), or `None` when the request is
/// not one. The app's preflights are the app's to answer.
fn preflight<B>(
    app: &App,
    request: &Request<B>,
    started: std::time::Instant,
) -> Option<Response<Body>> {
    if for_app(app, request) {
        return None;
    }
    let preflight = response::cors::preflight(&app.config, request)?;
    app.metrics
        .request(RouteClass::Preflight, preflight.status(), started.elapsed());
    Some(preflight)
}
