//! Keep-alive HTTP/1.1 connections to the one upstream.
//!
//! There is a single origin, so the pool is a stack of idle connections:
//! no keyed lookup, no per-request URI parsing. A connection goes back on
//! the stack once its response body has been read to the end; one whose
//! body was abandoned is closed. The most recently used connection is
//! reused first, and idle ones expire after [`IDLE_TIMEOUT`]. A request
//! from a browser connection goes first to that connection's [`Lane`]; a
//! lane without a connection takes a parked one (a connection an idle lane
//! gave back, not polled while parked) before it opens one.
//!
//! An upstream closes a connection that has been idle for its keep-alive
//! timeout, and that close can cross a request on its way. A request a
//! reused connection could not take is sent again on another one; one it
//! took and then closed without answering is sent once more, on a new
//! connection, when that is safe: an idempotent method without a body
//! (see [`replay_copy`]). This covers parked and pooled connections, the
//! ones that sit idle; a lane's own connection, idle for at most its
//! parking delay (two seconds), is not: that would copy every request.

use super::lane::{Checkout, Lane, Seats, UpstreamConnection};
use crate::body::Body;
use crate::sync::lock;
use bytes::Bytes;
use http::{Method, Request, Response, Uri};
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use hyper::client::conn::TrySendError;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tower_service::Service;

/// Idle connections older than this are closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// At most this many idle connections are kept.
const MAX_IDLE: usize = 1024;
/// At most this many parked connections are kept (a burst of closing
/// browser connections must not leave as many idle ones to Supabase).
const MAX_PARKED: usize = 256;
/// Read buffer per upstream connection: bodies stream, so a small buffer
/// keeps memory flat with many large transfers at once.
const READ_BUFFER: usize = 64 * 1024;

/// Why a request did not get a response.
pub enum SendError {
    Connect(String),
    Http(hyper::Error),
}

/// An idle connection and since when it has been idle.
struct Idle<T> {
    connection: T,
    since: Instant,
}

/// Pushes `connection` on top of `stack`, after dropping those idle for
/// [`IDLE_TIMEOUT`] and, beyond `max`, the oldest.
fn push_idle<T>(stack: &mut VecDeque<Idle<T>>, connection: T, max: usize) {
    let now = Instant::now();
    drop_expired(stack, now);
    while stack.len() >= max {
        stack.pop_front();
    }
    stack.push_back(Idle {
        connection,
        since: now,
    });
}

/// Drops (closes) the connections of `stack` idle for [`IDLE_TIMEOUT`] at
/// `now`: the oldest, at the bottom.
fn drop_expired<T>(stack: &mut VecDeque<Idle<T>>, now: Instant) {
    while stack
        .front()
        .is_some_and(|oldest| now.saturating_duration_since(oldest.since) >= IDLE_TIMEOUT)
    {
        stack.pop_front();
    }
}

/// A lane's connection, given back while its browser connection is idle.
type Parked = (Pin<Box<UpstreamConnection>>, SendRequest<Body>);

pub struct Pool {
    connector: HttpsConnector<HttpConnector>,
    /// `scheme://authority/`, what the connector connects to.
    target: Uri,
    idle: Mutex<VecDeque<Idle<SendRequest<Body>>>>,
    parked: Mutex<VecDeque<Idle<Parked>>>,
    /// Lanes that hold a connection.
    seats: Seats,
}

