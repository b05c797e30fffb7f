//! The body type the proxy sends both ways, and reading small bodies whole.

use crate::upstream::PooledBody;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use sbp_core::ProxyError;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pin_project_lite::pin_project! {
    /// A body in either direction: what the proxy answers itself, or one
    /// streamed through it. An enum rather than a boxed trait object, so
    /// no response or forwarded request needs an allocation for its body.
    #[project = BodyProjection]
    pub enum Body {
        Empty,
        Full { data: Option<Bytes> },
        /// A browser's request body on its way to Supabase.
        Upload { #[pin] inner: IdleTimeout<Incoming> },
        /// Supabase's response body on its way to the browser.
        Relay { #[pin] inner: IdleTimeout<PooledBody> },
    }
}

pub fn empty() -> Body {
    Body::Empty
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    let data: Bytes = bytes.into();
    Body::Full {
        data: (!data.is_empty()).then_some(data),
    }
}

/// A browser's request body, failing after `timeout` without data (an
/// empty one is not watched).
pub fn upload(body: Incoming, timeout: Duration) -> Body {
    if body.is_end_stream() {
        return Body::Empty;
    }
    Body::Upload {
        inner: IdleTimeout::new(body, timeout),
    }
}

/// Supabase's response body, failing after `timeout` without data.
pub fn relay(body: PooledBody, timeout: Duration) -> Body {
    if body.is_end_stream() {
        return Body::Empty;
    }
    Body::Relay {
        inner: IdleTimeout::new(body, timeout),
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project() {
            BodyProjection::Empty => Poll::Ready(None),
            BodyProjection::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            BodyProjection::Upload { inner } => inner.poll_frame(cx),
            BodyProjection::Relay { inner } => inner.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Empty => true,
            Body::Full { data } => data.is_none(),
            Body::Upload { inner } => inner.is_end_stream(),
            Body::Relay { inner } => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Empty => SizeHint::with_exact(0),
            Body::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Body::Upload { inner } => inner.size_hint(),
            Body::Relay { inner } => inner.size_hint(),
        }
    }
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
