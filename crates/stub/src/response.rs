//! Response building: the body type every handler returns and small
//! constructors for JSON, empty and redirect answers.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use percent_encoding::{CONTROLS, utf8_percent_encode};
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

/// A redirect to `location` (302, 303...) as Go's `http.Redirect` writes it,
/// which is how GoTrue answers: non-ASCII bytes of the `Location` are
/// percent-escaped; a GET gets `Content-Type: text/html; charset=utf-8` and
/// the body `<a href="LOCATION, HTML-escaped">Status Text</a>.` and two
/// newlines (a HEAD only the content type, other methods neither). A
/// location that is not a valid header value gives 400.
pub(crate) fn redirect(method: &Method, status: StatusCode, location: &str) -> Response<StubBody> {
    let escaped = utf8_percent_encode(location, CONTROLS).to_string();
    let Ok(value) = HeaderValue::from_str(&escaped) else {
        return json(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({"message": "redirect target is not a valid URL"}),
        );
    };
    let mut response = if *method == Method::GET {
        let body = format!(
            "<a href=\"{}\">{}</a>.\n\n",
            html_escape(location),
            status.canonical_reason().unwrap_or_default()
        );
        bytes(status, GO_HTML, Bytes::from(body))
    } else if *method == Method::HEAD {
        let mut head = empty(status);
        head.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(GO_HTML));
        head
    } else {
        empty(status)
    };
    response.headers_mut().insert(header::LOCATION, value);
    response
}

/// The content type Go's `http.Redirect` sets.
const GO_HTML: &str = "text/html; charset=utf-8";

/// Go's `htmlEscape`: `&`, `<`, `>`, `"` and `'` as entities.
pub(crate) fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// The answer for a path no service owns (Kong's wording).
pub(crate) fn not_found() -> Response<StubBody> {
    json(
        StatusCode::NOT_FOUND,
        &serde_json::json!({"message": "no Route matched with those values"}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn redirects_look_like_gos() {
        let location = "http://app.test/cb#access_token=a.b&type=x'\"<>";
        let get = redirect(&Method::GET, StatusCode::SEE_OTHER, location);
        assert_eq!(get.headers()[header::CONTENT_TYPE], GO_HTML);
        assert_eq!(get.headers()[header::LOCATION], location);
        let body = get.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(
            body,
            "<a href=\"http://app.test/cb#access_token=a.b&amp;type=x&#39;&#34;&lt;&gt;\">See Other</a>.\n\n"
        );
        let post = redirect(&Method::POST, StatusCode::FOUND, "http://app.test/é");
        assert!(post.headers().get(header::CONTENT_TYPE).is_none());
        assert_eq!(post.headers()[header::LOCATION], "http://app.test/%C3%A9");
    }
}
