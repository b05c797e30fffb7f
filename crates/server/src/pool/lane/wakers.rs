//! The wakers [`super::Lane::drive`] polls with: one for the upstream
//! connection, one for the browser connection's future.
//!
//! The two wake each other while being polled (a request queued, a
//! response delivered). Such a wake only marks the one woken, and the
//! current poll goes round again for it alone; waking the task instead
//! would poll both once more. A wake from anywhere else (a socket, a timer)
//! marks the one woken and wakes the task.
//!
//! The handshake: a wake marks its side, then looks at `polling`; the task
//! clears `polling` in [`Wakers::stop`], then looks at the marks. A
//! `fence(SeqCst)` between each side's store and its load means at least
//! one of the two sees the other's store, so a wake is never lost: either
//! the wake sees the poll over and wakes the task, or `stop` sees the mark
//! and the poll goes round again. A mark is stored with `Release` and taken
//! with `Acquire`, so whatever the waker wrote before waking is seen by the
//! poll that takes the mark. (On x86 each fence is one `mfence` where the
//! `SeqCst` stores were one `xchg`: one full barrier per wake and per
//! `stop` either way, and none in `start` now.)
//!
//! The model-checking tests (loom) compile this file against loom's atomics
//! (`atomics` is std's here) and explore every interleaving of wakes from
//! either side with the task's poll, `stop` and `pause`:
//! `cargo test -p sbp-wakers-loom --release` (the models are in
//! `crates/server/loom/tests`; `cargo test --workspace` runs them too).

use super::atomics::{Arc, AtomicBool, AtomicWaker, Ordering, Wake, Waker, fence};

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
        self.shared.polling.store(true, Ordering::Relaxed);
    }

    /// Whether `side` was woken since it was last asked (and clears it).
    pub fn take(&self, side: Side) -> bool {
        // A compare-exchange rather than a swap: the same for a bool, one
        // locked instruction either way on x86, and one the model checker
        // models right (loom lets a concurrent store fall between a swap's
        // read and write, tokio-rs/loom#254).
        self.shared.woken[side as usize]
            .compare_exchange(true, false, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// The task stops polling, unless a wake came meanwhile (then `false`:
    /// go round again).
    pub fn stop(&self) -> bool {
        self.shared.polling.store(false, Ordering::Relaxed);
        // Paired with the fence in `wake_by_ref`: a wake either sees
        // `polling` cleared and wakes the task, or is seen here.
        fence(Ordering::SeqCst);
        if self.shared.woken.iter().any(|w| w.load(Ordering::Relaxed)) {
            self.shared.polling.store(true, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Stops polling without looking for wakes (the task is rescheduled anyway).
    pub fn pause(&self) {
        self.shared.polling.store(false, Ordering::Relaxed);
    }
}

impl Wake for SideWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.shared.woken[self.side as usize].store(true, Ordering::Release);
        // Paired with the fence in `stop`.
        fence(Ordering::SeqCst);
        if !self.shared.polling.load(Ordering::Relaxed) {
            self.shared.task.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    //! The handshake step by step, on one thread: which wakes reach the
    //! task and which only mark a side. (The races between threads are the
    //! model-checking tests', in `crates/server/loom`.)

    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A task waker that counts its wakes.
    struct Task(AtomicUsize);

    impl Wake for Task {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn task() -> (Arc<Task>, Waker) {
        let task = Arc::new(Task(AtomicUsize::new(0)));
        (task.clone(), Waker::from(task))
    }

    fn wakes(task: &Task) -> usize {
        task.0.load(Ordering::SeqCst)
    }

    #[test]
    fn both_sides_start_woken() {
        let wakers = Wakers::new();
        assert!(wakers.take(Side::Connection));
        assert!(wakers.take(Side::Future));
        assert!(!wakers.take(Side::Connection), "taking clears the mark");
    }

    #[test]
    fn a_wake_while_polling_only_marks_its_side() {
        let (task, waker) = task();
        let wakers = Wakers::new();
        wakers.start(&waker);
        wakers.take(Side::Connection);
        wakers.take(Side::Future);
        wakers.future.wake_by_ref();
        assert_eq!(wakes(&task), 0, "the task is not rescheduled");
        assert!(wakers.take(Side::Future));
        assert!(!wakers.take(Side::Connection));
    }

    #[test]
    fn stop_goes_round_again_for_a_wake_it_has_not_taken() {
        let (task, waker) = task();
        let wakers = Wakers::new();
        wakers.start(&waker);
        wakers.take(Side::Connection);
        wakers.take(Side::Future);
        wakers.connection.wake_by_ref();
        assert!(!wakers.stop(), "the wake is seen: poll again");
        assert_eq!(wakes(&task), 0);
        assert!(wakers.take(Side::Connection));
        assert!(wakers.stop(), "nothing new: the poll may end");
    }

    #[test]
    fn a_wake_after_stop_or_pause_wakes_the_task() {
        let (task, waker) = task();
        let wakers = Wakers::new();
        wakers.start(&waker);
        wakers.take(Side::Connection);
        wakers.take(Side::Future);
        assert!(wakers.stop());
        wakers.connection.wake_by_ref();
        assert_eq!(wakes(&task), 1, "a socket's wake after the poll");
        assert!(wakers.take(Side::Connection), "and it marks its side");
        wakers.start(&waker);
        wakers.pause();
        wakers.future.wake_by_ref();
        assert_eq!(wakes(&task), 2, "paused: the task is rescheduled");
    }
}
