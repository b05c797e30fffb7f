//! The wakers [`super::Lane::drive`] polls with: one for the upstream
//! connection, one for the browser connection's future.
//!
//! The two wake each other while being polled (a request queued, a
//! response delivered). Such a wake only marks the one woken, and the
//! current poll goes round again for it alone; waking the task instead
//! would poll both once more. A wake from anywhere else (a socket, a timer)
//! marks the one woken and wakes the task.

use futures_util::task::AtomicWaker;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Wake, Waker};

/// Which of the two was woken.
#[derive(Clone, Copy)]
pub enum Side {
    Connection = 0,
    Future = 1,
}

pub struct Wakers {
    shared: Arc<Shared>,
    pub connection: Waker,
    pub future: Waker,
}

struct Shared {
    /// Set while the task polls the two.
    polling: AtomicBool,
    woken: [AtomicBool; 2],
    task: AtomicWaker,
}

struct SideWaker {
    shared: Arc<Shared>,
    side: Side,
}

impl Wakers {
    /// Both start woken: the first poll polls both.
    pub fn new() -> Wakers {
        let shared = Arc::new(Shared {
            polling: AtomicBool::new(false),
            woken: [AtomicBool::new(true), AtomicBool::new(true)],
            task: AtomicWaker::new(),
        });
        let waker = |side| {
            Waker::from(Arc::new(SideWaker {
                shared: shared.clone(),
                side,
            }))
        };
        Wakers {
            connection: waker(Side::Connection),
            future: waker(Side::Future),
            shared,
        }
    }

    /// The task starts polling; wakes from now on only mark.
    pub fn start(&self, task: &Waker) {
        self.shared.task.register(task);
        self.shared.polling.store(true, Ordering::SeqCst);
    }

    /// Whether `side` was woken since it was last asked (and clears it).
    pub fn take(&self, side: Side) -> bool {
        self.shared.woken[side as usize].swap(false, Ordering::SeqCst)
    }

    /// The task stops polling, unless a wake came meanwhile (then `false`:
    /// go round again).
    pub fn stop(&self) -> bool {
        self.shared.polling.store(false, Ordering::SeqCst);
        // Paired with `wake_by_ref`: a wake either sees `polling` cleared
        // and wakes the task, or is seen here.
        if self.shared.woken.iter().any(|w| w.load(Ordering::SeqCst)) {
            self.shared.polling.store(true, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Stops polling without looking for wakes (the task is rescheduled anyway).
    pub fn pause(&self) {
        self.shared.polling.store(false, Ordering::SeqCst);
    }
}

impl Wake for SideWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.shared.woken[self.side as usize].store(true, Ordering::SeqCst);
        if !self.shared.polling.load(Ordering::SeqCst) {
            self.shared.task.wake();
        }
    }
}
