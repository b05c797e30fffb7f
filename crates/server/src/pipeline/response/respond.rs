//! Building the responses the proxy answers itself.

use crate::body::{Body, full};
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, X_CONTENT_TYPE_OPTIONS};
use http::{Response, StatusCode};
use sbp_core::ProxyError;
use sbp_core::auth::AuthError;

/// A JSON response that must never be cached.
pub fn json_bytes(status: u16, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // Room for these three, the CORS ones and a cookie: allocated once.
    let headers = response.headers_mut();
    *headers = http::HeaderMap::with_capacity(10);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

pub fn json(status: u16, value: &serde_json::Value) -> Response<Body> {
    json_bytes(status, value.to_string().into_bytes())
}

pub fn error(error: &ProxyError) -> Response<Body> {
    let mut response = json_bytes(error.status(), error.body());
    if let ProxyError::RateLimited(seconds) = error {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from(*seconds));
    }
    response
}

/// An error in Auth's own shape, as the official client expects it.
pub fn auth_error(error: AuthError, versioned: bool) -> Response<Body> {
    let mut response = json_bytes(error.status(), error.body(versioned));
    let headers = response.headers_mut();
    headers.insert(
        "x-sb-error-code",
        HeaderValue::from_static(error.error_code()),
    );
    if versioned {
        // GoTrue echoes the API version it answered in; supabase-js reads
        // the error's `code` only when it sees it.
        headers.insert(
            "x-supabase-api-version",
            HeaderValue::from_static("2024-01-01"),
        );
    }
    response
}

/// `303 See Other` to `location` (the redirect flows' every answer): never
/// cached, and the page it leads to gets no `Referer` naming the code or
/// token hash. A location that is not a valid header value (none that
/// `redirect::safe_next` returns) is a 500.
pub fn see_other(location: &str) -> Response<Body> {
    let Ok(value) = HeaderValue::from_str(location) else {
        return error(&ProxyError::Internal);
    };
    let mut response = Response::new(full(""));
    *response.status_mut() = StatusCode::SEE_OTHER;
    let headers = response.headers_mut();
    headers.insert(http::header::LOCATION, value);
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        http::header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