impl Pool {
    pub fn new(connector: HttpsConnector<HttpConnector>, target: Uri) -> Arc<Pool> {
        Arc::new(Pool {
            connector,
            target,
            idle: Mutex::new(VecDeque::new()),
            parked: Mutex::new(VecDeque::new()),
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
        lane: Option<&'a Lane>,
        request: Request<Body>,
    ) -> Sending<'a, impl Future<Output = Answer> + Send + use<'a>> {
        let Some(lane) = lane else {
            return Sending::Other {
                future: Box::pin(self.send_pooled(request)),
            };
        };
        match lane.checkout() {
            Checkout::Ready(mut sender) => Sending::OnLane {
                answer: sender.try_send_request(request),
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
        lane: &Lane,
        request: Request<Body>,
    ) -> Result<Response<PooledBody>, SendError> {
        if !lane.claim_seat(&self.seats) {
            return self.send_pooled(request).await;
        }
        let mut request = request;
        while let Some((connection, mut sender)) = self.unpark() {
            lane.install(connection, self);
            match send_reused(&mut sender, request).await? {
                Reused::Answered(response) => {
                    return Ok(track(response, sender, Home::Lane(lane.clone())));
                }
                Reused::Unsent(unsent) => request = unsent,
                Reused::Replay(copy) => {
                    request = copy;
                    break;
                }
            }
        }
        let (sender, connection) = self.connect().await?;
        lane.install(Box::pin(connection), self);
        send_first(sender, request, Home::Lane(lane.clone())).await
    }

    /// Closes the idle and parked connections that expired. They are also
    /// dropped whenever another is pushed, but after traffic stops only
    /// this (called periodically) closes them.
    pub fn close_expired(&self) {
        let now = Instant::now();
        drop_expired(&mut self.lock(), now);
        drop_expired(&mut lock(&self.parked), now);
    }

    /// Keeps an idle lane's connection for the next lane that needs one.
    pub(super) fn park(&self, connection: Pin<Box<UpstreamConnection>>, sender: SendRequest<Body>) {
        push_idle(&mut lock(&self.parked), (connection, sender), MAX_PARKED);
    }

    /// The most recently parked connection that can take a request. Not
    /// polled while parked, each is polled once first: that takes in what
    /// happened meanwhile (the upstream closed it, say).
    fn unpark(&self) -> Option<Parked> {
        loop {
            let Idle {
                connection: (mut connection, sender),
                since,
            } = lock(&self.parked).pop_back()?;
            let open = connection
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending();
            if open && sender.is_ready() && since.elapsed() < IDLE_TIMEOUT {
                return Some((connection, sender));
            }
        }
    }

    async fn send_pooled(
        self: &Arc<Self>,
        request: Request<Body>,
    ) -> Result<Response<PooledBody>, SendError> {
        let mut request = request;
        if let Some(mut sender) = self.checkout() {
            match send_reused(&mut sender, request).await? {
                Reused::Answered(response) => {
                    return Ok(track(response, sender, Home::Pool(self.clone())));
                }
                Reused::Unsent(again) | Reused::Replay(again) => request = again,
            }
        }
        // Boxed: connecting is rare, and its future would otherwise make
        // every request's future larger.
        let (sender, connection) = Box::pin(self.connect()).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
        });
        send_first(sender, request, Home::Pool(self.clone())).await
    }

    /// The most recently used idle connection that is still open.
    fn checkout(&self) -> Option<SendRequest<Body>> {
        let mut idle = self.lock();
        while let Some(Idle {
            connection: sender,
            since,
        }) = idle.pop_back()
        {
            if sender.is_ready() && since.elapsed() < IDLE_TIMEOUT {
                return Some(sender);
            }
        }
        None
    }

    /// Puts a connection whose response was read to the end back on the
    /// stack, once it can take a new request (at once, unless its request
    /// body is still being sent or it is still finishing the exchange).
    fn checkin(self: Arc<Self>, mut sender: SendRequest<Body>) {
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

    fn push(&self, sender: SendRequest<Body>) {
        push_idle(&mut self.lock(), sender, MAX_IDLE);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Idle<SendRequest<Body>>>> {
        lock(&self.idle)
    }

    async fn connect(&self) -> Result<(SendRequest<Body>, UpstreamConnection), SendError> {
        let mut connector = self.connector.clone();
        let io = connector
            .call(self.target.clone())
            .await
            .map_err(|e| SendError::Connect(describe(&*e)))?;
        http1::Builder::new()
            .max_buf_size(READ_BUFFER)
            .handshake(io)
            .await
            .map_err(SendError::Http)
    }
}

/// What a connection that served before did with a request.
enum Reused {
    Answered(Response<Incoming>),
    /// It could not take the request (it closed meanwhile).
    Unsent(Request<Body>),
    /// It took the request and closed without answering; this copy may be
    /// sent once more.
    Replay(Request<Body>),
}

/// Sends on a connection that served before (see [`Reused`]).
async fn send_reused(
    sender: &mut SendRequest<Body>,
    request: Request<Body>,
) -> Result<Reused, SendError> {
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
/// and closed without answering: an idempotent method (RFC 9110, section
/// 9.2.2) and no body.
fn replay_copy(request: &Request<Body>) -> Option<Request<Body>> {
    let idempotent = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    );
    if !idempotent || !request.body().is_end_stream() {
        return None;
    }
    let mut copy = Request::new(crate::body::empty());
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
async fn send_first(
    mut sender: SendRequest<Body>,
    request: Request<Body>,
    home: Home,
) -> Result<Response<PooledBody>, SendError> {
    let response = sender
        .send_request(request)
        .await
        .map_err(SendError::Http)?;
    Ok(track(response, sender, home))
}

fn track(
    response: Response<Incoming>,
    sender: SendRequest<Body>,
    home: Home,
) -> Response<PooledBody> {
    response.map(|body| PooledBody::new(body, sender, home))
}

/// What a reused connection answers: the response, or the request it
/// could not take.
type Answer = Result<Response<Incoming>, TrySendError<Request<Body>>>;

type Sent = Result<Response<PooledBody>, SendError>;

pin_project_lite::pin_project! {
    /// A request on its way upstream (see [`Pool::send`]).
    #[project = SendingProjection]
    pub enum Sending<'a, A> {
        /// Handed to the lane's idle connection: only the answer is awaited.
        OnLane {
            #[pin]
            answer: A,
            sender: Option<SendRequest<Body>>,
            lane: &'a Lane,
            pool: &'a Arc<Pool>,
        },
        /// Any other way.
        Other { future: Pin<Box<dyn Future<Output = Sent> + Send + 'a>> },
    }
}

impl<A: Future<Output = Answer>> Future for Sending<'_, A> {
    type Output = Sent;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Sent> {
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
                    return Poll::Ready(Ok(track(response, sender, Home::Lane((*lane).clone()))));
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
enum Home {
    Pool(Arc<Pool>),
    Lane(Lane),
}

impl Home {
    fn checkin(self, sender: SendRequest<Body>) {
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
    pub struct PooledBody {
        #[pin]
        inner: Incoming,
        owner: Option<(SendRequest<Body>, Home)>,
    }
}

impl PooledBody {
    fn new(inner: Incoming, sender: SendRequest<Body>, home: Home) -> PooledBody {
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

fn release(owner: &mut Option<(SendRequest<Body>, Home)>) {
    if let Some((sender, home)) = owner.take() {
        home.checkin(sender);
    }
}

impl hyper::body::Body for PooledBody {
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
