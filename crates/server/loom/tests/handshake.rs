//! Model-checking tests of the lane's waker handshake: loom runs each
//! model under every interleaving (and every value a relaxed load may
//! read) of a task polling the lane and wakes from other threads, the
//! connection's (a socket) and the future's (a request's channel).
//!
//! What must hold in each: a wake is never lost. Either a poll it races
//! takes its mark, or the task is rescheduled (and its next poll takes
//! the mark); and whatever the waker wrote before waking is seen by the
//! poll that takes the mark.

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;
use sbp_wakers_loom::wakers::{Side, Wakers};
use std::sync::Arc;
use std::task::{Wake, Waker};

const SIDES: [Side; 2] = [Side::Connection, Side::Future];

/// Rounds in one poll before it gives way, as `Lane::drive`'s `MAX_ROUNDS`
/// (fewer: two wakes make at most three rounds).
const MAX_ROUNDS: usize = 3;

/// The task's waker: counts the times the task was rescheduled.
struct Task(AtomicUsize);

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// What the task and the wakers' threads share.
struct Shared {
    wakers: Wakers,
    task: Arc<Task>,
    waker: Waker,
    /// Set by each side's waker before it wakes.
    written: [AtomicBool; 2],
}

/// The task's side: polls the lane, remembers which wakes it took.
struct Poller {
    shared: Arc<Shared>,
    taken: [bool; 2],
}

impl Poller {
    /// A lane after its first poll: both start woken, so that poll took
    /// both (and is forgotten).
    fn polled_once() -> Poller {
        let task = Arc::new(Task(AtomicUsize::new(0)));
        let shared = Arc::new(Shared {
            wakers: Wakers::new(),
            waker: Waker::from(task.clone()),
            task,
            written: [AtomicBool::new(true), AtomicBool::new(true)],
        });
        let mut poller = Poller {
            shared,
            taken: [false; 2],
        };
        poller.poll();
        assert_eq!(poller.taken, [true; 2]);
        poller.taken = [false; 2];
        for written in &poller.shared.written {
            written.store(false, Ordering::Relaxed);
        }
        poller
    }

    /// One poll, as `Lane::drive` does it: take the marks, go round while
    /// `stop` sees new ones; after `MAX_ROUNDS`, pause and reschedule.
    fn poll(&mut self) {
        self.shared.wakers.start(&self.shared.waker);
        for _ in 0..MAX_ROUNDS {
            self.take_marks();
            if self.shared.wakers.stop() {
                return;
            }
        }
        self.give_way();
    }

    /// What `Lane::drive` does when still woken after its rounds.
    fn give_way(&mut self) {
        self.shared.wakers.pause();
        self.shared.waker.wake_by_ref();
    }

    fn take_marks(&mut self) {
        for side in SIDES {
            if self.shared.wakers.take(side) {
                self.taken[side as usize] = true;
                assert!(
                    self.shared.written[side as usize].load(Ordering::Relaxed),
                    "a poll took a mark but not what was written before the wake"
                );
            }
        }
    }

    fn rescheduled(&self) -> usize {
        self.shared.task.0.load(Ordering::Relaxed)
    }

    /// Once the wakers' threads are joined: a wake no poll took has
    /// rescheduled the task, and the task's next poll takes it.
    fn assert_no_wake_lost(mut self, woken: &[Side]) {
        if woken.iter().any(|&side| !self.taken[side as usize]) {
            assert!(
                self.rescheduled() > 0,
                "a wake was neither taken nor woke the task"
            );
            self.poll();
        }
        for &side in woken {
            assert!(
                self.taken[side as usize],
                "the next poll did not take the wake"
            );
        }
    }

    /// Writes, then wakes `side`, from another thread.
    fn wake_from_another_thread(&self, side: Side) -> thread::JoinHandle<()> {
        let shared = self.shared.clone();
        thread::spawn(move || {
            shared.written[side as usize].store(true, Ordering::Relaxed);
            match side {
                Side::Connection => shared.wakers.connection.wake_by_ref(),
                Side::Future => shared.wakers.future.wake_by_ref(),
            }
        })
    }
}

fn join(threads: Vec<thread::JoinHandle<()>>) {
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn wakes_from_both_sides_between_polls_reschedule_the_task() {
    loom::model(|| {
        let poller = Poller::polled_once();
        let threads = SIDES
            .map(|side| poller.wake_from_another_thread(side))
            .into();
        join(threads);
        assert!(poller.rescheduled() > 0, "the task was not woken");
        poller.assert_no_wake_lost(&SIDES);
    });
}

/// A poll of the task (for a reason of its own) racing wakes of `sides`:
/// they land before it starts, between its takes, between its last take
/// and `stop`, or after.
fn wakes_racing_a_poll(sides: &'static [Side]) {
    let mut poller = Poller::polled_once();
    let threads = sides
        .iter()
        .map(|&side| poller.wake_from_another_thread(side))
        .collect();
    poller.poll();
    join(threads);
    poller.assert_no_wake_lost(sides);
}

#[test]
fn a_connection_wake_racing_a_poll_and_its_stop_is_never_lost() {
    loom::model(|| wakes_racing_a_poll(&[Side::Connection]));
}

#[test]
fn a_future_wake_racing_a_poll_and_its_stop_is_never_lost() {
    loom::model(|| wakes_racing_a_poll(&[Side::Future]));
}

#[test]
fn wakes_from_both_sides_racing_a_poll_are_never_lost() {
    // Three threads: every interleaving with up to two preemptions.
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(2);
    model.check(|| wakes_racing_a_poll(&SIDES));
}

#[test]
fn a_wake_racing_pause_reaches_the_next_poll() {
    loom::model(|| {
        let mut poller = Poller::polled_once();
        let threads = vec![poller.wake_from_another_thread(Side::Connection)];
        // A poll that gave way after its rounds (it pauses and reschedules
        // itself), and the next poll at once.
        poller.shared.wakers.start(&poller.shared.waker);
        poller.take_marks();
        poller.give_way();
        let rescheduled_itself = 1;
        poller.poll();
        join(threads);
        let woke_the_task = poller.rescheduled() > rescheduled_itself;
        let taken = poller.taken[Side::Connection as usize];
        assert!(taken || woke_the_task, "the wake was lost");
        poller.assert_no_wake_lost(&[Side::Connection]);
    });
}
