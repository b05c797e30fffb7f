//! Relaying Supabase's response to the browser.
//!
//! Hop-by-hop headers are dropped, and so are Supabase's own CORS headers:
//! the proxy sets its own for the origins it allows.

use crate::body::Body;
use http::{Response, response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use sbp_core::http::is_hop_by_hop;

/// Whether a response header is Supabase's CORS policy, which the proxy replaces.
pub fn is_cors_header(name: &str) -> bool {
    name.starts_with("access-control-")
}

/// The upstream response, streamed, with its headers cleaned.
pub fn relay_response(response: Response<Incoming>) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    clean_headers(&mut parts);
    Response::from_parts(parts, body.map_err(Into::into).boxed())
}

/// A response whose body the proxy read whole (and may have replaced).
pub fn replace_body(mut parts: response::Parts, body: bytes::Bytes) -> Response<Body> {
    clean_headers(&mut parts);
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Response::from_parts(parts, crate::body::full(body))
}

/// Drops hop-by-hop headers and Supabase's CORS headers.
fn clean_headers(parts: &mut response::Parts) {
    let connection: Vec<String> = parts
        .headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    let drop: Vec<http::HeaderName> = parts
        .headers
        .keys()
        .filter(|name| {
            is_cors_header(name.as_str())
                || is_hop_by_hop(name.as_str(), connection.iter().map(String::as_str))
        })
        .cloned()
        .collect();
    for name in drop {
        parts.headers.remove(name);
    }
}
