//! The pool's connection lifecycle over in-memory pipes
//! (`tokio::io::duplex`), with a hyper server, or a bare one that can close
//! a connection unanswered, on the other end; on tokio's paused time.

use super::*;
use crate::coarse_timer::CoarseTimer;
use crate::pool::park::IDLE_TIMEOUT;
use http::Method;
use http_body_util::{BodyExt, StreamBody};
use hyper::server::conn::http1 as server;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::DuplexStream;
use tokio::sync::mpsc;

type Pool = super::Pool<crate::body::Body>;
type Lane = super::Lane<crate::body::Body>;
type OnLane<'a> = super::OnLane<'a, crate::body::Body>;

/// The pipe's capacity each way.
const PIPE: usize = 64 * 1024;

/// A [`Connect`] whose streams are in-memory pipes; the other ends come
/// out of the [`Listener`].
struct Memory(mpsc::UnboundedSender<DuplexStream>);

/// The upstream's ends of the pipes the pool opened.
struct Listener(mpsc::UnboundedReceiver<DuplexStream>);

impl Connect for Memory {
    type Io = DuplexStream;

    async fn connect(&self) -> Result<DuplexStream, String> {
        let (ours, theirs) = tokio::io::duplex(PIPE);
        self.0
            .send(theirs)
            .map_err(|_| "the upstream is gone".to_string())?;
        Ok(ours)
    }
}

impl Listener {
    async fn accept(&mut self) -> Option<DuplexStream> {
        self.0.recv().await
    }
}

/// A pool to an in-memory upstream, and that upstream's listener.
fn pool_and_listener() -> (Arc<Pool>, Listener) {
    let (connect, accept) = mpsc::unbounded_channel();
    (
        Pool::new(Memory(connect), Default::default()),
        Listener(accept),
    )
}

/// An upstream that counts the connections it accepted. `/big` streams 64
/// chunks of 64 KiB; `/broken` breaks the connection after a first chunk;
/// anything else answers "ok". With
/// `keep_alive: false` it closes every connection after one response.
/// Also gives the upstream's connections, to close them all at once.
async fn upstream(keep_alive: bool) -> (Arc<Pool>, Arc<AtomicUsize>, Served) {
    let (pool, mut listener) = pool_and_listener();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let served = Served::default();
    let connections = served.clone();
    tokio::spawn(async move {
        while let Some(stream) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let service = service_fn(|request: Request<Incoming>| async move {
                let body = match request.uri().path() {
                    "/big" => {
                        let chunks = (0..64).map(|_| {
                            Ok::<_, std::io::Error>(Frame::data(Bytes::from(vec![7u8; 64 * 1024])))
                        });
                        StreamBody::new(futures_util::stream::iter(chunks)).boxed()
                    }
                    // Half an answer, then the upstream breaks the connection.
                    "/broken" => {
                        let half = Ok(Frame::data(Bytes::from_static(b"half")));
                        // Once the head and the first chunk are on their way.
                        let broken = async {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            Err(std::io::Error::other("the upstream went away"))
                        };
                        let frames = futures_util::StreamExt::chain(
                            futures_util::stream::iter([half]),
                            futures_util::stream::once(broken),
                        );
                        StreamBody::new(Box::pin(frames)).boxed()
                    }
                    _ => http_body_util::Full::new(Bytes::from_static(b"ok"))
                        .map_err(|never| match never {})
                        .boxed(),
                };
                Ok::<_, std::convert::Infallible>(Response::new(body))
            });
            let connection = server::Builder::new()
                .keep_alive(keep_alive)
                .serve_connection(TokioIo::new(stream), service);
            lock(&connections).push(tokio::spawn(connection).abort_handle());
        }
    });
    (pool, accepted, served)
}

/// [`closing_upstream`] answers every request.
const ANSWER: usize = 0;
/// It answers a connection's first request, and closes the connection
/// unanswered on any later one.
const CLOSE_REUSED: usize = 1;
/// It closes every connection unanswered.
const CLOSE_ALL: usize = 2;

