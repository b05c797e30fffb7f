//! A browser connection's own upstream connection, polled by the browser
//! connection's task.
//!
//! With the shared pool a forwarded request crosses two tasks: the
//! browser's connection hands it to the upstream connection's task, which
//! wakes the first one again with the response. A lane keeps one upstream
//! connection per browser connection and drives it from the browser
//! connection's task ([`Lane::drive`]), so a request and its response
//! are read and written in one pass, as an event-loop proxy does. A
//! request is sent on a lane only through the [`OnLane`] that `drive` hands
//! to the future it drives: it borrows the lane, so it cannot go into a
//! spawned task, where nothing would poll the lane's connection. HTTP/1.1
//! serves one request at a time per connection, so one upstream connection
//! is all a lane needs; when it is busy, or when [`MAX_LANES`] lanes already
//! hold a connection, requests go through the shared pool. When its
//! browser connection closes, or has sent nothing for [`PARK_AFTER`], a lane
//! parks its idle connection with the pool, where the next lane that needs
//! one takes it: upstream connections outlive browser connections, as in an
//! nginx upstream keep-alive cache, and idle browser connections hold none.
//! The lane also keeps the connection's response deadline on the coarse
//! timer ([`Lane::within`]).

mod atomics;
mod wakers;
mod within;

use super::dial::Connection;
use super::park::Parking;
use crate::coarse_timer::{CoarseSleep, CoarseTimer};
use crate::sync::lock;
use hyper::client::conn::http1::SendRequest;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use wakers::{Side, Wakers};
pub use within::Within;

/// At most this many lanes hold an upstream connection at once: idle
/// browser connections must not pin an unbounded number of them.
pub const MAX_LANES: usize = 1024;

/// A lane whose connection has been idle this long parks it with the pool.
const PARK_AFTER: Duration = Duration::from_secs(2);

/// One browser connection's upstream connection, owned by that
/// connection's task. Requests are sent on it only through [`OnLane`],
/// which [`Lane::drive`] hands out.
pub struct Lane<B>(Arc<State<B>>);

/// Sends on a lane: handed out by [`Lane::drive`] to the future it drives,
/// and valid only while it drives it. It borrows the lane, so it cannot be
/// moved into a spawned task (`'static`), where the lane's connection
/// would not be polled and the request would wait for nothing. (A
/// response body stays `'static`, as hyper's server wants it: the pipeline
/// hands it to hyper, which reads it in the same task, inside `drive`.)
pub struct OnLane<'a, B>(&'a Lane<B>);

impl<B> Clone for OnLane<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B> Copy for OnLane<'_, B> {}

impl<'a, B> OnLane<'a, B> {
    /// The coarse timer the lane's deadlines are on.
    pub fn timer(self) -> &'a CoarseTimer {
        &self.0.0.timer
    }

    /// `future`'s output, or `None` if it takes longer than `limit` (give
    /// or take the coarse timer's tick).
    pub fn within<F: Future>(self, limit: Duration, future: F) -> Within<'a, B, F> {
        Within::new(self.0, limit, future)
    }

    pub(in crate::pool) fn lane(self) -> &'a Lane<B> {
        self.0
    }
}

struct State<B> {
    slot: Mutex<Slot<B>>,
    /// A connection was installed and not polled yet.
    fresh: AtomicBool,
    timer: CoarseTimer,
    /// The response deadline, re-armed for each request.
    deadline: Mutex<Option<CoarseSleep>>,
    park_after: Duration,
}

struct Slot<B> {
    /// Polled by [`Lane::drive`].
    connection: Option<Connection>,
    /// The connection's sender while no request is on it.
    sender: Option<SendRequest<B>>,
    /// Held while the lane has a connection.
    seat: Option<Seat>,
    /// Where the connection is parked once idle.
    parking: Option<Arc<Parking<B>>>,
    /// When the idle connection is parked; re-armed whenever it turns idle.
    park: Option<CoarseSleep>,
}

impl<B> Default for Slot<B> {
    fn default() -> Self {
        Slot {
            connection: None,
            sender: None,
            seat: None,
            parking: None,
            park: None,
        }
    }
}

impl<B> Slot<B> {
    /// Gives an idle connection to the pool; one still in an exchange is closed.
    fn park(self) {
        if let Slot {
            connection: Some(connection),
            sender: Some(sender),
            parking: Some(parking),
            ..
        } = self
            && sender.is_ready()
        {
            parking.park(connection, sender);
        }
    }
}

impl<B> Drop for State<B> {
    /// A closed browser connection's idle upstream connection serves the next lane.
    fn drop(&mut self) {
        let slot = self.slot.get_mut().unwrap_or_else(PoisonError::into_inner);
        std::mem::take(slot).park();
    }
}

