//! Which requests may be sent again on a fresh connection after an upstream
//! connection took one and closed without answering (the upstream's
//! keep-alive timeout crossing the request on its way).

use http::Method;

/// Whether a request that a connection took and closed without answering
/// may be sent once more: an idempotent method (RFC 9110, section 9.2.2)
/// and no body (a streamed body cannot be sent twice).
pub fn may_replay(method: &Method, has_body: bool) -> bool {
    is_idempotent(method) && !has_body
}

/// The methods RFC 9110 (section 9.2.2) defines as idempotent.
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotent_methods_without_a_body_may_be_replayed() {
        for method in [
            Method::GET,
            Method::HEAD,
            Method::OPTIONS,
            Method::TRACE,
            Method::PUT,
            Method::DELETE,
        ] {
            assert!(may_replay(&method, false), "{method}");
        }
    }

    #[test]
    fn other_methods_and_requests_with_a_body_are_not() {
        for method in [Method::POST, Method::PATCH, Method::CONNECT] {
            assert!(!may_replay(&method, false), "{method}");
        }
        assert!(!may_replay(&Method::from_bytes(b"PURGE").unwrap(), false));
        assert!(!may_replay(&Method::PUT, true), "a body is not sent twice");
        assert!(!may_replay(&Method::GET, true));
    }
}
