//! Reading Auth's answers before anything of them reaches the browser.
//!
//! The proxy never relays an Auth answer it has not read: each one is read
//! whole (within `PROXY_MAX_AUTH_RESPONSE`), decoded when a CDN encoded it
//! anyway, and then passed on only as core's answer policy allows: tokens
//! scrubbed from JSON and from a redirect's `Location`, a redirect's body
//! dropped, and an answer the proxy cannot read refused with 502
//! `upstream_unreadable`.

use crate::body::{Body, read_decoded};
use crate::pipeline::context::Ctx;
use crate::upstream::{UpstreamResponse, drop_upstream_cookies, replace_body};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue, LOCATION};
use http::{Response, response};
use sbp_core::ProxyError;
use sbp_core::auth::{BrowserBody, browser_body, scrub_location};

/// An Auth answer, read whole and decoded.
pub struct AuthAnswer {
    pub parts: response::Parts,
    pub body: Bytes,
}

/// Reads an Auth answer whole and undoes any content coding, within
/// `PROXY_MAX_AUTH_RESPONSE` of decoded size.
pub async fn read_answer(
    ctx: &Ctx<'_>,
    upstream: UpstreamResponse,
) -> Result<AuthAnswer, ProxyError> {
    let (mut parts, body) = upstream.into_parts();
    let limit = ctx.app.config.limits.max_auth_response;
    let body = read_decoded(&mut parts, body, limit).await?;
    Ok(AuthAnswer { parts, body })
}

fn unreadable(why: &str) -> ProxyError {
    tracing::warn!(
        why,
        "an Auth answer could not be read; it was not passed on"
    );
    ProxyError::UpstreamUnreadable(why.to_string())
}

/// Removes tokens from a redirect's `Location`.
fn scrub_redirect(parts: &mut response::Parts) {
    let location = parts.headers.get(LOCATION).and_then(|v| v.to_str().ok());
    if let Some(clean) = location.and_then(scrub_location) {
        tracing::warn!(
            "Auth redirected with tokens in the URL (implicit flow); they were removed: use PKCE"
        );
        match HeaderValue::from_str(&clean) {
            Ok(value) => parts.headers.insert(LOCATION, value),
            Err(_) => parts.headers.remove(LOCATION),
        };
    }
}

/// What the browser gets of an Auth answer that is not a token response:
/// tokens removed wherever they were, or 502 when it cannot tell.
pub fn relay_answer(ctx: &Ctx, answer: AuthAnswer) -> Result<Response<Body>, ProxyError> {
    let AuthAnswer { mut parts, body } = answer;
    scrub_redirect(&mut parts);
    drop_upstream_cookies(&mut parts.headers, &ctx.app.config.cookie_name, true, &[]);
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let body = match browser_body(parts.status.as_u16(), content_type, &body) {
        Ok(BrowserBody::Unchanged) => body,
        Ok(BrowserBody::Empty) => {
            parts.headers.remove(CONTENT_TYPE);
            Bytes::new()
        }
        Ok(BrowserBody::Scrubbed(clean)) => {
            tracing::warn!("Auth answered with tokens outside a token response; they were removed");
            Bytes::from(clean)
        }
        Err(why) => return Err(unreadable(why.0)),
    };
    Ok(replace_body(parts, body))
}

/// Reads and relays an answer from Auth with every token removed.
pub async fn relay_auth(
    ctx: &Ctx<'_>,
    upstream: UpstreamResponse,
) -> Result<Response<Body>, ProxyError> {
    let answer = read_answer(ctx, upstream).await?;
    relay_answer(ctx, answer)
}
