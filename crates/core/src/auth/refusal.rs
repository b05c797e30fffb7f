//! Reading Auth's refusals: whether an answer to a refresh (or to a check
//! of a minted session) says that the Auth session is gone for good, and
//! what an answer to the refresh grant means for the session
//! ([`read_refresh_answer`]).
//!
//! Only Auth's own error codes say so. Anything else (the gateway's
//! `{"message":"Invalid API key"}` after a key rotation, a firewall's HTML
//! page, a 404 from a misrouted path, a 5xx, a rate limit, an unreadable
//! body) says nothing about the session, which is then kept.
//!
//! Auth has answered in three shapes over its versions:
//! - `{"code": "<error_code>", "message"}` with `X-Supabase-Api-Version: 2024-01-01`;
//! - `{"code": <status>, "error_code", "msg"}` otherwise;
//! - in the refresh grant before v2.164 (it had no error codes yet),
//!   `{"error": "invalid_grant", "error_description": "Invalid Refresh Token: ..."}`.
//!
//! The `x-sb-error-code` header, when present, carries the code of the first two.

use super::{SignIn, read_token_response};
use serde_json::Value;

/// What Auth's answer to a session's refresh grant means for the session.
#[derive(Debug, Clone)]
pub enum RefreshAnswer {
    /// New tokens (and the user as Auth has it now).
    Tokens(Box<SignIn>),
    /// Auth said the session is gone, with this session-ending code: the
    /// session ends.
    EndsSession(&'static str),
    /// Any other answer: the session is kept, to be used while its token is
    /// valid and refreshed later.
    Keep(Kept),
}

/// Why a refresh answer leaves the session as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// A `200` whose body is not a token response.
    UnreadableTokens,
    /// A refusal that does not say the session is gone.
    Refused,
}

/// Reads Auth's answer to `grant_type=refresh_token` (`status`, the
/// `x-sb-error-code` header, the body).
pub fn read_refresh_answer(status: u16, error_code: Option<&str>, body: &[u8]) -> RefreshAnswer {
    if status == 200 {
        return match read_token_response(body) {
            Some(grant) => RefreshAnswer::Tokens(Box::new(grant)),
            None => RefreshAnswer::Keep(Kept::UnreadableTokens),
        };
    }
    match session_gone(status, error_code, body) {
        Some(code) => RefreshAnswer::EndsSession(code),
        None => RefreshAnswer::Keep(Kept::Refused),
    }
}

/// Auth's error codes that mean the session (or its user) no longer exists.
pub const SESSION_ENDING_CODES: [&str; 6] = [
    "session_not_found",
    "refresh_token_not_found",
    "refresh_token_already_used",
    "user_not_found",
    "user_banned",
    "session_expired",
];

/// The older `invalid_grant` descriptions and the code each became.
const OLDER_DESCRIPTIONS: [(&str, &str); 5] = [
    ("Refresh Token Not Found", "refresh_token_not_found"),
    ("Already Used", "refresh_token_already_used"),
    ("User Banned", "user_banned"),
    ("Session Expired", "session_expired"),
    ("No Valid Session Found", "session_not_found"),
];

/// The session-ending error code of Auth's answer (`status`, the
/// `x-sb-error-code` header, the body), or `None` when the answer does not
/// say that the session is gone.
pub fn session_gone(status: u16, error_code: Option<&str>, body: &[u8]) -> Option<&'static str> {
    // Auth refuses a dead session with a 4xx; a rate limit or a timeout
    // says nothing about it.
    if !(400..500).contains(&status) || status == 408 || status == 429 {
        return None;
    }
    if let Some(code) = error_code {
        return ending_code(code.trim());
    }
    let body: Value = serde_json::from_slice(body).ok()?;
    let text = |key: &str| body.get(key).and_then(Value::as_str);
    if let Some(code) = text("error_code").or_else(|| text("code")) {
        return ending_code(code);
    }
    if text("error") == Some("invalid_grant") {
        let rest = text("error_description")?.strip_prefix("Invalid Refresh Token: ")?;
        return OLDER_DESCRIPTIONS
            .iter()
            .find(|(description, _)| rest.starts_with(description))
            .map(|(_, code)| *code);
    }
    None
}

