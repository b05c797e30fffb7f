//! The HTTP client of the capacity run: hyper's pooled client over plain
//! TCP (loopback), each exchange read to the end within a timeout.

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// A pooled HTTP/1.1 client (keep-alive connections reused per instance).
pub type Http = Client<HttpConnector, Full<Bytes>>;

/// How long one exchange may take before it counts as an error.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A client whose pool keeps every idle connection.
pub fn new_client() -> Http {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(usize::MAX)
        .build(connector)
}

/// A whole answer.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// `Ok` for `expected`, else an error naming the status and the body's start.
    pub fn expect(self, expected: StatusCode) -> Result<Answer, String> {
        if self.status == expected {
            return Ok(self);
        }
        let start = String::from_utf8_lossy(&self.body[..self.body.len().min(200)]).into_owned();
        Err(format!("status {}: {start}", self.status.as_u16()))
    }
}

/// Sends `request` and reads the answer to its end.
pub async fn send(client: &Http, request: Request<Full<Bytes>>) -> Result<Answer, String> {
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| format!("request failed: {e:?}"))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("body failed: {e:?}"))?
            .to_bytes();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    };
    tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| format!("timeout: no answer within {} s", TIMEOUT.as_secs()))?
}
