//! Relaying Auth's answers to the browser: Supabase tokens outside a token
//! response (a nested `session`, a redirect URL of the implicit flow) are
//! removed, so no Auth answer ever hands the browser a real token.

use crate::body::{Body, read_limited};
use crate::pipeline::context::Ctx;
use crate::pipeline::forward::idle_limit;
use crate::upstream::{UpstreamResponse, relay_response, replace_body};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue, LOCATION};
use http::{Response, response};
use sbp_core::ProxyError;
use sbp_core::auth::{scrub_json, scrub_location};

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

/// A JSON body without secret fields (unchanged when it had none or is not JSON).
pub fn scrub_body(bytes: Bytes) -> Bytes {
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return bytes;
    };
    if !scrub_json(&mut value) {
        return bytes;
    }
    tracing::warn!("Auth answered with tokens outside a token response; they were removed");
    Bytes::from(value.to_string())
}

fn is_json(parts: &response::Parts) -> bool {
    parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.contains("json"))
}

/// Relays an answer from Auth with every token removed.
pub async fn relay_auth(
    ctx: &Ctx,
    upstream: UpstreamResponse,
) -> Result<Response<Body>, ProxyError> {
    let (mut parts, body) = upstream.into_parts();
    scrub_redirect(&mut parts);
    if !is_json(&parts) {
        return Ok(relay_response(
            Response::from_parts(parts, body),
            idle_limit(ctx),
        ));
    }
    let bytes = read_limited(body, ctx.app.config.limits.max_auth_response).await?;
    Ok(replace_body(parts, scrub_body(bytes)))
}
