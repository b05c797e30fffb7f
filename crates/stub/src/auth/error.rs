//! Auth's error answers: `{code, error_code, msg}`, or `{code, message}` when
//! the client sent `X-Supabase-Api-Version: 2024-01-01`, always with the
//! `x-sb-error-code` header.

use http::{HeaderValue, Response, StatusCode};
use serde_json::{Value, json};

use crate::response::{StubBody, json};

/// An Auth error: status, machine-readable code and human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthError {
    pub status: StatusCode,
    pub code: &'static str,
    pub msg: String,
    /// Adds `weak_password: {reasons: ["length"]}` (sign-up and password change).
    pub weak_password: bool,
}

impl AuthError {
    pub fn new(status: StatusCode, code: &'static str, msg: impl Into<String>) -> Self {
        AuthError {
            status,
            code,
            msg: msg.into(),
            weak_password: false,
        }
    }

    pub fn bad_request(code: &'static str, msg: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, msg)
    }

    pub fn validation(msg: impl Into<String>) -> Self {
        Self::bad_request("validation_failed", msg)
    }

    pub fn weak_password() -> Self {
        AuthError {
            weak_password: true,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "weak_password",
                "Password should be at least 6 characters.",
            )
        }
    }

    pub fn unexpected(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "unexpected_failure", msg)
    }

    /// The HTTP answer, in the shape the client's API version asks for.
    pub fn into_response(self, versioned: bool) -> Response<StubBody> {
        let mut body = if versioned {
            json!({"code": self.code, "message": self.msg})
        } else {
            json!({"code": self.status.as_u16(), "error_code": self.code, "msg": self.msg})
        };
        if self.weak_password
            && let Value::Object(map) = &mut body
        {
            map.insert("weak_password".to_owned(), json!({"reasons": ["length"]}));
        }
        let mut response = json(self.status, &body);
        let headers = response.headers_mut();
        headers.insert("x-sb-error-code", HeaderValue::from_static(self.code));
        if versioned {
            // GoTrue echoes the API version it answered in (HandleResponseError).
            headers.insert(
                "x-supabase-api-version",
                HeaderValue::from_static("2024-01-01"),
            );
        }
        response
    }
}

/// Whether the request asked for the 2024-01-01 error shape (or a later API version).
pub(crate) fn is_versioned(api_version: Option<&str>) -> bool {
    api_version.is_some_and(|v| {
        let v = v.trim();
        v.len() == 10 && v.as_bytes()[4] == b'-' && v >= "2024-01-01"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_version_dates_from_2024_select_the_new_shape() {
        assert!(is_versioned(Some("2024-01-01")));
        assert!(is_versioned(Some("2025-06-30")));
        assert!(!is_versioned(Some("2023-12-31")));
        assert!(!is_versioned(Some("garbage")));
        assert!(!is_versioned(None));
    }
}