/// What a lane offers a new request.
pub enum Checkout<B> {
    /// Its idle connection.
    Ready(SendRequest<B>),
    /// No usable connection: one may be opened for the lane.
    Empty,
    /// Its connection is still finishing an exchange.
    Busy,
}

impl<B> Lane<B> {
    pub fn new(timer: CoarseTimer) -> Lane<B> {
        Lane::parking_after(timer, PARK_AFTER)
    }

    pub(in crate::pool) fn parking_after(timer: CoarseTimer, park_after: Duration) -> Lane<B> {
        Lane(Arc::new(State {
            slot: Mutex::default(),
            fresh: AtomicBool::new(false),
            timer,
            deadline: Mutex::default(),
            park_after,
        }))
    }

    /// Another handle on the same lane, for a response body that gives
    /// the connection back.
    pub(in crate::pool) fn share(&self) -> Lane<B> {
        Lane(self.0.clone())
    }

    /// Polls the future `run` makes and the lane's connection together,
    /// until that future is done, each only when woken (see [`wakers`]).
    /// Only that future can send on the lane ([`OnLane`]), so every request
    /// sent on it is awaited here.
    pub async fn drive<R>(&self, run: impl AsyncFnOnce(OnLane<'_, B>) -> R) -> R {
        let mut future = pin!(run(OnLane(self)));
        let wakers = Wakers::new();
        poll_fn(|cx| {
            wakers.start(cx.waker());
            for _ in 0..MAX_ROUNDS {
                // The connection first: a response that arrived reaches the
                // future in the same round.
                let fresh = self.0.fresh.swap(false, Ordering::SeqCst);
                if wakers.take(Side::Connection) || fresh {
                    self.poll_connection(&mut Context::from_waker(&wakers.connection), fresh);
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

    /// Polls the connection; parks it if it has been idle long enough.
    fn poll_connection(&self, cx: &mut Context<'_>, fresh: bool) {
        let mut slot = self.lock();
        let Some(connection) = slot.connection.as_mut() else {
            return;
        };
        if let Poll::Ready(ended) = connection.as_mut().poll(cx) {
            if let Err(e) = ended {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
            *slot = Slot::default();
            return;
        }
        // The parking sleep learns the connection's waker on the first poll
        // of a connection, and is looked at again whenever it is idle.
        let idle = slot.sender.as_ref().is_some_and(SendRequest::is_ready);
        if !(fresh || idle) {
            return;
        }
        let due = slot
            .park
            .as_mut()
            .is_some_and(|sleep| Pin::new(sleep).poll(cx).is_ready());
        if due && idle {
            let idle = std::mem::take(&mut *slot);
            drop(slot);
            idle.park();
        }
    }

    pub fn checkout(&self) -> Checkout<B> {
        let mut slot = self.lock();
        if let Some(sleep) = &slot.park {
            self.0.timer.disarm(sleep);
        }
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

    /// Makes `connection` the lane's, replacing (and closing) any previous
    /// one; it is parked with `parking` once idle.
    pub fn install(&self, connection: Connection, parking: &Arc<Parking<B>>) {
        let mut slot = self.lock();
        match &slot.park {
            Some(sleep) => self.0.timer.disarm(sleep),
            None => {
                let sleep = self.0.timer.sleep_for(self.0.park_after);
                self.0.timer.disarm(&sleep);
                slot.park = Some(sleep);
            }
        }
        slot.connection = Some(connection);
        slot.sender = None;
        slot.parking = Some(parking.clone());
        // Polled next with the connection's waker (so is the parking sleep).
        self.0.fresh.store(true, Ordering::SeqCst);
    }

    /// Takes back the sender once its response was read to the end; the
    /// connection is parked if no request comes within the parking time.
    pub fn checkin(&self, sender: SendRequest<B>) {
        let mut slot = self.lock();
        if slot.connection.is_some() {
            slot.sender = Some(sender);
            if let Some(sleep) = &slot.park {
                self.0.timer.rearm(sleep, self.0.park_after);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slot<B>> {
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

    #[tokio::test(start_paused = true)]
    async fn within_gives_up_after_the_limit_and_is_rearmed_per_request() {
        let lane: Lane<crate::body::Body> = Lane::new(CoarseTimer::new());
        let limit = Duration::from_millis(300);
        lane.drive(async |on_lane| {
            let started = tokio::time::Instant::now();
            assert!(
                on_lane
                    .within(limit, std::future::pending::<()>())
                    .await
                    .is_none()
            );
            let took = started.elapsed();
            assert!(took >= Duration::from_millis(50), "gave up early: {took:?}");
            assert!(took < Duration::from_secs(2), "gave up late: {took:?}");
            // The same lane, a new request: a fresh deadline, not the passed one.
            let answer = on_lane.within(limit, async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                7
            });
            assert_eq!(answer.await, Some(7));
        })
        .await;
    }
}
