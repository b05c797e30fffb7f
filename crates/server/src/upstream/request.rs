//! Rewriting a browser request into the request sent to Supabase.
//!
//! The proxy decides `apikey` and `Authorization`; the browser's are dropped.
//! Requests whose answers the proxy reads ask for no content coding.
//! An anonymous request carries the anon key as its bearer where the
//! official client sends it so ([`sbp_core::token::ApiKeyKind::is_bearer_on`]), and no
//! `Authorization` elsewhere.
//! The proxy's own cookie and hop-by-hop headers are removed, and
//! `X-Forwarded-For/Proto/Host` describe the browser's connection.

use super::Upstream;
use crate::body::Body;
use bytes::{BufMut, BytesMut};
use http::header::{ACCEPT_ENCODING, AUTHORIZATION, COOKIE, GetAll, HOST, HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use http::{HeaderMap, Request, Uri, request};
use sbp_core::http::{HopByHop, strip_cookie};
use sbp_core::route::Service;

static APIKEY: HeaderName = HeaderName::from_static("apikey");
pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// What the proxy decided about a forwarded request.
pub struct Forward<'a> {
    /// The path relative to the project root (the public base path stripped).
    pub path: &'a str,
    /// The Supabase service the request is for (the route's).
    pub service: Service,
    /// `Bearer <token>`: the session's, or `Upstream::anon_bearer`.
    pub bearer: HeaderValue,
    /// The browser's `Cookie` header without the proxy's cookie
    /// ([`forwarded_cookie`]), if anything is left.
    pub cookie: Option<HeaderValue>,
    /// `X-Forwarded-For`: the client's address.
    pub forwarded_for: Option<HeaderValue>,
    /// `http` or `https`: how the browser reached the proxy.
    pub proto: &'static str,
    /// The proxy reads the answer (Auth's): ask for it unencoded.
    pub read_answer: bool,
}

/// `Bearer <token>` as a header value (`None` if the token is not a valid one).
pub fn bearer(token: &str) -> Option<HeaderValue> {
    let mut value = BytesMut::with_capacity(7 + token.len());
    value.put_slice(b"Bearer ");
    value.put_slice(token.as_bytes());
    HeaderValue::from_maybe_shared(value.freeze()).ok()
}

/// Headers the proxy sets itself (or, `Forwarded`, drops: it describes the
/// browser's connection with `X-Forwarded-*`).
fn is_replaced(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host"
            | "authorization"
            | "cookie"
            | "apikey"
            | "forwarded"
            | "x-forwarded-for"
            | "x-forwarded-proto"
            | "x-forwarded-host"
    )
}

/// The browser's `Cookie` headers as one, without the proxy's cookie;
/// `None` when nothing is left.
pub fn forwarded_cookie(
    cookies: GetAll<'_, HeaderValue>,
    cookie_name: &str,
) -> Option<HeaderValue> {
    let mut headers = cookies.iter().filter_map(|v| v.to_str().ok());
    let first = headers.next()?;
    let kept = match headers.next() {
        None => strip_cookie(first, cookie_name),
        Some(second) => {
            let all: Vec<&str> = [first, second].into_iter().chain(headers).collect();
            strip_cookie(&all.join("; "), cookie_name)
        }
    }?;
    HeaderValue::try_from(kept).ok()
}

/// The headers to send upstream (`Host` is set when the request is sent).
fn forwarded_headers(incoming: &HeaderMap, forward: Forward<'_>, upstream: &Upstream) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(incoming.len() + 6);
    let hop_by_hop = HopByHop::of(incoming);
    // The first `Host`, as `incoming.get(HOST)` gives it: found on the way.
    let mut host = None;
    for (name, value) in incoming {
        if *name == HOST {
            host = host.or(Some(value));
        }
        let coding = forward.read_answer && *name == ACCEPT_ENCODING;
        if !is_replaced(name) && !hop_by_hop.contains(name) && !coding {
            out.append(name.clone(), value.clone());
        }
    }
    if forward.read_answer {
        out.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    }
    if let Some(cookie) = forward.cookie {
        out.insert(COOKIE, cookie);
    }
    out.insert(APIKEY.clone(), upstream.apikey.clone());
    if upstream.anon_key_kind.is_bearer_on(forward.service)
        || forward.bearer != upstream.anon_bearer
    {
        out.insert(AUTHORIZATION, forward.bearer);
    }
    if let Some(client) = forward.forwarded_for {
        out.insert(X_FORWARDED_FOR.clone(), client);
    }
    out.insert(
        X_FORWARDED_PROTO.clone(),
        HeaderValue::from_static(forward.proto),
    );
    if let Some(host) = host {
        out.insert(X_FORWARDED_HOST.clone(), host.clone());
    }
    out
}

/// The upstream URI: the incoming path and query, relative to the project root.
fn upstream_uri(incoming: &Uri, path: &str) -> Uri {
    if incoming.path() == path
        && let Some(path_and_query) = incoming.path_and_query()
    {
        return Uri::from(path_and_query.clone());
    }
    let joined = match incoming.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_string(),
    };
    // The path and query came from a parsed URI, so they parse again.
    PathAndQuery::try_from(joined).map_or_else(|_| Uri::from_static("/"), Uri::from)
}

/// The upstream request for `parts` and `body`.
pub fn forward_request(
    parts: &request::Parts,
    body: Body,
    forward: Forward<'_>,
    upstream: &Upstream,
) -> Request<Body> {
    let mut request = Request::new(body);
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = upstream_uri(&parts.uri, forward.path);
    *request.headers_mut() = forwarded_headers(&parts.headers, forward, upstream);
    request
}

#[cfg(test)]
mod tests {
    use super::*;
    use sbp_core::config::UpstreamUrl;

