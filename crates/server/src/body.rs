//! The body type the proxy sends both ways, and reading small bodies whole.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, Limited};
use sbp_core::ProxyError;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A streamed body in either direction.
pub type Body = http_body_util::combinators::BoxBody<Bytes, BoxError>;

pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// Reads a whole body of at most `limit` bytes (Auth answers the proxy reads
/// to build a session); a larger or broken body is an upstream failure.
pub async fn read_limited<B>(body: B, limit: usize) -> Result<Bytes, ProxyError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => Err(ProxyError::UpstreamUnavailable(format!(
            "unreadable Auth response: {e}"
        ))),
    }
}
