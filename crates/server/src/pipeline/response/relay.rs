//! Relaying an upstream answer: Auth's read whole and scrubbed of tokens,
//! every other service's streamed without the upstream's cookies that
//! would clash with the proxy's.

use crate::body::{Body, IdleLimit};
use crate::pipeline::context::Ctx;
use crate::upstream::{UpstreamResponse, drop_upstream_cookies, relay_response};
use http::Response;
use std::time::Duration;

/// The browser's copy of an answer from any service but Auth (whose
/// answers go through [`relay_auth`](super::auth_answer::relay_auth)):
/// streamed, without the upstream's cookies that would clash with the
/// proxy's. Not an `async fn`: nothing here waits, and a future would move
/// the response in and out of its state on every request.
pub fn relay_streamed(ctx: &Ctx<'_>, upstream: UpstreamResponse) -> Response<Body> {
    let mut response = relay_response(upstream, idle_limit(ctx));
    let cookie_name = &ctx.app.config.cookie_name;
    drop_upstream_cookies(response.headers_mut(), cookie_name, false, &[]);
    response
}

/// The idle limit for relayed bodies, on the connection's coarse timer.
pub fn idle_limit(ctx: &Ctx) -> IdleLimit {
    IdleLimit {
        timeout: Duration::from_secs(ctx.app.config.limits.idle_timeout),
        timer: ctx.lane.timer().clone(),
    }
}
