//! Rewriting a browser request into the request sent to Supabase.
//!
//! The proxy decides `apikey` and `Authorization`; the browser's are dropped.
//! The proxy's own cookie and hop-by-hop headers are removed, and
//! `X-Forwarded-For/Proto/Host` describe the browser's connection.

use crate::body::Body;
use http::header::{AUTHORIZATION, COOKIE, HOST, HeaderName, HeaderValue};
use http::{HeaderMap, Request, request};
use sbp_core::http::{is_hop_by_hop, strip_cookie};

static APIKEY: HeaderName = HeaderName::from_static("apikey");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// What the proxy decided about a forwarded request.
pub struct Forward<'a> {
    /// Absolute upstream URI.
    pub uri: String,
    /// The token for `Authorization: Bearer` (the session's, or the anon key).
    pub bearer: &'a str,
    pub anon_key: &'a str,
    pub cookie_name: &'a str,
    pub client_ip: String,
    /// `http` or `https`: how the browser reached the proxy.
    pub proto: &'static str,
}

fn header(value: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(value).ok()
}

/// The headers to send upstream.
fn forwarded_headers(incoming: &HeaderMap, forward: &Forward<'_>) -> HeaderMap {
    let connection: Vec<&str> = incoming
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let mut out = HeaderMap::with_capacity(incoming.len() + 4);
    for (name, value) in incoming {
        let replaced = [&HOST, &AUTHORIZATION, &COOKIE, &APIKEY]
            .into_iter()
            .chain([
                &X_FORWARDED_FOR,
                &X_FORWARDED_PROTO,
                &X_FORWARDED_HOST,
                &FORWARDED,
            ])
            .any(|h| h == name);
        if !replaced && !is_hop_by_hop(name.as_str(), connection.iter().copied()) {
            out.append(name.clone(), value.clone());
        }
    }
    let cookies: Vec<&str> = incoming
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if let Some(kept) =
        strip_cookie(&cookies.join("; "), forward.cookie_name).and_then(|c| header(&c))
    {
        out.insert(COOKIE, kept);
    }
    if let Some(v) = header(forward.anon_key) {
        out.insert(APIKEY.clone(), v);
    }
    if let Some(v) = header(&format!("Bearer {}", forward.bearer)) {
        out.insert(AUTHORIZATION, v);
    }
    if let Some(v) = header(&forward.client_ip) {
        out.insert(X_FORWARDED_FOR.clone(), v);
    }
    out.insert(
        X_FORWARDED_PROTO.clone(),
        HeaderValue::from_static(forward.proto),
    );
    if let Some(host) = incoming.get(HOST) {
        out.insert(X_FORWARDED_HOST.clone(), host.clone());
    }
    out
}

/// The upstream request for `parts` and `body`.
pub fn forward_request(parts: &request::Parts, body: Body, forward: &Forward<'_>) -> Request<Body> {
    let mut builder = Request::builder()
        .method(parts.method.clone())
        .uri(forward.uri.as_str());
    if let Some(headers) = builder.headers_mut() {
        *headers = forwarded_headers(&parts.headers, forward);
    }
    builder.body(body).unwrap_or_else(|_| {
        // Only an invalid URI fails here; the path came from a parsed request URI.
        Request::new(crate::body::empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_credentials_cookie_and_forwarding_headers() {
        let (parts, _) = Request::builder()
            .uri("/rest/v1/todos")
            .header(HOST, "app.example.com")
            .header(AUTHORIZATION, "Bearer browser-token")
            .header("apikey", "browser-key")
            .header(COOKIE, "a=1; sb-session=secret")
            .header("x-forwarded-for", "6.6.6.6")
            .header("connection", "keep-alive, x-hop")
            .header("x-hop", "1")
            .header("prefer", "return=representation")
            .body(())
            .unwrap()
            .into_parts();
        let forward = Forward {
            uri: "http://127.0.0.1:1/rest/v1/todos".into(),
            bearer: "upstream-token",
            anon_key: "anon",
            cookie_name: "sb-session",
            client_ip: "10.0.0.1".into(),
            proto: "https",
        };
        let h = forwarded_headers(&parts.headers, &forward);
        assert_eq!(h[AUTHORIZATION], "Bearer upstream-token");
        assert_eq!(h["apikey"], "anon");
        assert_eq!(h[COOKIE], "a=1");
        assert_eq!(h["x-forwarded-for"], "10.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "app.example.com");
        assert_eq!(h["prefer"], "return=representation");
        assert!(h.get(HOST).is_none() && h.get("connection").is_none() && h.get("x-hop").is_none());
    }
}
