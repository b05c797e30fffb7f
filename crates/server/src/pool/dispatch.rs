//! Where a request goes: the browser connection's [`Lane`], a parked
//! connection, an idle pooled one, or a new one.
//!
//! There is a single origin, so the pool is a stack of idle connections:
//! no keyed lookup, no per-request URI parsing. A connection goes back on
//! the stack once its response body has been read to the end; one whose
//! body was abandoned is closed. The most recently used connection is
//! reused first, and idle ones expire after
//! [`IDLE_TIMEOUT`](super::park::IDLE_TIMEOUT). A request
//! from a browser connection goes first to that connection's [`Lane`]; a
//! lane without a connection takes a parked one (a connection an idle lane
//! gave back, not polled while parked) before it opens one.
//!
//! An upstream closes a connection that has been idle for its keep-alive
//! timeout, and that close can cross a request on its way. A request a
//! reused connection could not take is sent again on another one; one it
//! took and then closed without answering is sent once more, on a new
//! connection, when core's policy allows (`sbp_core::http::may_replay`,
//! see [`replay_copy`]). This covers parked and pooled connections, the
//! ones that sit idle; a lane's own connection, idle for at most its
//! parking delay (two seconds), is not: that would copy every request.

use super::dial::{Dial, SendError, dialer};
use super::lane::{Checkout, Lane, OnLane, Seats};
use super::park::{IdleStack, Parking};
use super::{Connect, RequestBody};
use crate::metrics::UpstreamMetrics;
use crate::sync::lock;
use bytes::Bytes;
use http::{Request, Response};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::client::conn::TrySendError;
use hyper::client::conn::http1::SendRequest;
use sbp_core::http::may_replay;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::time::Instant;

/// At most this many idle connections are kept.
const MAX_IDLE: usize = 1024;

/// The connections to the upstream: lanes', parked and pooled ones. `Send`
/// and `Sync`: one pool may serve several runtimes.
pub struct Pool<B> {
    dial: Box<dyn Dial<B>>,
    idle: Mutex<IdleStack<SendRequest<B>>>,
    parked: Arc<Parking<B>>,
    /// Lanes that hold a connection.
    seats: Seats,
    /// Counts requests sent on new and on reused connections.
    counts: UpstreamMetrics,
}

impl<B: RequestBody> Pool<B> {
    /// A pool of connections opened by `connector`.
    pub fn new<C: Connect>(connector: C, counts: UpstreamMetrics) -> Arc<Pool<B>> {
        Arc::new(Pool {
            counts,
            dial: dialer(connector),
            idle: Mutex::new(IdleStack::new(MAX_IDLE)),
            parked: Arc::default(),
            seats: Seats::default(),
        })
    }

