//! The cache's memory of recent changes, so that a late answer never puts
//! back what a newer change removed.
//!
//! A store read or write takes time, and a delete (a logout, a revocation,
//! another instance's eviction message) can happen while it is under way.
//! Every change to a key is an event with a number from one counter. A read
//! may fill the cache only if no event touched its key since the read began
//! and no write of it is under way; a write may fill it only if it was the
//! only change of its key from its start to its end. Anything else leaves
//! the key uncached, so the next use asks the store, which is the truth.
//!
//! The ledger remembers recently changed keys, at most [`REMEMBERED`] of
//! them; forgetting one raises a floor below which every fill is refused,
//! so forgetting can only cost a cache miss, never let an old answer in.

use crate::sync::lock;
use quick_cache::sync::Cache;
use sbp_core::session::SessionKey;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// How many recently changed keys are remembered (writes under way are
/// always remembered).
const REMEMBERED: usize = 4096;

/// The number of the last event when an operation began.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(u64);

#[derive(Default)]
struct KeyState {
    /// The last event on this key.
    changed: u64,
    /// Writes of this key under way.
    writing: u32,
}

#[derive(Default)]
struct Book {
    /// The last event's number.
    events: u64,
    keys: HashMap<SessionKey, KeyState>,
    /// Keys with no write under way, by the event that settled them, oldest
    /// first (entries whose key changed again since are skipped).
    settled: VecDeque<(u64, SessionKey)>,
    /// Fills by operations that began before this event are refused.
    floor: u64,
}

impl Book {
    fn event(&mut self) -> u64 {
        self.events += 1;
        self.events
    }

    /// Records an event on `key`; `writes` is added to its writes under way.
    fn change(&mut self, key: &SessionKey, writes: i32) -> u64 {
        let event = self.event();
        let state = self.keys.entry(key.clone()).or_default();
        state.changed = event;
        state.writing = state.writing.saturating_add_signed(writes);
        if state.writing == 0 {
            self.settled.push_back((event, key.clone()));
            self.forget_old();
        }
        event
    }

    fn forget_old(&mut self) {
        while self.keys.len() > REMEMBERED || self.settled.len() > 2 * REMEMBERED {
            let Some((event, key)) = self.settled.pop_front() else {
                return;
            };
            let current = self
                .keys
                .get(&key)
                .is_some_and(|s| s.writing == 0 && s.changed == event);
            if current {
                self.keys.remove(&key);
                self.floor = self.floor.max(event);
            }
        }
    }

    /// Whether a read of `key` that began at `ticket` saw the latest state.
    fn read_is_current(&self, key: &SessionKey, ticket: Ticket) -> bool {
        ticket.0 >= self.floor
            && self
                .keys
                .get(key)
                .is_none_or(|s| s.writing == 0 && s.changed <= ticket.0)
    }
}

/// A bounded cache of `V` by session key that refuses out-of-date fills.
pub struct Ledger<V> {
    cache: Cache<SessionKey, V>,
    book: Mutex<Book>,
}

/// A write of one key under way; dropping it unfinished (the write failed
/// or was abandoned) counts as finishing it with nothing to cache.
pub struct Write<'a, V: Clone> {
    ledger: &'a Ledger<V>,
    key: SessionKey,
    ticket: Ticket,
    done: bool,
}

impl<V: Clone> Write<'_, V> {
    /// Ends the write; `value` (what the store now holds, `None` when the
    /// session is gone) is cached only if nothing else changed the key meanwhile.
    pub fn finish(mut self, value: Option<V>) -> bool {
        self.done = true;
        self.ledger.end_write(&self.key, self.ticket, value)
    }
}

impl<V: Clone> Drop for Write<'_, V> {
    fn drop(&mut self) {
        if !self.done {
            self.ledger.end_write(&self.key, self.ticket, None);
        }
    }
}

impl<V: Clone> Ledger<V> {
    pub fn new(capacity: usize) -> Self {
        Ledger {
            cache: Cache::new(capacity),
            book: Mutex::default(),
        }
    }

    pub fn get(&self, key: &SessionKey) -> Option<V> {
        self.cache.get(key)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Taken before a store read whose answer may fill the cache.
    pub fn read_ticket(&self) -> Ticket {
        Ticket(lock(&self.book).events)
    }

    /// Caches what a read that began at `ticket` found, unless the key
    /// changed meanwhile; a read that found nothing uncaches the key.
    pub fn fill(&self, key: &SessionKey, ticket: Ticket, found: Option<V>) -> bool {
        let book = lock(&self.book);
        match found {
            Some(value) if book.read_is_current(key, ticket) => {
                self.cache.insert(key.clone(), value);
                true
            }
            Some(_) => false,
            None => {
                self.cache.remove(key);
                false
            }
        }
    }

    /// Starts a write of `key`: reads and writes already under way will
    /// not fill it. Its cached copy keeps serving until the write ends.
    pub fn begin_write(&self, key: &SessionKey) -> Write<'_, V> {
        let mut book = lock(&self.book);
        let ticket = Ticket(book.change(key, 1));
        Write {
            ledger: self,
            key: key.clone(),
            ticket,
            done: false,
        }
    }

