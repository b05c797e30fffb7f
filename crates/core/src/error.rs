//! The proxy's own errors and their one mapping to an HTTP answer.
//!
//! Every error the proxy answers itself becomes a status and a JSON body
//! `{"error": code, "message": ...}`. The mapping is an exhaustive `match`:
//! adding a variant forces a decision about its status.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProxyError {
    #[error("Unauthenticated")]
    Unauthenticated,
    #[error("no such session")]
    SessionNotFound,
    #[error("no such endpoint")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("this origin is not allowed to call the proxy")]
    OriginNotAllowed,
    #[error("cross-site request refused: {0}")]
    CrossSiteRefused(String),
    #[error("too many requests; retry in {0} s")]
    RateLimited(u64),
    #[error("the request URL is too long")]
    UriTooLong,
    #[error("the request body stalled past the idle timeout")]
    RequestTimeout,
    #[error("the request body is too large")]
    BodyTooLarge,
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("the session store is unavailable")]
    StoreUnavailable,
    #[error("Supabase could not be reached: {0}")]
    UpstreamUnavailable(String),
    #[error("Supabase's answer could not be read, so it was not passed on: {0}")]
    UpstreamUnreadable(String),
    #[error("Supabase did not answer in time")]
    UpstreamTimeout,
    #[error("the session's token could not be refreshed; try again shortly")]
    RefreshUnavailable,
    #[error("too many WebSockets are open; try again later")]
    TooManySockets,
    #[error("internal error")]
    Internal,
}

impl ProxyError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            ProxyError::Unauthenticated => 401,
            ProxyError::SessionNotFound => 404,
            ProxyError::NotFound => 404,
            ProxyError::MethodNotAllowed => 405,
            ProxyError::OriginNotAllowed => 403,
            ProxyError::CrossSiteRefused(_) => 403,
            ProxyError::RateLimited(_) => 429,
            ProxyError::UriTooLong => 414,
            ProxyError::RequestTimeout => 408,
            ProxyError::BodyTooLarge => 413,
            ProxyError::BadRequest(_) => 400,
            ProxyError::StoreUnavailable => 503,
            ProxyError::UpstreamUnavailable(_) => 502,
            ProxyError::UpstreamUnreadable(_) => 502,
            ProxyError::UpstreamTimeout => 504,
            ProxyError::RefreshUnavailable => 503,
            ProxyError::TooManySockets => 503,
            ProxyError::Internal => 500,
        }
    }

    /// A stable machine-readable code for the `error` field.
    pub fn code(&self) -> &'static str {
        match self {
            ProxyError::Unauthenticated => "unauthenticated",
            ProxyError::SessionNotFound => "session_not_found",
            ProxyError::NotFound => "not_found",
            ProxyError::MethodNotAllowed => "method_not_allowed",
            ProxyError::OriginNotAllowed => "origin_not_allowed",
            ProxyError::CrossSiteRefused(_) => "cross_site_refused",
            ProxyError::RateLimited(_) => "rate_limited",
            ProxyError::UriTooLong => "uri_too_long",
            ProxyError::RequestTimeout => "request_timeout",
            ProxyError::BodyTooLarge => "body_too_large",
            ProxyError::BadRequest(_) => "bad_request",
            ProxyError::StoreUnavailable => "store_unavailable",
            ProxyError::UpstreamUnavailable(_) => "upstream_unavailable",
            ProxyError::UpstreamUnreadable(_) => "upstream_unreadable",
            ProxyError::UpstreamTimeout => "upstream_timeout",
            ProxyError::RefreshUnavailable => "refresh_unavailable",
            ProxyError::TooManySockets => "too_many_sockets",
            ProxyError::Internal => "internal_error",
        }
    }

    /// The JSON body `{"error": code, "message": ...}`.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "error": self.code(),
            "message": self.to_string(),
        }))
        .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_code_and_message() {
        let body: serde_json::Value =
            serde_json::from_slice(&ProxyError::Unauthenticated.body()).unwrap();
        assert_eq!(body["error"], "unauthenticated");
        assert_eq!(body["message"], "Unauthenticated");
        assert_eq!(ProxyError::Unauthenticated.status(), 401);
        assert_eq!(ProxyError::UpstreamUnavailable("x".into()).status(), 502);
    }
}
