//! CORS for apps on another origin of the same site.
//!
//! The proxy answers preflights itself and, for origins in
//! `PROXY_ALLOWED_ORIGINS` only, sets `Access-Control-Allow-Origin` to the
//! exact origin with credentials allowed. Supabase's own CORS headers were
//! already removed from the relayed response.

use crate::body::{Body, empty};
use crate::pipeline::response::respond;
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, HeaderMap, HeaderValue, ORIGIN,
    VARY,
};
use http::{Method, Request, Response, StatusCode};
use sbp_core::ProxyError;
use sbp_core::config::Config;

const ALLOWED_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
const EXPOSED_HEADERS: &str = "Content-Range, Content-Profile, Location, X-Supabase-Api-Version, X-Sb-Error-Code, Upload-Offset, Upload-Length, Tus-Resumable";

/// The allowed `Origin` of a request, if it has one.
fn allowed_origin<'a>(config: &Config, headers: &'a HeaderMap) -> Option<&'a HeaderValue> {
    headers
        .get(ORIGIN)
        .filter(|o| o.to_str().is_ok_and(|o| config.origin_allowed(o)))
}

/// The answer to a CORS preflight, or `None` when the request is not one.
pub fn preflight<B>(config: &Config, request: &Request<B>) -> Option<Response<Body>> {
    let headers = request.headers();
    if request.method() != Method::OPTIONS
        || !headers.contains_key(ORIGIN)
        || !headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
    {
        return None;
    }
    let Some(origin) = allowed_origin(config, headers) else {
        return Some(respond::error(&ProxyError::OriginNotAllowed));
    };
    let mut response = Response::new(empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let out = response.headers_mut();
    out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    out.insert(
        ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    out.insert(
        ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOWED_METHODS),
    );
    if let Some(asked) = headers.get(ACCESS_CONTROL_REQUEST_HEADERS) {
        out.insert(ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    out.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    out.insert(VARY, HeaderValue::from_static("Origin"));
    Some(response)
}

/// Adds the CORS headers for an allowed origin to a response.
pub fn apply(config: &Config, request_headers: &HeaderMap, response: &mut HeaderMap) {
    let Some(origin) = allowed_origin(config, request_headers) else {
        return;
    };
    response.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    response.insert(
        ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    response.insert(
        ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED_HEADERS),
    );
    response.append(VARY, HeaderValue::from_static("Origin"));
}
