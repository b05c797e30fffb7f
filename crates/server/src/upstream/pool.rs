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

use super::lane::{Checkout, Lane, Seats, UpstreamConnection};
use crate::body::Body;
use crate::sync::lock;
use bytes::Bytes;
use http::{Request, Response, Uri};
use hyper::body::{Frame, Incoming, SizeHint};
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
    while stack
        .front()
        .is_some_and(|oldest| stack.len() >= max || now - oldest.since >= IDLE_TIMEOUT)
    {
        stack.pop_front();
    }
    stack.push_back(Idle {
        connection,
        since: now,
    });
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
                Ok(response) => return Ok(track(response, sender, Home::Lane(lane.clone()))),
                Err(unsent) => request = unsent,
            }
        }
        let (sender, connection) = self.connect().await?;
        lane.install(Box::pin(connection), self);
        send_first(sender, request, Home::Lane(lane.clone())).await
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
                Ok(response) => return Ok(track(response, sender, Home::Pool(self.clone()))),
                Err(unsent) => request = unsent,
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

/// Sends on a connection that served before; a request it could not take
/// (it closed meanwhile) comes back unsent.
async fn send_reused(
    sender: &mut SendRequest<Body>,
    request: Request<Body>,
) -> Result<Result<Response<Incoming>, Request<Body>>, SendError> {
    match sender.try_send_request(request).await {
        Ok(response) => Ok(Ok(response)),
        Err(mut e) => match e.take_message() {
            Some(unsent) => Ok(Err(unsent)),
            None => Err(SendError::Http(e.into_error())),
        },
    }
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
mod tests {
    use super::*;
    use crate::coarse_timer::CoarseTimer;
    use http_body_util::{BodyExt, StreamBody};
    use hyper::server::conn::http1 as server;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::net::TcpListener;

    /// A local upstream that counts the connections it accepted. `/big`
    /// streams 64 chunks of 64 KiB; anything else answers "ok". With
    /// `keep_alive: false` it closes every connection after one response.
    /// Also gives the upstream's connections, to close them all at once.
    async fn upstream(keep_alive: bool) -> (Arc<Pool>, Arc<AtomicUsize>, Served) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let served = Served::default();
        let connections = served.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let service = service_fn(|request: Request<Incoming>| async move {
                    let body = if request.uri().path() == "/big" {
                        let chunks = (0..64).map(|_| {
                            Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from(
                                vec![7u8; 64 * 1024],
                            )))
                        });
                        StreamBody::new(futures_util::stream::iter(chunks)).boxed()
                    } else {
                        http_body_util::Full::new(Bytes::from_static(b"ok"))
                            .map_err(|never| match never {})
                            .boxed()
                    };
                    Ok::<_, std::convert::Infallible>(Response::new(body))
                });
                let connection = server::Builder::new()
                    .keep_alive(keep_alive)
                    .serve_connection(TokioIo::new(stream), service);
                lock(&connections).push(tokio::spawn(connection).abort_handle());
            }
        });
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let target = format!("http://{addr}/").parse().unwrap();
        (Pool::new(https, target), accepted, served)
    }

    type Served = Arc<Mutex<Vec<tokio::task::AbortHandle>>>;

    async fn get(pool: &Arc<Pool>, path: &str) -> Bytes {
        get_on(pool, None, path).await
    }

    /// A request on `lane` (when given), awaited inside `lane.drive` as a
    /// browser connection's task does.
    async fn get_on(pool: &Arc<Pool>, lane: Option<&Lane>, path: &str) -> Bytes {
        let request = Request::builder()
            .uri(path)
            .header("host", "upstream")
            .body(crate::body::empty())
            .unwrap();
        let exchange = async {
            let Ok(response) = pool.send(lane, request).await else {
                panic!("request to {path} failed");
            };
            response.into_body().collect().await.unwrap().to_bytes()
        };
        match lane {
            Some(lane) => lane.drive(exchange).await,
            None => exchange.await,
        }
    }

    fn idle_in_pool(pool: &Pool) -> usize {
        pool.lock().len()
    }

    fn parked(pool: &Pool) -> usize {
        lock(&pool.parked).len()
    }

    /// A lane that parks after 100 ms, used once and then idle for a while
    /// (its browser connection still open: its task still drives it).
    async fn used_then_idle(pool: &Arc<Pool>) -> Lane {
        let lane = Lane::parking_after(CoarseTimer::new(), Duration::from_millis(100));
        assert_eq!(get_on(pool, Some(&lane), "/small").await, "ok");
        assert_eq!(parked(pool), 0, "a lane in use keeps its connection");
        lane.drive(tokio::time::sleep(Duration::from_millis(800)))
            .await;
        lane
    }

    #[tokio::test]
    async fn an_idle_lane_parks_its_connection_for_the_next_lane() {
        let (pool, accepted, _) = upstream(true).await;
        let lane = used_then_idle(&pool).await;
        assert_eq!(parked(&pool), 1);
        let other = Lane::new(CoarseTimer::new());
        for _ in 0..3 {
            assert_eq!(get_on(&pool, Some(&other), "/small").await, "ok");
        }
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            1,
            "the parked one was taken"
        );
        assert_eq!(parked(&pool), 0);
        // The first lane, busy again, opens one: the other lane holds the first.
        assert_eq!(get_on(&pool, Some(&lane), "/small").await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_parked_connection_the_upstream_closed_is_not_taken() {
        let (pool, accepted, served) = upstream(true).await;
        let _lane = used_then_idle(&pool).await;
        assert_eq!(parked(&pool), 1);
        for connection in lock(&served).drain(..) {
            connection.abort();
        }
        // The close reaches the parked connection's socket.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let other = Lane::new(CoarseTimer::new());
        assert_eq!(get_on(&pool, Some(&other), "/small").await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2, "a new connection");
        assert_eq!(parked(&pool), 0);
    }

    #[tokio::test]
    async fn a_lane_keeps_its_own_connection_off_the_pool() {
        let (pool, accepted, _) = upstream(true).await;
        let lane = Lane::new(CoarseTimer::new());
        for _ in 0..20 {
            assert_eq!(get_on(&pool, Some(&lane), "/small").await, "ok");
        }
        assert_eq!(
            get_on(&pool, Some(&lane), "/big").await.len(),
            64 * 64 * 1024
        );
        assert_eq!(get_on(&pool, Some(&lane), "/small").await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(
            idle_in_pool(&pool),
            0,
            "the lane's connection is not pooled"
        );
        // A second browser connection gets a connection of its own.
        let other = Lane::new(CoarseTimer::new());
        assert_eq!(get_on(&pool, Some(&other), "/small").await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        // Closing the browser connections parks their lanes' connections,
        // and a new browser connection takes one.
        drop((lane, other));
        assert_eq!(parked(&pool), 2);
        let third = Lane::new(CoarseTimer::new());
        assert_eq!(get_on(&pool, Some(&third), "/small").await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        assert_eq!(parked(&pool), 1);
        // The proxy's own calls use the pool's connections, not parked ones.
        assert_eq!(get(&pool, "/small").await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_lane_replaces_a_connection_the_upstream_closed() {
        let (pool, accepted, _) = upstream(false).await;
        let lane = Lane::new(CoarseTimer::new());
        for _ in 0..5 {
            assert_eq!(get_on(&pool, Some(&lane), "/small").await, "ok");
            tokio::task::yield_now().await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 5);
    }

    /// Reads one frame of `/big` on `lane`, then drops the body.
    async fn abandon_a_body(pool: &Arc<Pool>, lane: &Lane) {
        let request = Request::builder()
            .uri("/big")
            .header("host", "upstream")
            .body(crate::body::empty())
            .unwrap();
        lane.drive(async {
            let Ok(response) = pool.send(Some(lane), request).await else {
                panic!("request failed");
            };
            let mut body = response.into_body();
            assert!(body.frame().await.is_some());
        })
        .await;
    }

    #[tokio::test]
    async fn a_lane_whose_body_was_abandoned_opens_a_new_connection() {
        let (pool, accepted, _) = upstream(true).await;
        let lane = Lane::new(CoarseTimer::new());
        abandon_a_body(&pool, &lane).await;
        assert_eq!(get_on(&pool, Some(&lane), "/small").await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        assert_eq!(get_on(&pool, Some(&lane), "/small").await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        // A browser connection that closes with a half-read body does not
        // park that connection.
        let abandoning = Lane::new(CoarseTimer::new());
        abandon_a_body(&pool, &abandoning).await;
        drop(abandoning);
        assert_eq!(parked(&pool), 0);
    }

    #[tokio::test]
    async fn sequential_requests_share_one_connection() {
        let (pool, accepted, _) = upstream(true).await;
        for _ in 0..20 {
            assert_eq!(get(&pool, "/small").await, "ok");
        }
        assert_eq!(get(&pool, "/big").await.len(), 64 * 64 * 1024);
        assert_eq!(get(&pool, "/small").await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn concurrent_requests_open_connections_that_are_then_reused() {
        let (pool, accepted, _) = upstream(true).await;
        let batch = (0..8).map(|_| get(&pool, "/big"));
        for body in futures_util::future::join_all(batch).await {
            assert_eq!(body.len(), 64 * 64 * 1024);
        }
        let opened = accepted.load(Ordering::SeqCst);
        assert!(
            (2..=8).contains(&opened),
            "{opened} connections for 8 concurrent requests"
        );
        let again = (0..8).map(|_| get(&pool, "/small"));
        futures_util::future::join_all(again).await;
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            opened,
            "idle connections are reused"
        );
    }

    #[tokio::test]
    async fn a_connection_the_upstream_closed_is_replaced() {
        let (pool, accepted, _) = upstream(false).await;
        for _ in 0..5 {
            assert_eq!(get(&pool, "/small").await, "ok");
            // Let the client notice the close, or race it: both must work.
            tokio::task::yield_now().await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn an_abandoned_body_closes_its_connection() {
        let (pool, accepted, _) = upstream(true).await;
        let request = Request::builder()
            .uri("/big")
            .header("host", "upstream")
            .body(crate::body::empty())
            .unwrap();
        let Ok(response) = pool.send(None, request).await else {
            panic!("request failed");
        };
        let mut body = response.into_body();
        assert!(body.frame().await.is_some());
        drop(body);
        assert_eq!(get(&pool, "/small").await, "ok");
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            2,
            "the half-read connection is not reused"
        );
        assert_eq!(get(&pool, "/small").await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }
}
