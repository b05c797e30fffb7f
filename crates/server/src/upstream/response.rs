//! Relaying Supabase's response to the browser.
//!
//! Hop-by-hop headers are dropped, and so are Supabase's own CORS headers
//! (the proxy sets its own for the origins it allows) and any upstream
//! cookie that names or carries a token.

use super::UpstreamResponse;
use crate::body::{Body, IdleLimit};
use http::header::{CACHE_CONTROL, HeaderMap, HeaderValue, SET_COOKIE};
use http::{Response, response};
use sbp_core::auth::upstream_cookie_allowed;
use sbp_core::http::HopByHop;

/// Whether a response header is Supabase's CORS policy, which the proxy replaces.
pub fn is_cors_header(name: &str) -> bool {
    name.starts_with("access-control-")
}

/// The upstream response, streamed (failing if it stalls past `limit`),
/// with its headers cleaned.
pub fn relay_response(response: UpstreamResponse, limit: IdleLimit) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    clean_headers(&mut parts);
    Response::from_parts(parts, crate::body::relay(body, limit))
}

/// Marks a response to a cookie-authenticated request as private, so no
/// shared cache in front of the proxy serves one user's answer to another.
pub fn make_private(headers: &mut HeaderMap) {
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("private"));
        return;
    }
    let kept: Vec<String> = headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|d| {
            let name = d
                .split('=')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            !d.is_empty() && !matches!(name.as_str(), "public" | "s-maxage" | "private")
        })
        .map(str::to_string)
        .collect();
    let value = std::iter::once("private".to_string())
        .chain(kept)
        .collect::<Vec<_>>()
        .join(", ");
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert(CACHE_CONTROL, value);
    }
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
    clean_headers(&mut parts);
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Response::from_parts(parts, crate::body::full(body))
}

/// Drops hop-by-hop headers and Supabase's CORS headers. In one pass, and
/// without allocating when there is one to drop (nearly always just
/// `Connection`).
fn clean_headers(parts: &mut response::Parts) {
    let headers = &mut parts.headers;
    let hop_by_hop = HopByHop::of(headers);
    let mut dropped = headers
        .keys()
        .filter(|name| is_cors_header(name.as_str()) || hop_by_hop.contains(name));
    let Some(first) = dropped.next().cloned() else {
        return;
    };
    let others: Vec<http::HeaderName> = dropped.cloned().collect();
    headers.remove(first);
    for name in others {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cleaned(pairs: &[(&str, &str)]) -> Vec<String> {
        let mut response = Response::new(());
        for (name, value) in pairs {
            response.headers_mut().append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let (mut parts, ()) = response.into_parts();
        clean_headers(&mut parts);
        parts.headers.keys().map(|n| n.to_string()).collect()
    }

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

    #[test]
    fn hop_by_hop_and_cors_headers_are_dropped() {
        assert_eq!(
            cleaned(&[("content-type", "application/json"), ("x-total", "3")]),
            ["content-type", "x-total"],
            "nothing to drop"
        );
        assert_eq!(
            cleaned(&[("connection", "keep-alive"), ("content-type", "text/plain")]),
            ["content-type"]
        );
        assert_eq!(
            cleaned(&[
                ("Connection", "close, X-Hop"),
                ("connection", "keep-alive"),
                ("x-hop", "1"),
                ("access-control-allow-origin", "*"),
                ("access-control-allow-credentials", "true"),
                ("transfer-encoding", "chunked"),
                ("keep-alive", "timeout=5"),
                ("content-range", "0-2/3"),
            ]),
            ["content-range"]
        );
    }
}
