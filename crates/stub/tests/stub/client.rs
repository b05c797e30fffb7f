//! A small HTTP client for the tests (hyper-util's legacy client) with
//! helpers for the Auth calls the tests repeat.

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as Legacy;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sbp_stub::{Stub, StubConfig};
use serde_json::{Value, json};

/// An answer, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Clone)]
pub struct Client {
    inner: Legacy<HttpConnector, Full<Bytes>>,
    pub base: String,
    pub anon_key: String,
}

impl Client {
    pub fn new(stub: &Stub) -> Self {
        Client {
            inner: Legacy::builder(TokioExecutor::new()).build_http(),
            base: stub.url(),
            anon_key: stub.anon_key(),
        }
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body.into())).expect("valid request");
        let response = self.inner.request(request).await.expect("stub answers");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// A call to Auth as supabase-js makes it (apikey, 2024-01-01 error shape).
    pub async fn auth(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: &Value,
    ) -> Reply {
        let authorization = format!("Bearer {}", bearer.unwrap_or(&self.anon_key));
        let headers = [
            ("apikey", self.anon_key.as_str()),
            ("authorization", authorization.as_str()),
            ("x-supabase-api-version", "2024-01-01"),
            ("content-type", "application/json"),
        ];
        self.send(
            method,
            &format!("/auth/v1{path}"),
            &headers,
            body.to_string(),
        )
        .await
    }

    pub async fn sign_up(&self, email: &str) -> Value {
        let reply = self
            .auth(
                "POST",
                "/signup",
                None,
                &json!({"email": email, "password": "pw123456"}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        reply.json()
    }

    pub async fn refresh(&self, refresh_token: &str) -> Reply {
        self.auth(
            "POST",
            "/token?grant_type=refresh_token",
            None,
            &json!({"refresh_token": refresh_token}),
        )
        .await
    }

    /// A request to a data service with a bearer token.
    pub async fn get_with(&self, path: &str, bearer: &str) -> Reply {
        let authorization = format!("Bearer {bearer}");
        self.send(
            "GET",
            path,
            &[("authorization", authorization.as_str())],
            Bytes::new(),
        )
        .await
    }
}

pub async fn start(config: StubConfig) -> (Stub, Client) {
    let stub = Stub::start(config).await.expect("stub starts");
    let client = Client::new(&stub);
    (stub, client)
}

pub async fn start_default() -> (Stub, Client) {
    start(StubConfig::default()).await
}

/// The claims of a JWT, read without checking the signature.
pub fn claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// A user JWT signed with the stub's secret, with claims of our choosing.
pub fn sign(stub: &Stub, claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(stub.jwt_secret().as_bytes()),
    )
    .expect("sign")
}

pub fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}