    fn upstream() -> Upstream {
        let url = UpstreamUrl::parse("http://127.0.0.1:1").unwrap();
        let tls = crate::tls::client_config(None).unwrap();
        Upstream::new(
            url,
            "anon",
            std::time::Duration::from_secs(1),
            tls,
            Default::default(),
        )
        .unwrap()
    }

    /// The service a path is forwarded to, as the pipeline classifies it.
    fn service_of(path: &str) -> Service {
        match sbp_core::route::classify(&http::Method::GET, path, None, "").route {
            sbp_core::route::Route::Forward(service) => service,
            route => panic!("{path} is not forwarded: {route:?}"),
        }
    }

    fn forward<'a>(path: &'a str, incoming: &HeaderMap) -> Forward<'a> {
        Forward {
            path,
            service: service_of(path),
            bearer: bearer("upstream-token").unwrap(),
            cookie: forwarded_cookie(incoming.get_all(COOKIE), "sb-session"),
            forwarded_for: Some(HeaderValue::from_static("10.0.0.1")),
            proto: "https",
            read_answer: false,
        }
    }

    #[test]
    fn rewrites_credentials_cookie_and_forwarding_headers() {
        let (parts, _) = Request::builder()
            .uri("/rest/v1/todos")
            .header(HOST, "app.example.com")
            .header(AUTHORIZATION, "Bearer browser-token")
            .header("apikey", "browser-key")
            .header(COOKIE, "a=1; sb-session=secret")
            .header(COOKIE, "b=2")
            .header("x-forwarded-for", "6.6.6.6")
            .header("connection", "keep-alive, x-hop")
            .header("x-hop", "1")
            .header("prefer", "return=representation")
            .body(())
            .unwrap()
            .into_parts();
        let h = forwarded_headers(
            &parts.headers,
            forward("/rest/v1/todos", &parts.headers),
            &upstream(),
        );
        assert_eq!(h[AUTHORIZATION], "Bearer upstream-token");
        assert_eq!(h["apikey"], "anon");
        assert_eq!(h.get_all(COOKIE).iter().collect::<Vec<_>>(), ["a=1; b=2"]);
        assert_eq!(h["x-forwarded-for"], "10.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "app.example.com");
        assert_eq!(h["prefer"], "return=representation");
        assert!(h.get(HOST).is_none() && h.get("connection").is_none() && h.get("x-hop").is_none());
    }

    #[test]
    fn answers_the_proxy_reads_are_asked_for_unencoded() {
        let (parts, _) = Request::builder()
            .uri("/auth/v1/token")
            .header(ACCEPT_ENCODING, "gzip, deflate, br, zstd")
            .body(())
            .unwrap()
            .into_parts();
        let read = Forward {
            read_answer: true,
            ..forward("/auth/v1/token", &parts.headers)
        };
        let h = forwarded_headers(&parts.headers, read, &upstream());
        assert_eq!(
            h.get_all(ACCEPT_ENCODING).iter().collect::<Vec<_>>(),
            ["identity"]
        );
        let streamed = forwarded_headers(
            &parts.headers,
            forward("/rest/v1/todos", &parts.headers),
            &upstream(),
        );
        assert_eq!(streamed[ACCEPT_ENCODING], "gzip, deflate, br, zstd");
    }

    #[test]
    fn a_new_api_key_is_no_bearer_on_edge_functions() {
        let url = UpstreamUrl::parse("http://127.0.0.1:1").unwrap();
        let key = "sb_publishable_abc";
        let tls = crate::tls::client_config(None).unwrap();
        let upstream = Upstream::new(
            url,
            key,
            std::time::Duration::from_secs(1),
            tls,
            Default::default(),
        )
        .unwrap();
        let headers = HeaderMap::new();
        let anonymous = |path| Forward {
            bearer: upstream.anon_bearer.clone(),
            ..forward(path, &headers)
        };
        let h = forwarded_headers(&headers, anonymous("/functions/v1/hello"), &upstream);
        assert_eq!(h["apikey"], key);
        assert!(h.get(AUTHORIZATION).is_none());
        let h = forwarded_headers(&headers, anonymous("/rest/v1/todos"), &upstream);
        assert_eq!(h[AUTHORIZATION], "Bearer sb_publishable_abc");
        let h = forwarded_headers(
            &headers,
            forward("/functions/v1/hello", &headers),
            &upstream,
        );
        assert_eq!(
            h[AUTHORIZATION], "Bearer upstream-token",
            "a session's token goes everywhere"
        );
    }

    #[test]
    fn only_the_proxy_cookie_means_no_cookie_header() {
        let (parts, _) = Request::builder()
            .uri("/rest/v1/todos")
            .header(COOKIE, "sb-session=secret")
            .body(())
            .unwrap()
            .into_parts();
        let h = forwarded_headers(
            &parts.headers,
            forward("/rest/v1/todos", &parts.headers),
            &upstream(),
        );
        assert!(h.get(COOKIE).is_none());
    }

    #[test]
    fn the_uri_is_the_path_and_query_relative_to_the_project() {
        let direct: Uri = "/rest/v1/todos?select=*&id=eq.1".parse().unwrap();
        assert_eq!(
            upstream_uri(&direct, "/rest/v1/todos"),
            "/rest/v1/todos?select=*&id=eq.1"
        );
        let based: Uri = "/supabase/rest/v1/todos?select=*".parse().unwrap();
        assert_eq!(
            upstream_uri(&based, "/rest/v1/todos"),
            "/rest/v1/todos?select=*"
        );
        let no_query: Uri = "/supabase/storage/v1/object/a%20b".parse().unwrap();
        assert_eq!(
            upstream_uri(&no_query, "/storage/v1/object/a%20b"),
            "/storage/v1/object/a%20b"
        );
    }
}
