//! The body type the proxy sends both ways, and reading small bodies whole.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, LengthLimitError, Limited};
use hyper::body::Frame;
use sbp_core::ProxyError;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

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

/// Reads a whole request body of at most `limit` bytes.
pub async fn read_request_body<B>(body: B, limit: u64) -> Result<Bytes, ProxyError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(ProxyError::BodyTooLarge),
        Err(e) => Err(ProxyError::BadRequest(format!(
            "unreadable request body: {e}"
        ))),
    }
}

pin_project_lite::pin_project! {
    /// A body that fails when no frame arrives for `timeout` (a stalled
    /// client or upstream), so a stuck transfer never holds a connection.
    pub struct IdleTimeout<B> {
        #[pin]
        inner: B,
        #[pin]
        sleep: Sleep,
        timeout: Duration,
    }
}

impl<B> IdleTimeout<B> {
    pub fn new(inner: B, timeout: Duration) -> Self {
        IdleTimeout {
            inner,
            sleep: tokio::time::sleep(timeout),
            timeout,
        }
    }
}

impl<B> hyper::body::Body for IdleTimeout<B>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(frame) => {
                this.sleep.as_mut().reset(Instant::now() + *this.timeout);
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending if this.sleep.poll(cx).is_ready() => {
                Poll::Ready(Some(Err("the body stalled past the idle timeout".into())))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// `body` as a [`Body`] that fails after `timeout` without data.
pub fn with_idle_timeout<B>(body: B, timeout: Duration) -> Body
where
    B: hyper::body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    IdleTimeout::new(body, timeout).boxed()
}
