//! A coarse timer for hyper's header read timeout and the upstream
//! response timeout.
//!
//! hyper arms its timer each time a connection waits for a request head,
//! so once per request, and the proxy arms one for each forwarded request. With tokio's timer that is a removal and an
//! insertion in the timer wheel, under its lock, every request (about a
//! tenth of the proxy's CPU for small requests). Here a connection keeps one
//! entry whose deadline is re-armed with an atomic store, and one task
//! ticking four times a second wakes the connections whose deadline passed.
//! A deadline therefore fires within one tick (250 ms) of when it is due.
//! The clock is tokio's, so tests run it on paused time.

use futures_util::task::AtomicWaker;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

const TICK: Duration = Duration::from_millis(250);

struct Clock {
    start: tokio::time::Instant,
    /// Whole ticks since `start`, advanced by the ticking task.
    ticks: AtomicU64,
    entries: Mutex<Vec<Arc<Entry>>>,
}

struct Entry {
    /// The tick at which the sleep is over.
    deadline: AtomicU64,
    /// The waker was called for this deadline.
    notified: AtomicBool,
    /// The sleep was dropped: the entry goes at the next tick.
    dropped: AtomicBool,
    waker: AtomicWaker,
}

impl Clock {
    fn ticks_at(&self, instant: Instant) -> u64 {
        // Rounded up: a deadline never fires early.
        let since = tokio::time::Instant::from_std(instant).saturating_duration_since(self.start);
        let nanos = since.as_nanos();
        u64::try_from(nanos.div_ceil(TICK.as_nanos())).unwrap_or(u64::MAX)
    }

    fn now(&self) -> Instant {
        let ticks = u32::try_from(self.ticks.load(Ordering::Acquire)).unwrap_or(u32::MAX);
        (self.start + TICK * ticks).into_std()
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Entry>>> {
        crate::sync::lock(&self.entries)
    }

    /// Advances the clock and wakes every sleep whose deadline passed.
    fn tick(&self) {
        let elapsed = self.start.elapsed();
        let now = u64::try_from(elapsed.as_nanos() / TICK.as_nanos()).unwrap_or(u64::MAX);
        self.ticks.store(now, Ordering::Release);
        self.entries().retain(|entry| {
            if entry.dropped.load(Ordering::Acquire) {
                return false;
            }
            if entry.deadline.load(Ordering::Acquire) <= now
                && !entry.notified.swap(true, Ordering::AcqRel)
            {
                entry.waker.wake();
            }
            true
        });
    }
}

/// A `hyper::rt::Timer`; clones share one clock. The ticking task stops
/// once every clone and every sleep is gone.
#[derive(Clone)]
pub struct CoarseTimer {
    clock: Arc<Clock>,
}

impl CoarseTimer {
    /// Must be called inside a tokio runtime (it spawns the ticking task).
    pub fn new() -> CoarseTimer {
        let clock = Arc::new(Clock {
            start: tokio::time::Instant::now(),
            ticks: AtomicU64::new(0),
            entries: Mutex::new(Vec::new()),
        });
        tokio::spawn(run_ticks(Arc::downgrade(&clock)));
        CoarseTimer { clock }
    }

    /// A sleep for a connection's deadlines, re-armed with [`CoarseTimer::rearm`].
    pub fn sleep_for(&self, duration: Duration) -> CoarseSleep {
        self.new_sleep(self.clock.now() + duration)
    }

    fn new_sleep(&self, deadline: Instant) -> CoarseSleep {
        let entry = Arc::new(Entry {
            deadline: AtomicU64::new(u64::MAX),
            notified: AtomicBool::new(false),
            dropped: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        });
        self.arm(&entry, deadline);
        self.clock.entries().push(entry.clone());
        CoarseSleep {
            entry,
            clock: self.clock.clone(),
        }
    }

    /// Moves `sleep`'s deadline to `duration` from now.
    pub fn rearm(&self, sleep: &CoarseSleep, duration: Duration) {
        self.arm(&sleep.entry, self.clock.now() + duration);
    }

    /// Takes `sleep`'s deadline away until it is re-armed.
    pub fn disarm(&self, sleep: &CoarseSleep) {
        sleep.entry.deadline.store(u64::MAX, Ordering::Release);
    }

    fn arm(&self, entry: &Entry, deadline: Instant) {
        entry
            .deadline
            .store(self.clock.ticks_at(deadline), Ordering::Release);
        entry.notified.store(false, Ordering::Release);
    }
}

async fn run_ticks(clock: Weak<Clock>) {
    let mut every = tokio::time::interval(TICK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(clock) = clock.upgrade() else {
            return;
        };
        clock.tick();
    }
}

pub struct CoarseSleep {
    entry: Arc<Entry>,
    clock: Arc<Clock>,
}

impl Future for CoarseSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // The waker first, then the clock: a tick in between still wakes us.
        self.entry.waker.register(cx.waker());
        if self.clock.ticks.load(Ordering::Acquire) >= self.entry.deadline.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for CoarseSleep {
    fn drop(&mut self) {
        self.entry.dropped.store(true, Ordering::Release);
    }
}

impl hyper::rt::Sleep for CoarseSleep {}

impl hyper::rt::Timer for CoarseTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(self.now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(self.new_sleep(deadline))
    }

    /// The clock as of the last tick: no system call per request.
    fn now(&self) -> Instant {
        self.clock.now()
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<CoarseSleep>() {
            Some(coarse) => self.arm(&coarse.entry, new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Timer;

    #[tokio::test(start_paused = true)]
    async fn sleeps_end_within_a_tick_of_their_deadline() {
        let timer = CoarseTimer::new();
        let started = tokio::time::Instant::now();
        timer.sleep(Duration::from_millis(300)).await;
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(300) - TICK, "{took:?}");
        assert!(took < Duration::from_millis(300) + TICK * 3, "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_reset_moves_the_deadline_and_dropped_sleeps_are_forgotten() {
        let timer = CoarseTimer::new();
        let mut sleep = timer.sleep(Duration::from_millis(100));
        timer.reset(&mut sleep, timer.now() + Duration::from_secs(60));
        let early = tokio::time::timeout(Duration::from_millis(800), sleep.as_mut()).await;
        assert!(
            early.is_err(),
            "the re-armed sleep must not fire at its old deadline"
        );
        timer.reset(&mut sleep, timer.now());
        tokio::time::timeout(Duration::from_secs(2), sleep.as_mut())
            .await
            .expect("a deadline in the past fires at the next tick");
        drop(sleep);
        tokio::time::sleep(TICK * 2).await;
        assert!(timer.clock.entries().is_empty());
    }
}