fn ending_code(code: &str) -> Option<&'static str> {
    SESSION_ENDING_CODES.iter().copied().find(|c| *c == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gone(status: u16, header: Option<&str>, body: &str) -> Option<&'static str> {
        session_gone(status, header, body.as_bytes())
    }

    #[test]
    fn every_session_ending_code_in_both_current_shapes() {
        for code in SESSION_ENDING_CODES {
            let versioned = format!(r#"{{"code":"{code}","message":"x"}}"#);
            let older = format!(r#"{{"code":400,"error_code":"{code}","msg":"x"}}"#);
            assert_eq!(gone(400, None, &versioned), Some(code), "{versioned}");
            assert_eq!(gone(403, None, &older), Some(code), "{older}");
            assert_eq!(gone(400, Some(code), ""), Some(code), "header alone");
        }
    }

    #[test]
    fn the_pre_error_code_invalid_grant_shape() {
        let older = |description: &str| {
            format!(r#"{{"error":"invalid_grant","error_description":"{description}"}}"#)
        };
        for (description, code) in [
            (
                "Invalid Refresh Token: Refresh Token Not Found",
                "refresh_token_not_found",
            ),
            (
                "Invalid Refresh Token: Already Used",
                "refresh_token_already_used",
            ),
            ("Invalid Refresh Token: User Banned", "user_banned"),
            (
                "Invalid Refresh Token: Session Expired (Inactivity)",
                "session_expired",
            ),
            (
                "Invalid Refresh Token: Session Expired (Revoked by Newer Login)",
                "session_expired",
            ),
        ] {
            assert_eq!(gone(400, None, &older(description)), Some(code));
        }
        assert_eq!(gone(400, None, &older("Invalid login credentials")), None);
        assert_eq!(
            gone(
                400,
                None,
                r#"{"error":"invalid_request","error_description":"Invalid Refresh Token: Already Used"}"#
            ),
            None
        );
    }

    #[test]
    fn answers_that_are_not_auths_keep_the_session() {
        assert_eq!(gone(401, None, r#"{"message":"Invalid API key"}"#), None);
        assert_eq!(
            gone(403, None, "<html><body>Access denied</body></html>"),
            None
        );
        assert_eq!(
            gone(
                404,
                None,
                r#"{"code":404,"error_code":"not_found","msg":"Not Found"}"#
            ),
            None
        );
        assert_eq!(
            gone(400, None, r#"{"code":"validation_failed","message":"x"}"#),
            None
        );
        assert_eq!(gone(400, None, ""), None);
        assert_eq!(gone(400, Some("unexpected_failure"), ""), None);
    }

    #[test]
    fn only_a_4xx_that_is_not_a_rate_limit_or_timeout_ends_a_session() {
        let body = r#"{"code":"session_not_found","message":"x"}"#;
        for status in [200, 302, 408, 429, 500, 502, 503] {
            assert_eq!(gone(status, None, body), None, "{status}");
            assert_eq!(
                gone(status, Some("session_not_found"), ""),
                None,
                "{status}"
            );
        }
    }

    /// A JWT-shaped access token with `sub` and `exp` (the signature is
    /// not read).
    fn access_token() -> String {
        use base64::Engine;
        let part = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
        format!(
            "{}.{}.c2ln",
            part(r#"{"alg":"HS256","typ":"JWT"}"#),
            part(r#"{"sub":"u1","iat":100,"exp":3700}"#)
        )
    }

    #[test]
    fn a_token_response_refreshes() {
        let body = format!(
            r#"{{"access_token":"{}","refresh_token":"r2","expires_in":3600,"user":{{"id":"u1"}}}}"#,
            access_token()
        );
        match read_refresh_answer(200, None, body.as_bytes()) {
            RefreshAnswer::Tokens(grant) => {
                assert_eq!(grant.tokens.refresh_token, "r2");
                assert_eq!(grant.tokens.expires_at, 3700);
                assert_eq!(grant.user["id"], "u1");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_200_without_tokens_keeps_the_session() {
        for body in [
            "",
            "{}",
            r#"{"access_token":"not a jwt","refresh_token":"r"}"#,
        ] {
            assert!(
                matches!(
                    read_refresh_answer(200, None, body.as_bytes()),
                    RefreshAnswer::Keep(Kept::UnreadableTokens)
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn only_a_session_ending_refusal_ends_the_session() {
        let ended = read_refresh_answer(
            400,
            None,
            br#"{"code":"refresh_token_already_used","message":"x"}"#,
        );
        assert!(matches!(
            ended,
            RefreshAnswer::EndsSession("refresh_token_already_used")
        ));
        let by_header = read_refresh_answer(403, Some("user_banned"), b"");
        assert!(matches!(
            by_header,
            RefreshAnswer::EndsSession("user_banned")
        ));
        for (status, body) in [
            (500, r#"{"code":"session_not_found","message":"x"}"#),
            (429, r#"{"code":"session_not_found","message":"x"}"#),
            (401, r#"{"message":"Invalid API key"}"#),
            (400, r#"{"code":"validation_failed","message":"x"}"#),
        ] {
            assert!(
                matches!(
                    read_refresh_answer(status, None, body.as_bytes()),
                    RefreshAnswer::Keep(Kept::Refused)
                ),
                "{status} {body}"
            );
        }
    }

    #[test]
    fn the_header_decides_over_the_body() {
        let body = r#"{"code":"session_not_found","message":"x"}"#;
        assert_eq!(gone(400, Some("over_request_rate_limit"), body), None);
        assert_eq!(
            gone(400, Some(" user_banned "), "<html>"),
            Some("user_banned")
        );
    }
}