    /// Sends `request` (origin-form URI, `Host` set) on `lane`'s connection
    /// (a parked or a new one if it has none), or else on an idle pooled
    /// connection or a new one. A request that a reused connection could not take (it
    /// closed meanwhile) is sent again on a new connection.
    ///
    /// On the lane's idle connection, the common case, the request is
    /// handed to the connection at once and the returned future only waits
    /// for the answer; every other way is boxed, so that each request's
    /// future (moved and initialised on every request) stays small.
    pub fn send<'a>(
        self: &'a Arc<Self>,
        lane: Option<OnLane<'a, B>>,
        request: Request<B>,
    ) -> Sending<'a, B, impl Future<Output = Answer<B>> + Send + use<'a, B>> {
        let Some(lane) = lane.map(OnLane::lane) else {
            return Sending::Other {
                future: Box::pin(self.send_pooled(request)),
            };
        };
        match lane.checkout() {
            Checkout::Ready(mut sender) => Sending::OnLane {
                answer: {
                    self.counts.reused_connections.inc();
                    sender.try_send_request(request)
                },
                sender: Some(sender),
                lane,
                pool: self,
            },
            Checkout::Empty => Sending::Other {
                future: Box::pin(self.send_on_new_lane_connection(lane, request)),
            },
            Checkout::Busy => Sending::Other {
                future: Box::pin(self.send_pooled(request)),
            },
        }
    }

    /// Gives `lane` a parked connection, or a new one, if it may hold one;
    /// or else uses the pool.
    async fn send_on_new_lane_connection(
        self: &Arc<Self>,
        lane: &Lane<B>,
        request: Request<B>,
    ) -> Result<Response<PooledBody<B>>, SendError> {
        if !lane.claim_seat(&self.seats) {
            return self.send_pooled(request).await;
        }
        let mut request = request;
        while let Some((connection, mut sender)) = self.parked.unpark() {
            lane.install(connection, &self.parked);
            match send_reused(&mut sender, request).await? {
                Reused::Answered(response) => {
                    self.counts.reused_connections.inc();
                    return Ok(track(response, sender, Home::Lane(lane.share())));
                }
                Reused::Unsent(unsent) => request = unsent,
                Reused::Replay(copy) => {
                    request = copy;
                    break;
                }
            }
        }
        let (sender, connection) = self.dial.dial().await?;
        self.counts.new_connections.inc();
        lane.install(connection, &self.parked);
        send_first(sender, request, Home::Lane(lane.share())).await
    }

    /// Closes the idle and parked connections that expired. They are also
    /// dropped whenever another is pushed, but after traffic stops only
    /// this (called periodically) closes them.
    pub fn close_expired(&self) {
        let now = Instant::now();
        lock(&self.idle).close_expired(now);
        self.parked.close_expired(now);
    }

    async fn send_pooled(
        self: &Arc<Self>,
        request: Request<B>,
    ) -> Result<Response<PooledBody<B>>, SendError> {
        let mut request = request;
        if let Some(mut sender) = self.checkout() {
            match send_reused(&mut sender, request).await? {
                Reused::Answered(response) => {
                    self.counts.reused_connections.inc();
                    return Ok(track(response, sender, Home::Pool(self.clone())));
                }
                Reused::Unsent(again) | Reused::Replay(again) => request = again,
            }
        }
        // Boxed: connecting is rare, and its future would otherwise make
        // every request's future larger.
        let (sender, connection) = self.dial.dial().await?;
        self.counts.new_connections.inc();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
        });
        send_first(sender, request, Home::Pool(self.clone())).await
    }

    /// The most recently used idle connection that is still open.
    fn checkout(&self) -> Option<SendRequest<B>> {
        let mut idle = lock(&self.idle);
        while let Some(sender) = idle.pop() {
            if sender.is_ready() {
                return Some(sender);
            }
        }
        None
    }

    /// Puts a connection whose response was read to the end back on the
    /// stack, once it can take a new request (at once, unless its request
    /// body is still being sent or it is still finishing the exchange).
    fn checkin(self: Arc<Self>, mut sender: SendRequest<B>) {
        if sender.is_ready() {
            self.push(sender);
        } else if !sender.is_closed() {
            tokio::spawn(async move {
                if sender.ready().await.is_ok() {
                    self.push(sender);
                }
            });
        }
    }

    fn push(&self, sender: SendRequest<B>) {
        lock(&self.idle).push(sender);
    }
}

/// What a connection that served before did with a request.
enum Reused<B> {
    Answered(Response<Incoming>),
    /// It could not take the request (it closed meanwhile).
    Unsent(Request<B>),
    /// It took the request and closed without answering; this copy may be
    /// sent once more.
    Replay(Request<B>),
}

/// Sends on a connection that served before (see [`Reused`]).
async fn send_reused<B: RequestBody>(
    sender: &mut SendRequest<B>,
    request: Request<B>,
) -> Result<Reused<B>, SendError> {
    let copy = replay_copy(&request);
    match sender.try_send_request(request).await {
        Ok(response) => Ok(Reused::Answered(response)),
        Err(mut e) => match (e.take_message(), copy) {
            (Some(unsent), _) => Ok(Reused::Unsent(unsent)),
            (None, Some(copy)) if closed_unanswered(e.error()) => {
                tracing::debug!(error = %describe(e.error()), "reused upstream connection closed unanswered; sending again");
                Ok(Reused::Replay(copy))
            }
            (None, _) => Err(SendError::Http(e.into_error())),
        },
    }
}

/// A copy of `request` if it may be sent again after a connection took it
/// and closed without answering (core's policy: an idempotent method and
/// no body).
fn replay_copy<B: RequestBody>(request: &Request<B>) -> Option<Request<B>> {
    if !may_replay(request.method(), !request.body().is_end_stream()) {
        return None;
    }
    let mut copy = Request::new(B::default());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    Some(copy)
}

