//! A browser connection's own upstream connection, polled by the browser
//! connection's task.
//!
//! With the shared pool a forwarded request crosses two tasks: the
//! browser's connection hands it to the upstream connection's task, which
//! wakes the first one again with the response. A lane keeps one upstream
//! connection per browser connection and drives it from the browser
//! connection's task ([`Lane::drive`]), so a request and its response
//! are read and written in one pass, as an event-loop proxy does. HTTP/1.1
//! serves one request at a time per connection, so one upstream connection
//! is all a lane needs; when it is busy, or when [`MAX_LANES`] lanes already
//! hold a connection, requests go through the shared pool. The lane also
//! keeps the connection's response deadline on the coarse timer
//! ([`Lane::within`]).

mod wakers;
mod within;

use crate::body::Body;
use crate::coarse_timer::{CoarseSleep, CoarseTimer};
use crate::sync::lock;
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_rustls::MaybeHttpsStream;
use hyper_util::rt::TokioIo;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;
use wakers::{Side, Wakers};
pub use within::Within;

/// At most this many lanes hold an upstream connection at once: idle
/// browser connections must not pin an unbounded number of them.
pub const MAX_LANES: usize = 1024;

pub type UpstreamConnection = Connection<MaybeHttpsStream<TokioIo<TcpStream>>, Body>;

/// One browser connection's upstream connection; clones share it.
#[derive(Clone)]
pub struct Lane(Arc<State>);

struct State {
    slot: Mutex<Slot>,
    /// A connection was installed and not polled yet.
    fresh: AtomicBool,
    timer: CoarseTimer,
    /// The response deadline, re-armed for each request.
    deadline: Mutex<Option<CoarseSleep>>,
}

#[derive(Default)]
struct Slot {
    /// Polled by [`Lane::drive`].
    connection: Option<Pin<Box<UpstreamConnection>>>,
    /// The connection's sender while no request is on it.
    sender: Option<SendRequest<Body>>,
    /// Held while the lane has a connection.
    seat: Option<Seat>,
}

/// What a lane offers a new request.
pub enum Checkout {
    /// Its idle connection.
    Ready(SendRequest<Body>),
    /// No usable connection: one may be opened for the lane.
    Empty,
    /// Its connection is still finishing an exchange.
    Busy,
}

impl Lane {
    pub fn new(timer: CoarseTimer) -> Lane {
        Lane(Arc::new(State {
            slot: Mutex::default(),
            fresh: AtomicBool::new(false),
            timer,
            deadline: Mutex::default(),
        }))
    }

    /// The coarse timer the lane's deadlines are on.
    pub fn timer(&self) -> &CoarseTimer {
        &self.0.timer
    }

    /// `future`'s output, or `None` if it takes longer than `limit` (give
    /// or take the coarse timer's tick).
    pub fn within<F: Future>(&self, limit: Duration, future: F) -> Within<'_, F> {
        Within::new(self, limit, future)
    }

    /// Polls `future` and the lane's connection together, until `future`
    /// is done, each only when woken (see [`wakers`]).
    pub async fn drive<F: Future>(&self, future: F) -> F::Output {
        let mut future = pin!(future);
        let wakers = Wakers::new();
        poll_fn(|cx| {
            wakers.start(cx.waker());
            for _ in 0..MAX_ROUNDS {
                // The connection first: a response that arrived reaches the
                // future in the same round.
                let fresh = self.0.fresh.swap(false, Ordering::SeqCst);
                if wakers.take(Side::Connection) || fresh {
                    self.poll_connection(&mut Context::from_waker(&wakers.connection));
                }
                if wakers.take(Side::Future)
                    && let Poll::Ready(output) = future
                        .as_mut()
                        .poll(&mut Context::from_waker(&wakers.future))
                {
                    wakers.pause();
                    return Poll::Ready(output);
                }
                if !self.0.fresh.load(Ordering::SeqCst) && wakers.stop() {
                    return Poll::Pending;
                }
            }
            // Still being woken: let other tasks run first.
            wakers.pause();
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await
    }

    fn poll_connection(&self, cx: &mut Context<'_>) {
        let mut slot = self.lock();
        let Some(connection) = slot.connection.as_mut() else {
            return;
        };
        if let Poll::Ready(ended) = connection.as_mut().poll(cx) {
            if let Err(e) = ended {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
            *slot = Slot::default();
        }
    }

    pub fn checkout(&self) -> Checkout {
        let mut slot = self.lock();
        match slot.sender.take() {
            Some(sender) if sender.is_ready() => Checkout::Ready(sender),
            Some(sender) if !sender.is_closed() => {
                slot.sender = Some(sender);
                Checkout::Busy
            }
            // Closed, or its last response body was abandoned (which closes
            // the connection): replaced by the next one installed.
            _ => Checkout::Empty,
        }
    }

    /// Whether the lane may hold a connection: it has a seat, or takes one.
    pub fn claim_seat(&self, seats: &Seats) -> bool {
        let mut slot = self.lock();
        if slot.seat.is_none() {
            slot.seat = seats.take();
        }
        slot.seat.is_some()
    }

    /// Makes `connection` the lane's, replacing (and closing) any previous one.
    pub fn install(&self, connection: UpstreamConnection) {
        let mut slot = self.lock();
        slot.connection = Some(Box::pin(connection));
        slot.sender = None;
        self.0.fresh.store(true, Ordering::SeqCst);
    }

    /// Takes back the sender once its response was read to the end.
    pub fn checkin(&self, sender: SendRequest<Body>) {
        let mut slot = self.lock();
        if slot.connection.is_some() {
            slot.sender = Some(sender);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        lock(&self.0.slot)
    }
}

/// How many times one poll of [`Lane::drive`] goes round when woken from inside.
const MAX_ROUNDS: usize = 8;

/// Counts the lanes that hold a connection.
#[derive(Default)]
pub struct Seats(Arc<AtomicUsize>);

/// One of [`MAX_LANES`] places, given back when dropped.
pub struct Seat(Arc<AtomicUsize>);

impl Seats {
    pub fn take(&self) -> Option<Seat> {
        let taken = self.0.fetch_add(1, Ordering::Relaxed);
        if taken >= MAX_LANES {
            self.0.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(Seat(self.0.clone()))
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seats_are_capped_and_given_back() {
        let seats = Seats::default();
        let mut taken: Vec<Seat> = (0..MAX_LANES).map_while(|_| seats.take()).collect();
        assert_eq!(taken.len(), MAX_LANES);
        assert!(seats.take().is_none(), "no seat beyond MAX_LANES");
        taken.pop();
        assert!(seats.take().is_some(), "a dropped seat is free again");
    }

    #[tokio::test]
    async fn within_gives_up_after_the_limit_and_is_rearmed_per_request() {
        let lane = Lane::new(CoarseTimer::new());
        let limit = Duration::from_millis(300);
        let started = std::time::Instant::now();
        assert!(
            lane.within(limit, std::future::pending::<()>())
                .await
                .is_none()
        );
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(50), "gave up early: {took:?}");
        assert!(took < Duration::from_secs(2), "gave up late: {took:?}");
        // The same lane, a new request: a fresh deadline, not the passed one.
        let answer = lane.within(limit, async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            7
        });
        assert_eq!(answer.await, Some(7));
    }
}
