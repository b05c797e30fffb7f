//! A browser-like HTTP client: one cookie jar for the proxy's session cookie,
//! the headers the official client sends, and, as every browser, asking for
//! compressed answers and decoding them.

use super::http::{HttpClient, full, http_client};
use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::BodyExt;
use serde_json::Value;

pub struct Browser {
    client: HttpClient,
    base: String,
    anon_key: String,
    cookie_name: String,
    /// The session cookie's value, as the browser holds it.
    pub cookie: Option<String>,
    /// Other cookies the browser sends along.
    pub other_cookies: Option<String>,
    /// The page's origin, sent as `Origin` on unsafe requests as browsers
    /// do; `None` acts like a non-browser client.
    pub origin: Option<String>,
}

/// What every browser asks for.
const ACCEPT_ENCODING: &str = "gzip, deflate, br, zstd";

/// `body` decoded as its `Content-Encoding` says, as a browser does.
fn decoded(headers: &HeaderMap, body: Bytes) -> Bytes {
    use std::io::Read;
    let coding = headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity");
    let mut out = Vec::new();
    let read = match coding.trim() {
        "identity" => return body,
        "gzip" => flate2::read::MultiGzDecoder::new(&body[..]).read_to_end(&mut out),
        "deflate" => flate2::read::ZlibDecoder::new(&body[..]).read_to_end(&mut out),
        "br" => brotli::Decompressor::new(&body[..], 4096).read_to_end(&mut out),
        other => panic!("the browser cannot decode `{other}`"),
    };
    read.unwrap_or_else(|e| panic!("a {coding} answer that does not decode: {e}"));
    Bytes::from(out)
}

/// A whole response, its body decoded.
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every `Set-Cookie` value.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }
}

impl Browser {
    pub fn new(base: &str, anon_key: &str, cookie_name: &str) -> Browser {
        Browser {
            client: http_client(),
            base: base.to_string(),
            anon_key: anon_key.to_string(),
            cookie_name: cookie_name.to_string(),
            cookie: None,
            other_cookies: None,
            origin: Some("http://127.0.0.1:8787".to_string()),
        }
    }

    /// The same browser holding `cookie`.
    pub fn with_cookie(mut self, cookie: Option<String>) -> Browser {
        self.cookie = cookie;
        self
    }

    /// Sends a request with the jar's cookies, the anon key and the API
    /// version header; `headers` are added last.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.base))
            .header("apikey", &self.anon_key)
            .header("x-supabase-api-version", "2024-01-01");
        let cookies: Vec<String> = self
            .cookie
            .iter()
            .map(|v| format!("{}={v}", self.cookie_name))
            .chain(self.other_cookies.clone())
            .collect();
        if !cookies.is_empty() {
            request = request.header("cookie", cookies.join("; "));
        }
        let unsafe_method = sbp_core::guard::is_unsafe(&method);
        let explicit_origin = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("origin"));
        if let Some(origin) = self
            .origin
            .as_ref()
            .filter(|_| unsafe_method && !explicit_origin)
        {
            request = request.header("origin", origin);
        }
        let explicit_coding = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("accept-encoding"));
        if !explicit_coding {
            request = request.header("accept-encoding", ACCEPT_ENCODING);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(full(body)).expect("valid request");
        let response = self.client.request(request).await.expect("proxy answers");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("whole body").to_bytes();
        let body = decoded(&parts.headers, body);
        let reply = Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        };
        self.store_cookies(&reply);
        reply
    }

    fn store_cookies(&mut self, reply: &Reply) {
        for value in reply.set_cookies() {
            let Ok(cookie) = cookie::Cookie::parse(value) else {
                continue;
            };
            if cookie.name() != self.cookie_name {
                continue;
            }
            let cleared = cookie.value().is_empty()
                || cookie
                    .max_age()
                    .is_some_and(|age| age.is_zero() || age.is_negative());
            self.cookie = (!cleared).then(|| cookie.value().to_string());
        }
    }

    /// A password sign-in that tolerates a dead proxy: `None` when the
    /// connection failed, else the status.
    pub async fn try_sign_in(&mut self, email: &str, password: &str) -> Option<u16> {
        let body = serde_json::json!({"email": email, "password": password}).to_string();
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("{}/auth/v1/token?grant_type=password", self.base))
            .header("apikey", &self.anon_key)
            .header("origin", self.origin.as_deref().unwrap_or("null"))
            .header("content-type", "application/json")
            .header("accept-encoding", ACCEPT_ENCODING)
            .body(full(body))
            .expect("valid request");
        let response = self.client.request(request).await.ok()?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.ok()?.to_bytes();
        let body = decoded(&parts.headers, body);
        let reply = Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        };
        self.store_cookies(&reply);
        Some(reply.status)
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        self.send(Method::GET, path, &[], Bytes::new()).await
    }

    pub async fn post_json(&mut self, path: &str, body: Value) -> Reply {
        self.send(
            Method::POST,
            path,
            &[("content-type", "application/json")],
            body.to_string(),
        )
        .await
    }

    pub async fn sign_in(&mut self, email: &str, password: &str) -> Reply {
        self.post_json(
            "/auth/v1/token?grant_type=password",
            serde_json::json!({"email": email, "password": password}),
        )
        .await
    }
}