    /// Starts deleting `key`: like [`Ledger::begin_write`], and its cached
    /// copy is dropped at once.
    pub fn begin_delete(&self, key: &SessionKey) -> Write<'_, V> {
        let write = self.begin_write(key);
        self.cache.remove(key);
        write
    }

    fn end_write(&self, key: &SessionKey, ticket: Ticket, value: Option<V>) -> bool {
        let mut book = lock(&self.book);
        let alone = ticket.0 >= book.floor
            && book
                .keys
                .get(key)
                .is_some_and(|s| s.writing == 1 && s.changed == ticket.0);
        book.change(key, -1);
        match value {
            Some(value) if alone => {
                self.cache.insert(key.clone(), value);
                true
            }
            _ => {
                self.cache.remove(key);
                false
            }
        }
    }

    /// Drops `key` (changed elsewhere); reads and writes under way will not fill it.
    pub fn evict(&self, key: &SessionKey) {
        let mut book = lock(&self.book);
        book.change(key, 0);
        self.cache.remove(key);
    }

    /// Drops everything; nothing under way will fill the cache.
    pub fn clear(&self) {
        let mut book = lock(&self.book);
        book.floor = book.event();
        self.cache.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> SessionKey {
        SessionKey::from_stored(name)
    }

    #[test]
    fn a_read_that_raced_with_a_change_does_not_fill() {
        let ledger = Ledger::new(16);
        let (k, other) = (key("k"), key("other"));
        let ticket = ledger.read_ticket();
        ledger.begin_delete(&k).finish(None);
        assert!(
            !ledger.fill(&k, ticket, Some(1)),
            "a delete happened during the read"
        );
        assert_eq!(ledger.get(&k), None);
        assert!(
            ledger.fill(&other, ticket, Some(2)),
            "other keys are not affected"
        );
        assert!(
            ledger.fill(&k, ledger.read_ticket(), Some(3)),
            "a later read fills"
        );
        assert_eq!(ledger.get(&k), Some(3));

        let ticket = ledger.read_ticket();
        ledger.evict(&k);
        assert!(
            !ledger.fill(&k, ticket, Some(4)),
            "an eviction during the read"
        );
        let ticket = ledger.read_ticket();
        ledger.clear();
        assert!(
            !ledger.fill(&other, ticket, Some(5)),
            "a clear during the read"
        );
    }

    #[test]
    fn a_read_overlapping_a_write_does_not_fill_even_if_it_began_after() {
        let ledger = Ledger::new(16);
        let k = key("k");
        let write = ledger.begin_write(&k);
        let ticket = ledger.read_ticket();
        assert!(!ledger.fill(&k, ticket, Some(1)), "the write is under way");
        write.finish(None);
        assert!(
            !ledger.fill(&k, ticket, Some(1)),
            "the write ended during the read"
        );
        assert_eq!(ledger.get(&k), None);
    }

    #[test]
    fn overlapping_writes_leave_the_key_uncached() {
        let ledger = Ledger::new(16);
        let k = key("k");
        assert!(ledger.begin_write(&k).finish(Some(0)));
        let touch = ledger.begin_write(&k);
        assert_eq!(
            ledger.get(&k),
            Some(0),
            "served while the touch is under way"
        );
        let delete = ledger.begin_delete(&k);
        assert_eq!(ledger.get(&k), None, "a delete drops it at once");
        assert!(!delete.finish(None));
        assert!(!touch.finish(Some(1)), "a delete overlapped the touch");
        assert_eq!(ledger.get(&k), None);

        let first = ledger.begin_write(&k);
        let second = ledger.begin_write(&k);
        assert!(!first.finish(Some(1)));
        assert!(
            !second.finish(Some(2)),
            "the first began before and ended during it"
        );
        assert_eq!(ledger.get(&k), None);

        assert!(
            ledger.begin_write(&k).finish(Some(3)),
            "a write alone fills"
        );
        assert_eq!(ledger.get(&k), Some(3));
        drop(ledger.begin_write(&k));
        assert_eq!(ledger.get(&k), None, "an abandoned write uncaches");
        assert!(
            ledger.begin_write(&k).finish(Some(4)),
            "and counts as ended"
        );
    }

    #[test]
    fn forgetting_old_changes_refuses_fills_that_began_before() {
        let ledger = Ledger::new(16);
        let ticket = ledger.read_ticket();
        for i in 0..=REMEMBERED {
            ledger.evict(&key(&format!("k{i}")));
        }
        assert!(lock(&ledger.book).keys.len() <= REMEMBERED);
        assert!(
            !ledger.fill(&key("k0"), ticket, Some(1)),
            "k0's change is forgotten, and the read began before it"
        );
        assert!(ledger.fill(&key("k0"), ledger.read_ticket(), Some(1)));
    }
}
