//! Relaying Supabase's response to the browser.
//!
//! The headers are cleaned by core's policy (`sbp_core::http::clean_headers`:
//! hop-by-hop headers and Supabase's own CORS headers), and any upstream
//! cookie that names or carries a token is dropped.

use super::UpstreamResponse;
use crate::body::{Body, IdleLimit};
use http::header::{HeaderMap, HeaderValue, SET_COOKIE};
use http::{Response, response};
use sbp_core::auth::upstream_cookie_allowed;
use sbp_core::http::clean_headers;

/// The upstream response, streamed (failing if it stalls past `limit`),
/// with its headers cleaned.
pub fn relay_response(response: UpstreamResponse, limit: IdleLimit) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    clean_headers(&mut parts.headers);
    Response::from_parts(parts, crate::body::relay(body, limit))
}

/// Drops the upstream `Set-Cookie`s core's policy refuses (token cookies
/// and the proxy's own everywhere; on Auth's answers, `from_auth`, any that
/// carries a token), and any that contains one of `secrets`.
pub fn drop_upstream_cookies(
    headers: &mut HeaderMap,
    proxy_cookie: &str,
    from_auth: bool,
    secrets: &[&str],
) {
    let allowed = |value: &HeaderValue| {
        value.to_str().is_ok_and(|text| {
            upstream_cookie_allowed(text, proxy_cookie, from_auth)
                && !secrets.iter().any(|s| !s.is_empty() && text.contains(s))
        })
    };
    let mut cookies = headers.get_all(SET_COOKIE).iter();
    // Nearly every answer has no cookie: nothing to look at.
    let Some(first) = cookies.next() else {
        return;
    };
    let verdicts: Vec<(bool, &HeaderValue)> = std::iter::once(first)
        .chain(cookies)
        .map(|value| (allowed(value), value))
        .collect();
    if verdicts.iter().all(|(ok, _)| *ok) {
        return;
    }
    let kept: Vec<HeaderValue> = verdicts
        .into_iter()
        .filter(|(ok, _)| *ok)
        .map(|(_, value)| value.clone())
        .collect();
    tracing::warn!("Supabase set a cookie that names or carries a token; it was dropped");
    headers.remove(SET_COOKIE);
    for value in kept {
        headers.append(SET_COOKIE, value);
    }
}

/// A response whose body the proxy read whole (and may have replaced).
pub fn replace_body(mut parts: response::Parts, body: bytes::Bytes) -> Response<Body> {
    clean_headers(&mut parts.headers);
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Response::from_parts(parts, crate::body::full(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_cookies_are_dropped_and_others_kept() {
        let mut headers = HeaderMap::new();
        for cookie in [
            "theme=dark; Path=/",
            "sb-access-token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.sig; Path=/",
            "sb-session=forged",
            "lang=en",
            "opaque=the-refresh-token",
        ] {
            headers.append(SET_COOKIE, HeaderValue::from_static(cookie));
        }
        drop_upstream_cookies(&mut headers, "sb-session", true, &["the-refresh-token"]);
        let kept: Vec<_> = headers.get_all(SET_COOKIE).iter().collect();
        assert_eq!(kept, ["theme=dark; Path=/", "lang=en"]);
    }
}
