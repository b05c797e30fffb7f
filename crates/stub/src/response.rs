//! Response building: the body type every handler returns and small
//! constructors for JSON, empty and redirect answers.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use serde_json::Value;

/// The body of every response the stub sends.
pub(crate) type StubBody = BoxBody<Bytes, Infallible>;

/// A response with a fixed body and content type.
pub(crate) fn bytes(
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
) -> Response<StubBody> {
    let mut response = Response::new(Full::new(body).boxed());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, value: &Value) -> Response<StubBody> {
    bytes(status, "application/json", Bytes::from(value.to_string()))
}

/// A response without a body.
pub(crate) fn empty(status: StatusCode) -> Response<StubBody> {
    let mut response = Response::new(Empty::new().boxed());
    *response.status_mut() = status;
    response
}

/// A redirect to `location` (302, 303...). A location that is not a valid header value gives 400.
pub(crate) fn redirect(status: StatusCode, location: &str) -> Response<StubBody> {
    match HeaderValue::from_str(location) {
        Ok(value) => {
            let mut response = empty(status);
            response.headers_mut().insert(header::LOCATION, value);
            response
        }
        Err(_) => json(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({"message": "redirect target is not a valid URL"}),
        ),
    }
}

/// The answer for a path no service owns (Kong's wording).
pub(crate) fn not_found() -> Response<StubBody> {
    json(
        StatusCode::NOT_FOUND,
        &serde_json::json!({"message": "no Route matched with those values"}),
    )
}
