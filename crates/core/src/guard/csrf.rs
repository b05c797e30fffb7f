//! Cross-site request forgery: a cookie authenticates automatically, so every
//! unsafe request that carries it must come from an allowed origin.
//!
//! The rule: a request with an unsafe method that carries the session cookie,
//! or that signs in (login CSRF), is allowed only when its `Origin` (or,
//! without `Origin`, the origin of its `Referer`) is an allowed origin. A
//! request with neither header is refused too: browsers send `Origin` on
//! every cross-origin and same-origin POST, so only non-browser clients omit
//! it, and they can send it explicitly.

use http::Method;

/// The verdict on one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CsrfVerdict {
    /// Not subject to the check, or from an allowed origin.
    Allowed,
    /// Refused; the text says why.
    Refused(String),
}

/// Methods that change state (everything but GET, HEAD, OPTIONS and TRACE).
pub fn is_unsafe(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// The origin of a `Referer` URL: `scheme://host[:port]`.
fn referer_origin(referer: &str) -> Option<String> {
    let uri: http::Uri = referer.parse().ok()?;
    Some(format!("{}://{}", uri.scheme_str()?, uri.authority()?))
}

/// Whether a request is subject to the check at all: an unsafe method that
/// carries the cookie or signs in. Only then are its `Origin` and `Referer`
/// needed.
pub fn csrf_applies(method: &Method, carries_cookie: bool, signs_in: bool) -> bool {
    is_unsafe(method) && (carries_cookie || signs_in)
}

/// Checks one request. `carries_cookie` is whether the proxy's cookie is
/// present at all (valid or not); `signs_in` whether it is a sign-in call.
pub fn check_csrf(
    method: &Method,
    carries_cookie: bool,
    signs_in: bool,
    origin: Option<&str>,
    referer: Option<&str>,
    origin_allowed: impl Fn(&str) -> bool,
) -> CsrfVerdict {
    if !csrf_applies(method, carries_cookie, signs_in) {
        return CsrfVerdict::Allowed;
    }
    match (origin, referer) {
        (Some(origin), _) if origin_allowed(origin) => CsrfVerdict::Allowed,
        (Some(origin), _) => CsrfVerdict::Refused(format!("origin `{origin}` is not allowed")),
        (None, Some(referer)) => match referer_origin(referer) {
            Some(o) if origin_allowed(&o) => CsrfVerdict::Allowed,
            _ => CsrfVerdict::Refused("the referer is not from an allowed origin".into()),
        },
        (None, None) => CsrfVerdict::Refused(
            "an Origin header is required (send the app's origin from non-browser clients)".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Origin;

    fn allowed() -> Vec<Origin> {
        vec![Origin::parse("https://app.example.com").unwrap()]
    }

    fn check(
        method: Method,
        cookie: bool,
        sign_in: bool,
        origin: Option<&str>,
        referer: Option<&str>,
    ) -> bool {
        check_csrf(&method, cookie, sign_in, origin, referer, |o| {
            allowed().iter().any(|a| a.matches(o))
        }) == CsrfVerdict::Allowed
    }

    #[test]
    fn safe_methods_and_cookieless_calls_pass() {
        assert!(check(
            Method::GET,
            true,
            false,
            Some("https://evil.example"),
            None
        ));
        assert!(check(
            Method::POST,
            false,
            false,
            Some("https://evil.example"),
            None
        ));
    }

    #[test]
    fn unsafe_requests_with_the_cookie_need_an_allowed_origin() {
        assert!(check(
            Method::POST,
            true,
            false,
            Some("https://app.example.com"),
            None
        ));
        assert!(!check(
            Method::POST,
            true,
            false,
            Some("https://evil.example"),
            None
        ));
        assert!(!check(Method::DELETE, true, false, Some("null"), None));
        assert!(!check(Method::PATCH, true, false, None, None));
        assert!(check(
            Method::PUT,
            true,
            false,
            None,
            Some("https://app.example.com/page?x=1")
        ));
        assert!(!check(
            Method::PUT,
            true,
            false,
            None,
            Some("https://app.example.com.evil.example/")
        ));
        assert!(!check(Method::PUT, true, false, None, Some("not a url")));
        // Origin wins over Referer.
        assert!(!check(
            Method::POST,
            true,
            false,
            Some("https://evil.example"),
            Some("https://app.example.com/")
        ));
    }

    #[test]
    fn sign_in_is_checked_without_a_cookie() {
        assert!(!check(
            Method::POST,
            false,
            true,
            Some("https://evil.example"),
            None
        ));
        assert!(check(
            Method::POST,
            false,
            true,
            Some("https://app.example.com"),
            None
        ));
    }
}