/// [`closing_upstream`]: a pool to it, its mode (above, changed at any
/// time), the request lines it read in order, and how many connections
/// it accepted and how many of those ended.
struct Closing {
    pool: Arc<Pool>,
    mode: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<String>>>,
    accepted: Arc<AtomicUsize>,
    ended: Arc<AtomicUsize>,
}

/// A bare upstream that can read a request and close its connection
/// without answering, as when an upstream's idle close crosses a
/// request; otherwise answers "ok". Requests must have no body.
async fn closing_upstream() -> Closing {
    let (pool, mut listener) = pool_and_listener();
    let upstream = Closing {
        pool,
        mode: Arc::new(AtomicUsize::new(ANSWER)),
        seen: Arc::default(),
        accepted: Arc::default(),
        ended: Arc::default(),
    };
    let (mode, seen) = (upstream.mode.clone(), upstream.seen.clone());
    let (accepted, ended) = (upstream.accepted.clone(), upstream.ended.clone());
    tokio::spawn(async move {
        while let Some(stream) = listener.accept().await {
            accepted.fetch_add(1, Ordering::SeqCst);
            let (mode, seen, ended) = (mode.clone(), seen.clone(), ended.clone());
            tokio::spawn(async move {
                serve_or_close(stream, &mode, &seen).await;
                ended.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    upstream
}

/// One connection of [`closing_upstream`], until it or the client closes it.
async fn serve_or_close(stream: DuplexStream, mode: &AtomicUsize, seen: &Mutex<Vec<String>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut stream = BufReader::new(stream);
    for answered in 0.. {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            head.push(line);
        }
        lock(seen).push(head[0].trim_end().to_string());
        match mode.load(Ordering::SeqCst) {
            CLOSE_ALL => return,
            CLOSE_REUSED if answered > 0 => return,
            _ => {}
        }
        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        if stream.get_mut().write_all(answer).await.is_err() {
            return;
        }
    }
}

/// How many of the request lines `seen` are `line`.
fn times(seen: &Mutex<Vec<String>>, line: &str) -> usize {
    lock(seen).iter().filter(|l| *l == line).count()
}

type Served = Arc<Mutex<Vec<tokio::task::AbortHandle>>>;

async fn get(pool: &Arc<Pool>, path: &str) -> Bytes {
    get_on(pool, None, path).await
}

/// A request on `lane` (when given), awaited inside `lane.drive` as a
/// browser connection's task does.
async fn get_on(pool: &Arc<Pool>, lane: Option<&Lane>, path: &str) -> Bytes {
    let answer = send_on(pool, lane, Method::GET, path).await;
    answer.unwrap_or_else(|| panic!("request to {path} failed"))
}

/// A request without a body on `lane` (when given): the response body,
/// or `None` if there was no response.
async fn send_on(
    pool: &Arc<Pool>,
    lane: Option<&Lane>,
    method: Method,
    path: &str,
) -> Option<Bytes> {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "upstream")
        .body(crate::body::empty())
        .unwrap();
    let exchange = async |lane: Option<OnLane<'_>>| {
        let response = pool.send(lane, request).await.ok()?;
        Some(response.into_body().collect().await.unwrap().to_bytes())
    };
    match lane {
        Some(lane) => {
            lane.drive(async |on_lane| exchange(Some(on_lane)).await)
                .await
        }
        None => exchange(None).await,
    }
}

/// `count` lanes that each used a connection of their own and closed,
/// parking them.
async fn park(pool: &Arc<Pool>, count: usize) {
    let mut lanes = Vec::new();
    for _ in 0..count {
        let lane = Lane::new(CoarseTimer::new());
        assert_eq!(get_on(pool, Some(&lane), "/first").await, "ok");
        lanes.push(lane);
    }
    drop(lanes);
    assert_eq!(parked(pool), count);
}

fn idle_in_pool(pool: &Pool) -> usize {
    lock(&pool.idle).len()
}

fn parked(pool: &Pool) -> usize {
    pool.parked.len()
}

/// A lane that parks after 100 ms, used once and then idle for a while
/// (its browser connection still open: its task still drives it).
async fn used_then_idle(pool: &Arc<Pool>) -> Lane {
    let lane = Lane::parking_after(CoarseTimer::new(), Duration::from_millis(100));
    assert_eq!(get_on(pool, Some(&lane), "/small").await, "ok");
    assert_eq!(parked(pool), 0, "a lane in use keeps its connection");
    lane.drive(async |_| tokio::time::sleep(Duration::from_millis(800)).await)
        .await;
    lane
}

#[tokio::test(start_paused = true)]
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

#[tokio::test(start_paused = true)]
async fn a_parked_connection_the_upstream_closed_is_not_taken() {
    let (pool, accepted, served) = upstream(true).await;
    let _lane = used_then_idle(&pool).await;
    assert_eq!(parked(&pool), 1);
    for connection in lock(&served).drain(..) {
        connection.abort();
    }
    // The close reaches the parked connection's pipe.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let other = Lane::new(CoarseTimer::new());
    assert_eq!(get_on(&pool, Some(&other), "/small").await, "ok");
    assert_eq!(accepted.load(Ordering::SeqCst), 2, "a new connection");
    assert_eq!(parked(&pool), 0);
}

#[tokio::test(start_paused = true)]
async fn a_get_a_reused_connection_closed_unanswered_is_sent_once_more_on_a_new_one() {
    let Closing {
        pool,
        mode,
        seen,
        accepted,
        ..
    } = closing_upstream().await;
    park(&pool, 1).await;
    assert_eq!(get(&pool, "/pooled").await, "ok");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    mode.store(CLOSE_REUSED, Ordering::SeqCst);
    // A parked connection.
    let lane = Lane::new(CoarseTimer::new());
    assert_eq!(get_on(&pool, Some(&lane), "/parked").await, "ok");
    assert_eq!(times(&seen, "GET /parked HTTP/1.1"), 2);
    // A pooled one (the proxy's own calls).
    assert_eq!(get(&pool, "/pooled").await, "ok");
    assert_eq!(times(&seen, "GET /pooled HTTP/1.1"), 3);
    assert_eq!(accepted.load(Ordering::SeqCst), 4);
    // The new connections went home and serve again.
    mode.store(ANSWER, Ordering::SeqCst);
    assert_eq!(get_on(&pool, Some(&lane), "/again").await, "ok");
    assert_eq!(get(&pool, "/again").await, "ok");
    assert_eq!(accepted.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn a_post_a_reused_connection_closed_unanswered_is_not_sent_again() {
    let Closing {
        pool, mode, seen, ..
    } = closing_upstream().await;
    park(&pool, 1).await;
    mode.store(CLOSE_REUSED, Ordering::SeqCst);
    let lane = Lane::new(CoarseTimer::new());
    let answer = send_on(&pool, Some(&lane), Method::POST, "/rpc").await;
    assert_eq!(answer, None, "no response: the proxy answers 502");
    assert_eq!(times(&seen, "POST /rpc HTTP/1.1"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_request_is_sent_again_at_most_once() {
    let Closing {
        pool, mode, seen, ..
    } = closing_upstream().await;
    park(&pool, 3).await;
    mode.store(CLOSE_ALL, Ordering::SeqCst);
    let lane = Lane::new(CoarseTimer::new());
    assert_eq!(send_on(&pool, Some(&lane), Method::GET, "/x").await, None);
    assert_eq!(
        times(&seen, "GET /x HTTP/1.1"),
        2,
        "a parked connection, then a new one"
    );
    assert_eq!(parked(&pool), 2, "the other parked ones were not tried");
}

#[tokio::test(start_paused = true)]
async fn expired_idle_and_parked_connections_are_closed_when_swept() {
    let Closing { pool, ended, .. } = closing_upstream().await;
    let (first, second) = (Lane::new(CoarseTimer::new()), Lane::new(CoarseTimer::new()));
    assert_eq!(get_on(&pool, Some(&first), "/first").await, "ok");
    assert_eq!(get_on(&pool, Some(&second), "/first").await, "ok");
    assert_eq!(get(&pool, "/pooled").await, "ok");
    drop(first);
    // The second lane's connection is parked half the idle timeout later.
    tokio::time::advance(IDLE_TIMEOUT / 2).await;
    drop(second);
    pool.close_expired();
    assert_eq!((parked(&pool), idle_in_pool(&pool)), (2, 1), "none expired");
    // The first parked connection and the pooled one were idle for the
    // whole timeout.
    tokio::time::advance(IDLE_TIMEOUT / 2).await;
    pool.close_expired();
    assert_eq!((parked(&pool), idle_in_pool(&pool)), (1, 0));
    tokio::time::timeout(Duration::from_secs(5), async {
        while ended.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the upstream sees both connections closed");
    assert_eq!(ended.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
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

#[tokio::test(start_paused = true)]
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
    lane.drive(async |on_lane| {
        let Ok(response) = pool.send(Some(on_lane), request).await else {
            panic!("request failed");
        };
        let mut body = response.into_body();
        assert!(body.frame().await.is_some());
    })
    .await;
}

#[tokio::test(start_paused = true)]
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

#[tokio::test(start_paused = true)]
async fn sequential_requests_share_one_connection() {
    let (pool, accepted, _) = upstream(true).await;
    for _ in 0..20 {
        assert_eq!(get(&pool, "/small").await, "ok");
    }
    assert_eq!(get(&pool, "/big").await.len(), 64 * 64 * 1024);
    assert_eq!(get(&pool, "/small").await, "ok");
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
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

#[tokio::test(start_paused = true)]
async fn a_connection_the_upstream_closed_is_replaced() {
    let (pool, accepted, _) = upstream(false).await;
    for _ in 0..5 {
        assert_eq!(get(&pool, "/small").await, "ok");
        // Let the client notice the close, or race it: both must work.
        tokio::task::yield_now().await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 5);
}

#[tokio::test(start_paused = true)]
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

/// `/broken` on `lane` (when given): the response came, its body failed.
async fn read_a_broken_body(pool: &Arc<Pool>, lane: Option<&Lane>) {
    let request = Request::builder()
        .uri("/broken")
        .header("host", "upstream")
        .body(crate::body::empty())
        .unwrap();
    let exchange = async |lane: Option<OnLane<'_>>| {
        let Ok(response) = pool.send(lane, request).await else {
            panic!("no response");
        };
        response.into_body().collect().await.map(|_| ())
    };
    let read = match lane {
        Some(lane) => {
            lane.drive(async |on_lane| exchange(Some(on_lane)).await)
                .await
        }
        None => exchange(None).await,
    };
    assert!(read.is_err(), "a body cut off by the upstream fails");
}

#[tokio::test(start_paused = true)]
async fn a_connection_the_upstream_closed_mid_answer_is_not_reused() {
    let (pool, accepted, _) = upstream(true).await;
    read_a_broken_body(&pool, None).await;
    assert_eq!(get(&pool, "/small").await, "ok");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        2,
        "a new pooled connection"
    );
    assert_eq!(idle_in_pool(&pool), 1);
    let lane = Lane::new(CoarseTimer::new());
    read_a_broken_body(&pool, Some(&lane)).await;
    assert_eq!(get_on(&pool, Some(&lane), "/small").await, "ok");
    assert_eq!(accepted.load(Ordering::SeqCst), 4, "a new lane connection");
    drop(lane);
    assert_eq!(
        parked(&pool),
        1,
        "the new one is parked, the broken one is gone"
    );
}
