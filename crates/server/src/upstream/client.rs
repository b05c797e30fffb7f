//! A pooled client to the Supabase project, with connect and response timeouts.

use crate::body::{Body, read_limited};
use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use sbp_core::ProxyError;
use sbp_core::config::UpstreamUrl;
use std::error::Error as _;
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Read buffer per upstream connection: bodies stream, so a small buffer
/// keeps memory flat with many large transfers at once.
const READ_BUFFER: usize = 64 * 1024;

pub struct Upstream {
    client: Client<HttpsConnector<HttpConnector>, Body>,
    url: UpstreamUrl,
    /// How long Supabase may take to send response headers.
    response_timeout: Duration,
}

/// The error and its causes on one line.
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

impl Upstream {
    pub fn new(url: UpstreamUrl, response_timeout: Duration) -> Result<Upstream, crate::Error> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .http1_max_buf_size(READ_BUFFER)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .build(https);
        Ok(Upstream {
            client,
            url,
            response_timeout,
        })
    }

    /// The absolute upstream URI for a path and query.
    pub fn url(&self, path_and_query: &str) -> String {
        self.url.join(path_and_query)
    }

    pub fn authority(&self) -> &str {
        self.url.authority()
    }

    /// Sends a request; an unreachable or silent upstream is a proxy error, never a hang.
    pub async fn send(&self, request: Request<Body>) -> Result<Response<Incoming>, ProxyError> {
        match tokio::time::timeout(self.response_timeout, self.client.request(request)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => {
                tracing::warn!(error = %describe(&e), "upstream request failed");
                Err(ProxyError::UpstreamUnavailable(
                    e.source().map_or_else(|| e.to_string(), |s| s.to_string()),
                ))
            }
            Err(_) => Err(ProxyError::UpstreamTimeout),
        }
    }

    /// Sends a small JSON request the proxy makes itself (a refresh, a
    /// logout) and reads the answer, at most `limit` bytes.
    pub async fn call(
        &self,
        request: Request<Body>,
        limit: usize,
    ) -> Result<(http::response::Parts, Bytes), ProxyError> {
        let (parts, body) = self.send(request).await?.into_parts();
        let bytes = read_limited(body, limit).await?;
        Ok((parts, bytes))
    }
}
