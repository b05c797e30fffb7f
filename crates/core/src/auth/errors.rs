//! Auth's own error shapes, for calls the proxy answers in Auth's place.
//!
//! With `X-Supabase-Api-Version: 2024-01-01` (the official client always
//! sends it) Auth answers `{"code": error_code, "message"}`, otherwise
//! `{"code": status, "error_code", "msg"}`; `x-sb-error-code` is always set.

use serde_json::json;

/// An Auth error the proxy answers itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// No session for a call that needs a user (user, logout).
    SessionNotFound,
    /// A refresh grant without a session.
    RefreshTokenNotFound,
}

impl AuthError {
    pub fn status(self) -> u16 {
        match self {
            AuthError::SessionNotFound => 403,
            AuthError::RefreshTokenNotFound => 400,
        }
    }

    pub fn error_code(self) -> &'static str {
        match self {
            AuthError::SessionNotFound => "session_not_found",
            AuthError::RefreshTokenNotFound => "refresh_token_not_found",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            AuthError::SessionNotFound => "Session from session_id claim in JWT does not exist",
            AuthError::RefreshTokenNotFound => "Invalid Refresh Token: Refresh Token Not Found",
        }
    }

    /// The JSON body, in the shape the client's API version expects.
    pub fn body(self, versioned: bool) -> Vec<u8> {
        let value = if versioned {
            json!({"code": self.error_code(), "message": self.message()})
        } else {
            json!({"code": self.status(), "error_code": self.error_code(), "msg": self.message()})
        };
        value.to_string().into_bytes()
    }
}

/// Whether an `X-Supabase-Api-Version` header value asks for the 2024-01-01 shapes.
pub fn wants_versioned_errors(header: Option<&str>) -> bool {
    header.is_some_and(|v| {
        let v = v.trim();
        v.len() == 10 && v >= "2024-01-01"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_shapes() {
        let v: serde_json::Value =
            serde_json::from_slice(&AuthError::RefreshTokenNotFound.body(true)).unwrap();
        assert_eq!(v["code"], "refresh_token_not_found");
        assert!(v["message"].as_str().unwrap().contains("Not Found"));
        let v: serde_json::Value =
            serde_json::from_slice(&AuthError::SessionNotFound.body(false)).unwrap();
        assert_eq!(v["code"], 403);
        assert_eq!(v["error_code"], "session_not_found");
    }

    #[test]
    fn version_header() {
        assert!(wants_versioned_errors(Some("2024-01-01")));
        assert!(!wants_versioned_errors(Some("2023-12-31")));
        assert!(!wants_versioned_errors(Some("garbage")));
        assert!(!wants_versioned_errors(None));
    }
}
