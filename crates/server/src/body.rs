//! The body type the proxy sends both ways, and reading small bodies whole
//! (decoded, when they are answers the proxy must understand).

use crate::coarse_timer::{CoarseSleep, CoarseTimer};
use crate::pool::PooledBody;
use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use sbp_core::ProxyError;
use sbp_core::http::{decode_body, is_encoded};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A body that went without data past its idle limit.
#[derive(Debug, thiserror::Error)]
#[error("the body stalled past the idle timeout")]
pub struct Stalled;

pin_project_lite::pin_project! {
    /// A body in either direction: what the proxy answers itself, or one
    /// streamed through it. An enum rather than a boxed trait object, so
    /// no response or forwarded request needs an allocation for its body.
    #[project = BodyProjection]
    #[derive(Default)]
    pub enum Body {
        #[default]
        Empty,
        Full { data: Option<Bytes> },
        /// A browser's request body on its way to Supabase.
        Upload { #[pin] inner: IdleTimeout<Incoming> },
        /// Supabase's response body on its way to the browser.
        Relay { #[pin] inner: IdleTimeout<PooledBody<Body>> },
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

/// How long a streamed body may go without a frame, and the clock that
/// tells: the coarse timer, so a body costs no timer-wheel work (the limit
/// is kept to within a tick, a quarter second).
#[derive(Clone)]
pub struct IdleLimit {
    pub timeout: Duration,
    pub timer: CoarseTimer,
}

/// A browser's request body, failing after the idle limit without data (an
/// empty one is not watched).
pub fn upload(body: Incoming, limit: IdleLimit) -> Body {
    if body.is_end_stream() {
        return Body::Empty;
    }
    Body::Upload {
        inner: IdleTimeout::new(body, limit),
    }
}

/// Supabase's response body, failing after the idle limit without data.
pub fn relay(body: PooledBody<Body>, limit: IdleLimit) -> Body {
    if body.is_end_stream() {
        return Body::Empty;
    }
    Body::Relay {
        inner: IdleTimeout::new(body, limit),
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
async fn read_limited<B>(body: B, limit: usize) -> Result<Bytes, ProxyError>
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

/// Reads a whole answer the proxy must understand and undoes any content
/// coding (removing `Content-Encoding`), at most `limit` bytes before and
/// after decoding; an answer that cannot be decoded is `upstream_unreadable`.
pub async fn read_decoded<B>(
    parts: &mut http::response::Parts,
    body: B,
    limit: usize,
) -> Result<Bytes, ProxyError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let raw = read_limited(body, limit).await?;
    let Some(coding) = parts.headers.remove(CONTENT_ENCODING) else {
        return Ok(raw);
    };
    parts.headers.remove(CONTENT_LENGTH);
    let decoded = match coding.to_str() {
        Ok(coding) if !is_encoded(coding) => return Ok(raw),
        Ok(coding) => decode_body(coding, &raw, limit).map_err(|e| e.to_string()),
        Err(_) => Err("its Content-Encoding is not text".to_string()),
    };
    decoded.map(Bytes::from).map_err(|why| {
        tracing::warn!(%why, "an answer could not be decoded; it was not passed on");
        ProxyError::UpstreamUnreadable(why)
    })
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
        Err(e) if e.is::<Stalled>() => Err(ProxyError::RequestTimeout),
        Err(e) => Err(ProxyError::BadRequest(format!(
            "unreadable request body: {e}"
        ))),
    }
}

pin_project_lite::pin_project! {
    /// A body that fails when no frame arrives within its idle limit (a
    /// stalled client or upstream), so a stuck transfer never holds a
    /// connection. The clock starts the first time the body has to wait:
    /// one that is always ready (most small ones) never needs it.
    pub struct IdleTimeout<B> {
        #[pin]
        inner: B,
        limit: IdleLimit,
        sleep: Option<CoarseSleep>,
    }
}

impl<B> IdleTimeout<B> {
    pub fn new(inner: B, limit: IdleLimit) -> Self {
        IdleTimeout {
            inner,
            limit,
            sleep: None,
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
        let this = self.project();
        let limit = &*this.limit;
        match this.inner.poll_frame(cx) {
            Poll::Ready(frame) => {
                if let Some(sleep) = this.sleep {
                    limit.timer.rearm(sleep, limit.timeout);
                }
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| limit.timer.sleep_for(limit.timeout));
                match Pin::new(sleep).poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(Stalled)))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;
    use http_body_util::StreamBody;
    use std::convert::Infallible;

    fn limit(millis: u64) -> IdleLimit {
        IdleLimit {
            timeout: Duration::from_millis(millis),
            timer: CoarseTimer::new(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_fails_after_its_idle_limit() {
        let never = StreamBody::new(stream::pending::<Result<Frame<Bytes>, Infallible>>());
        let started = tokio::time::Instant::now();
        let read = IdleTimeout::new(never, limit(500)).collect().await;
        let took = started.elapsed();
        let error = read.expect_err("a stalled body must fail");
        assert!(error.is::<Stalled>(), "{error}");
        assert!(took >= Duration::from_millis(200), "failed early: {took:?}");
        assert!(took < Duration::from_secs(2), "failed late: {took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn each_frame_restarts_the_idle_limit() {
        // Six frames 150 ms apart: 900 ms in all, never 500 ms without one.
        let frames = stream::unfold(0, |sent| async move {
            if sent == 6 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
            Some((
                Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"x"))),
                sent + 1,
            ))
        });
        let body = IdleTimeout::new(StreamBody::new(Box::pin(frames)), limit(500));
        let read = body.collect().await.expect("a slow but steady body passes");
        assert_eq!(read.to_bytes(), "xxxxxx");
    }
}
