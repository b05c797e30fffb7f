//! Fault switches that tests flip at any time to make the stub misbehave.

use std::sync::Mutex;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};

use crate::response::{StubBody, bytes};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64};

/// All off by default.
#[derive(Debug, Default)]
pub struct Faults {
    /// 0 = normal; otherwise the refresh grant answers this status (4xx:
    /// `session_not_found`; 5xx: `unexpected_failure`).
    pub refresh_status: AtomicU16,
    /// Sleep this long before answering a refresh grant.
    pub refresh_delay_ms: AtomicU64,
    /// The password grant answers 200 with a truncated, invalid JSON body.
    pub signin_bad_json: AtomicBool,
    /// Auth's JSON answers are gzip-encoded even when the request asked
    /// for no encoding (no `Accept-Encoding`, or `identity`), as some CDNs do.
    pub auth_encode_unasked: AtomicBool,
    /// Auth's JSON answers carry `Content-Encoding: gzip` but their body is
    /// the plain JSON, which is not valid gzip.
    pub auth_bad_gzip: AtomicBool,
    /// 0 = off; otherwise the password grant answers 200 with a gzip body
    /// (whatever the request asked for) that decodes to this many MiB of
    /// JSON whitespace followed by the token response.
    pub signin_gzip_bomb_mib: AtomicU64,
    /// `Set-Cookie` values added to every answer of every service (e.g.
    /// `sb-access-token=x; Path=/` or one naming the proxy's own cookie).
    pub set_cookies: Mutex<Vec<String>>,
    /// When set, the refresh grant answers exactly this (after
    /// `refresh_delay_ms`; it wins over `refresh_status`).
    pub refresh_answer: Mutex<Option<CannedAnswer>>,
    /// When set, `GET /auth/v1/user` answers exactly this.
    pub user_answer: Mutex<Option<CannedAnswer>>,
    /// When set, every `/rest/v1` request gets exactly this (PostgREST, or
    /// the gateway in front of it, down), after `rest_delay_ms`.
    pub rest_answer: Mutex<Option<CannedAnswer>>,
    /// Sleep this long before answering a `/rest/v1` request.
    pub rest_delay_ms: AtomicU64,
}

impl Faults {
    /// Makes the refresh grant answer `answer` (`None`: normally again).
    pub fn set_refresh_answer(&self, answer: Option<CannedAnswer>) {
        *self
            .refresh_answer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = answer;
    }

    pub(crate) fn refresh_answer(&self) -> Option<CannedAnswer> {
        self.refresh_answer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Makes `GET /auth/v1/user` answer `answer` (`None`: normally again).
    pub fn set_user_answer(&self, answer: Option<CannedAnswer>) {
        *self
            .user_answer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = answer;
    }

    pub(crate) fn user_answer(&self) -> Option<CannedAnswer> {
        self.user_answer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Faults {
    /// Makes every `/rest/v1` request answer `answer` (`None`: normally again).
    pub fn set_rest_answer(&self, answer: Option<CannedAnswer>) {
        *self
            .rest_answer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = answer;
    }

    pub(crate) fn rest_answer(&self) -> Option<CannedAnswer> {
        self.rest_answer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// An answer given as is, for what stands between the proxy and Auth (the
/// gateway, a firewall) and for each shape Auth's errors have had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannedAnswer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// The shapes of Auth's error answers over its versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorShape {
    /// `{"code": "<error_code>", "message"}` (API version 2024-01-01).
    Versioned,
    /// `{"code": <status>, "error_code", "msg"}`.
    Unversioned,
    /// The refresh grant before error codes: `{"error": "invalid_grant",
    /// "error_description"}`, no `x-sb-error-code`.
    InvalidGrant,
}

impl CannedAnswer {
    /// The answer as sent.
    pub(crate) fn into_response(self) -> Response<StubBody> {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = bytes(status, "application/json", Bytes::from(self.body));
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::try_from(value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }

    fn new(status: u16, content_type: &str, body: String) -> Self {
        CannedAnswer {
            status,
            headers: vec![("content-type", content_type.to_owned())],
            body,
        }
    }

    /// The API gateway refusing the `apikey` (a rotated or wrong key).
    pub fn gateway_invalid_api_key() -> Self {
        let body = serde_json::json!({
            "message": "Invalid API key",
            "hint": "Double check your Supabase `anon` or `service_role` API key.",
        });
        Self::new(401, "application/json", body.to_string())
    }

    /// A firewall's or CDN's HTML error page.
    pub fn html_page(status: u16) -> Self {
        let body = format!(
            "<html><head><title>{status}</title></head><body><h1>{status}</h1><p>Request blocked.</p></body></html>"
        );
        Self::new(status, "text/html; charset=utf-8", body)
    }

    /// A JSON content type over bytes that are not JSON.
    pub fn unreadable(status: u16) -> Self {
        Self::new(
            status,
            "application/json",
            r#"{"access_token":"eyJhbGciOiJIUz"#.into(),
        )
    }

    /// Auth's own error `code` in `shape` (`message` is the older
    /// shape's description: "Invalid Refresh Token: ...").
    pub fn auth_error(status: u16, code: &str, message: &str, shape: ErrorShape) -> Self {
        let body = match shape {
            ErrorShape::Versioned => serde_json::json!({"code": code, "message": message}),
            ErrorShape::Unversioned => {
                serde_json::json!({"code": status, "error_code": code, "msg": message})
            }
            ErrorShape::InvalidGrant => {
                serde_json::json!({"error": "invalid_grant", "error_description": message})
            }
        };
        let mut answer = Self::new(status, "application/json", body.to_string());
        if shape != ErrorShape::InvalidGrant {
            answer.headers.push(("x-sb-error-code", code.to_owned()));
        }
        answer
    }
}
