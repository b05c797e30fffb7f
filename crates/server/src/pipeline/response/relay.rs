//! Relaying an upstream answer: Auth's read whole and scrubbed of tokens,
//! every other service's streamed without the upstream's cookies that
//! would clash with the proxy's.

use crate::body::{Body, IdleLimit};
use crate::pipeline::context::Ctx;
use crate::pipeline::response::auth_answer::relay_auth;
use crate::upstream::{UpstreamResponse, drop_upstream_cookies, relay_response};
use http::Response;
use sbp_core::ProxyError;
use sbp_core::route::Service;
use std::time::Duration;

/// The browser's copy of an answer from `service`.
pub async fn relay(
    ctx: &Ctx<'_>,
    service: Service,
    upstream: UpstreamResponse,
) -> Result<Response<Body>, ProxyError> {
    match service {
        Service::Auth => relay_auth(ctx, upstream).await,
        _ => {
            let mut response = relay_response(upstream, idle_limit(ctx));
            let cookie_name = &ctx.app.config.cookie_name;
            drop_upstream_cookies(response.headers_mut(), cookie_name, false, &[]);
            Ok(response)
        }
    }
}

/// The idle limit for relayed bodies, on the connection's coarse timer.
pub fn idle_limit(ctx: &Ctx) -> IdleLimit {
    IdleLimit {
        timeout: Duration::from_secs(ctx.app.config.limits.idle_timeout),
        timer: ctx.lane.timer().clone(),
    }
}
