//! The response stage: what happens to every answer on its way to the
//! browser. Upstream answers are relayed ([`relay`]; Auth's read and
//! scrubbed first, [`auth_answer`]); then, for every answer, the proxy's
//! own and its errors ([`respond`]) too, the cookie is set or cleared as
//! the handler said ([`cookie`]) and the CORS headers are added ([`cors`]).

pub mod auth_answer;
mod cookie;
pub mod cors;
pub mod relay;
pub mod respond;

use crate::body::Body;
use crate::pipeline::context::Ctx;
use http::Response;
use sbp_core::ProxyError;

/// The response the browser gets for a handler's answer. Inlined: a call
/// would copy the response in and out.
#[inline]
pub fn finish(ctx: &Ctx, answer: Result<Response<Body>, ProxyError>) -> Response<Body> {
    let mut response = match answer {
        Ok(response) => response,
        Err(e) => respond::error(&e),
    };
    cookie::apply(ctx, &mut response);
    // The app's answers keep the app's own CORS headers.
    if !ctx.for_app {
        cors::apply(&ctx.app.config, &ctx.parts.headers, response.headers_mut());
    }
    response
}
