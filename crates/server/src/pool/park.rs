//! Idle connections: stacks that expire their oldest, and the parking of
//! an idle lane's connection until the next lane takes it.
//!
//! A stack is used from the top (the most recently idle connection first)
//! and its entries expire after [`IDLE_TIMEOUT`]. Times are tokio's, so
//! tests move them with paused time.

use super::dial::Connection;
use crate::sync::lock;
use hyper::client::conn::http1::SendRequest;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::task::{Context, Waker};
use std::time::Duration;
use tokio::time::Instant;

/// Idle connections older than this are closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// At most this many parked connections are kept (a burst of closing
/// browser connections must not leave as many idle ones to Supabase).
const MAX_PARKED: usize = 256;

/// Idle connections, the most recent on top, at most `max`.
pub struct IdleStack<T> {
    stack: VecDeque<(T, Instant)>,
    max: usize,
}

impl<T> IdleStack<T> {
    pub fn new(max: usize) -> IdleStack<T> {
        IdleStack {
            stack: VecDeque::new(),
            max,
        }
    }

    /// Pushes `connection` on top, after dropping those expired and,
    /// beyond the maximum, the oldest.
    pub fn push(&mut self, connection: T) {
        let now = Instant::now();
        self.close_expired(now);
        while self.stack.len() >= self.max {
            self.stack.pop_front();
        }
        self.stack.push_back((connection, now));
    }

    /// The most recent connection, unless it has expired (then so have
    /// all below it: they are dropped too).
    pub fn pop(&mut self) -> Option<T> {
        let (connection, since) = self.stack.pop_back()?;
        if since.elapsed() >= IDLE_TIMEOUT {
            self.stack.clear();
            return None;
        }
        Some(connection)
    }

    /// Drops (closes) the connections expired at `now`: the oldest, at the bottom.
    pub fn close_expired(&mut self, now: Instant) {
        while self
            .stack
            .front()
            .is_some_and(|(_, since)| now.saturating_duration_since(*since) >= IDLE_TIMEOUT)
        {
            self.stack.pop_front();
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.stack.len()
    }
}

/// A lane's connection, given back while its browser connection is idle.
pub type Parked<B> = (Connection, SendRequest<B>);

/// The connections idle lanes gave back, for the next lane that needs one.
pub struct Parking<B> {
    parked: Mutex<IdleStack<Parked<B>>>,
}

impl<B> Default for Parking<B> {
    fn default() -> Self {
        Parking {
            parked: Mutex::new(IdleStack::new(MAX_PARKED)),
        }
    }
}

impl<B> Parking<B> {
    /// Keeps an idle lane's connection for the next lane that needs one.
    pub fn park(&self, connection: Connection, sender: SendRequest<B>) {
        lock(&self.parked).push((connection, sender));
    }

    /// The most recently parked connection that can take a request. Not
    /// polled while parked, each is polled once first: that takes in what
    /// happened meanwhile (the upstream closed it, say).
    pub fn unpark(&self) -> Option<Parked<B>> {
        loop {
            let popped = lock(&self.parked).pop();
            let Some((mut connection, sender)) = popped else {
                // Empty, or the top had expired (then so had all below).
                return None;
            };
            let open = connection
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending();
            if open && sender.is_ready() {
                return Some((connection, sender));
            }
        }
    }

    pub fn close_expired(&self, now: Instant) {
        lock(&self.parked).close_expired(now);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        lock(&self.parked).len()
    }
}