/// Whether a connection ended before any of the response came: closed, or
/// reset, by the upstream.
fn closed_unanswered(error: &hyper::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
    error.is_incomplete_message()
        || std::error::Error::source(error)
            .and_then(|cause| cause.downcast_ref::<std::io::Error>())
            .is_some_and(|io| matches!(io.kind(), ConnectionReset | ConnectionAborted | BrokenPipe))
}

/// Sends the first request on a new connection, which then goes `home`.
async fn send_first<B: RequestBody>(
    mut sender: SendRequest<B>,
    request: Request<B>,
    home: Home<B>,
) -> Result<Response<PooledBody<B>>, SendError> {
    let response = sender
        .send_request(request)
        .await
        .map_err(SendError::Http)?;
    Ok(track(response, sender, home))
}

fn track<B: RequestBody>(
    response: Response<Incoming>,
    sender: SendRequest<B>,
    home: Home<B>,
) -> Response<PooledBody<B>> {
    response.map(|body| PooledBody::new(body, sender, home))
}

/// What a reused connection answers: the response, or the request it
/// could not take.
type Answer<B> = Result<Response<Incoming>, TrySendError<Request<B>>>;

type Sent<B> = Result<Response<PooledBody<B>>, SendError>;

pin_project_lite::pin_project! {
    /// A request on its way upstream (see [`Pool::send`]).
    #[project = SendingProjection]
    pub enum Sending<'a, B, A> {
        /// Handed to the lane's idle connection: only the answer is awaited.
        OnLane {
            #[pin]
            answer: A,
            sender: Option<SendRequest<B>>,
            lane: &'a Lane<B>,
            pool: &'a Arc<Pool<B>>,
        },
        /// Any other way.
        Other { future: Pin<Box<dyn Future<Output = Sent<B>> + Send + 'a>> },
    }
}

impl<B: RequestBody, A: Future<Output = Answer<B>>> Future for Sending<'_, B, A> {
    type Output = Sent<B>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Sent<B>> {
        let (unsent, lane, pool) = match self.as_mut().project() {
            SendingProjection::Other { future } => return future.as_mut().poll(cx),
            SendingProjection::OnLane {
                answer,
                sender,
                lane,
                pool,
            } => match std::task::ready!(answer.poll(cx)) {
                Ok(response) => {
                    let sender = sender.take().expect("a request is answered once");
                    return Poll::Ready(Ok(track(response, sender, Home::Lane(lane.share()))));
                }
                Err(mut e) => match e.take_message() {
                    Some(unsent) => (unsent, *lane, *pool),
                    None => return Poll::Ready(Err(SendError::Http(e.into_error()))),
                },
            },
        };
        // The lane's connection closed meanwhile: a new one for the request.
        let retry = pool.send_on_new_lane_connection(lane, unsent);
        self.set(Sending::Other {
            future: Box::pin(retry),
        });
        self.poll(cx)
    }
}

/// Where a connection goes back once its response was read to the end.
enum Home<B> {
    Pool(Arc<Pool<B>>),
    Lane(Lane<B>),
}

impl<B: RequestBody> Home<B> {
    fn checkin(self, sender: SendRequest<B>) {
        match self {
            Home::Pool(pool) => pool.checkin(sender),
            Home::Lane(lane) => lane.checkin(sender),
        }
    }
}

/// The error and its causes on one line.
pub fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

pin_project_lite::pin_project! {
    /// An upstream response body that gives its connection back to its
    /// lane or the pool once read to the end.
    pub struct PooledBody<B> {
        #[pin]
        inner: Incoming,
        owner: Option<(SendRequest<B>, Home<B>)>,
    }
}

impl<B: RequestBody> PooledBody<B> {
    fn new(inner: Incoming, sender: SendRequest<B>, home: Home<B>) -> PooledBody<B> {
        let mut body = PooledBody {
            inner,
            owner: Some((sender, home)),
        };
        if hyper::body::Body::is_end_stream(&body.inner) {
            release(&mut body.owner);
        }
        body
    }
}

fn release<B: RequestBody>(owner: &mut Option<(SendRequest<B>, Home<B>)>) {
    if let Some((sender, home)) = owner.take() {
        home.checkin(sender);
    }
}

impl<B: RequestBody> hyper::body::Body for PooledBody<B> {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let mut this = self.project();
        let polled = this.inner.as_mut().poll_frame(cx);
        match &polled {
            Poll::Ready(None) => release(this.owner),
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => release(this.owner),
            // A broken body: the connection is not reused.
            Poll::Ready(Some(Err(_))) => *this.owner = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests;
