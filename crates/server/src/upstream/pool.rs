//! Keep-alive HTTP/1.1 connections to the one upstream.
//!
//! There is a single origin, so the pool is a stack of idle connections:
//! no keyed lookup, no per-request URI parsing. A connection goes back on
//! the stack once its response body has been read to the end; one whose
//! body was abandoned is closed. The most recently used connection is
//! reused first, and idle ones expire after [`IDLE_TIMEOUT`].

use crate::body::Body;
use bytes::Bytes;
use http::{Request, Response, Uri};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower_service::Service;

/// Idle connections older than this are closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// At most this many idle connections are kept.
const MAX_IDLE: usize = 1024;
/// Read buffer per upstream connection: bodies stream, so a small buffer
/// keeps memory flat with many large transfers at once.
const READ_BUFFER: usize = 64 * 1024;

/// Why a request did not get a response.
pub enum SendError {
    Connect(String),
    Http(hyper::Error),
}

struct Idle {
    sender: SendRequest<Body>,
    since: Instant,
}

pub struct Pool {
    connector: HttpsConnector<HttpConnector>,
    /// `scheme://authority/`, what the connector connects to.
    target: Uri,
    idle: Mutex<VecDeque<Idle>>,
}

impl Pool {
    pub fn new(connector: HttpsConnector<HttpConnector>, target: Uri) -> Arc<Pool> {
        Arc::new(Pool {
            connector,
            target,
            idle: Mutex::new(VecDeque::new()),
        })
    }

    /// Sends `request` (origin-form URI, `Host` set) on an idle connection,
    /// or a new one. A request that a reused connection could not take (it
    /// closed meanwhile) is sent again on a new connection.
    pub async fn send(
        self: &Arc<Self>,
        request: Request<Body>,
    ) -> Result<Response<PooledBody>, SendError> {
        let mut request = request;
        if let Some(mut sender) = self.checkout() {
            match sender.try_send_request(request).await {
                Ok(response) => return Ok(self.track(response, sender)),
                Err(mut e) => match e.take_message() {
                    Some(unsent) => request = unsent,
                    None => return Err(SendError::Http(e.into_error())),
                },
            }
        }
        // Boxed: connecting is rare, and its future would otherwise make
        // every request's future larger.
        let mut sender = Box::pin(self.connect()).await?;
        let response = sender
            .send_request(request)
            .await
            .map_err(SendError::Http)?;
        Ok(self.track(response, sender))
    }

    fn track(
        self: &Arc<Self>,
        response: Response<Incoming>,
        sender: SendRequest<Body>,
    ) -> Response<PooledBody> {
        response.map(|body| PooledBody::new(body, sender, self.clone()))
    }

    /// The most recently used idle connection that is still open.
    fn checkout(&self) -> Option<SendRequest<Body>> {
        let mut idle = self.lock();
        while let Some(Idle { sender, since }) = idle.pop_back() {
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
        let now = Instant::now();
        let mut idle = self.lock();
        while idle
            .front()
            .is_some_and(|oldest| idle.len() >= MAX_IDLE || now - oldest.since >= IDLE_TIMEOUT)
        {
            idle.pop_front();
        }
        idle.push_back(Idle { sender, since: now });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Idle>> {
        // Only pushes and pops happen under the lock; a poisoned one is reused.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn connect(&self) -> Result<SendRequest<Body>, SendError> {
        let mut connector = self.connector.clone();
        let io = connector
            .call(self.target.clone())
            .await
            .map_err(|e| SendError::Connect(describe(&*e)))?;
        let (sender, connection) = http1::Builder::new()
            .max_buf_size(READ_BUFFER)
            .handshake(io)
            .await
            .map_err(SendError::Http)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
        });
        Ok(sender)
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
    /// An upstream response body that gives its connection back to the
    /// pool once read to the end.
    pub struct PooledBody {
        #[pin]
        inner: Incoming,
        owner: Option<(SendRequest<Body>, Arc<Pool>)>,
    }
}

impl PooledBody {
    fn new(inner: Incoming, sender: SendRequest<Body>, pool: Arc<Pool>) -> PooledBody {
        let mut body = PooledBody {
            inner,
            owner: Some((sender, pool)),
        };
        if hyper::body::Body::is_end_stream(&body.inner) {
            release(&mut body.owner);
        }
        body
    }
}

fn release(owner: &mut Option<(SendRequest<Body>, Arc<Pool>)>) {
    if let Some((sender, pool)) = owner.take() {
        pool.checkin(sender);
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
    use http_body_util::{BodyExt, StreamBody};
    use hyper::server::conn::http1 as server;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::net::TcpListener;

    /// A local upstream that counts the connections it accepted. `/big`
    /// streams 64 chunks of 64 KiB; anything else answers "ok". With
    /// `keep_alive: false` it closes every connection after one response.
    async fn upstream(keep_alive: bool) -> (Arc<Pool>, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
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
                tokio::spawn(connection);
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
        (Pool::new(https, target), accepted)
    }

    async fn get(pool: &Arc<Pool>, path: &str) -> Bytes {
        let request = Request::builder()
            .uri(path)
            .header("host", "upstream")
            .body(crate::body::empty())
            .unwrap();
        let Ok(response) = pool.send(request).await else {
            panic!("request to {path} failed");
        };
        response.into_body().collect().await.unwrap().to_bytes()
    }

    #[tokio::test]
    async fn sequential_requests_share_one_connection() {
        let (pool, accepted) = upstream(true).await;
        for _ in 0..20 {
            assert_eq!(get(&pool, "/small").await, "ok");
        }
        assert_eq!(get(&pool, "/big").await.len(), 64 * 64 * 1024);
        assert_eq!(get(&pool, "/small").await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn concurrent_requests_open_connections_that_are_then_reused() {
        let (pool, accepted) = upstream(true).await;
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
        let (pool, accepted) = upstream(false).await;
        for _ in 0..5 {
            assert_eq!(get(&pool, "/small").await, "ok");
            // Let the client notice the close, or race it: both must work.
            tokio::task::yield_now().await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn an_abandoned_body_closes_its_connection() {
        let (pool, accepted) = upstream(true).await;
        let request = Request::builder()
            .uri("/big")
            .header("host", "upstream")
            .body(crate::body::empty())
            .unwrap();
        let Ok(response) = pool.send(request).await else {
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
