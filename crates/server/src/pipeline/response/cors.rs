//! CORS on the way out: core decides ([`sbp_core::cors`]), this writes its
//! headers into the proxy's responses.

use crate::body::{Body, empty};
use crate::pipeline::response::respond;
use http::header::HeaderMap;
use http::{Request, Response, StatusCode};
use sbp_core::ProxyError;
use sbp_core::config::Config;
use sbp_core::cors::{self, Preflight};

/// The answer to a CORS preflight, or `None` when the request is not one.
pub fn preflight<B>(config: &Config, request: &Request<B>) -> Option<Response<Body>> {
    match cors::preflight(config, request.method(), request.headers())? {
        Preflight::Refused => Some(respond::error(&ProxyError::OriginNotAllowed)),
        Preflight::Allowed(headers) => {
            let mut response = Response::new(empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            headers.write(response.headers_mut());
            Some(response)
        }
    }
}

/// Adds the CORS headers for an allowed origin to a response.
pub fn apply(config: &Config, request_headers: &HeaderMap, response: &mut HeaderMap) {
    if let Some(headers) = cors::answer(config, request_headers) {
        headers.write(response);
    }
}
