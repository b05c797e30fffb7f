//! How many Realtime sockets are relayed at once, against
//! `PROXY_MAX_SOCKETS`: each relayed socket holds a [`SocketSlot`] from
//! before its upgrade is answered until both its sockets are gone, so an
//! upgrade beyond the limit is refused before anything reaches Supabase.
//! Sockets have a limit of their own because they are long-lived: the
//! connection limit alone would let them crowd out every request.
//!
//! The slots also tell their sockets when the proxy stops
//! ([`SocketSlots::close_all`]), so that they close at once instead of
//! holding the drain until its end.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::watch;

/// The count of relayed sockets.
pub struct SocketSlots {
    open: Arc<AtomicUsize>,
    /// Becomes `true` when the proxy stops.
    stopping: watch::Sender<bool>,
}

/// One relayed socket's place in the count; dropping it frees the place.
pub struct SocketSlot {
    open: Arc<AtomicUsize>,
    stopping: watch::Receiver<bool>,
}

impl Default for SocketSlots {
    fn default() -> SocketSlots {
        SocketSlots {
            open: Arc::default(),
            stopping: watch::Sender::new(false),
        }
    }
}

impl SocketSlots {
    /// A slot, or `None` when `limit` sockets are open already.
    pub fn take(&self, limit: usize) -> Option<SocketSlot> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < limit).then_some(open + 1)
            })
            .ok()?;
        Some(SocketSlot {
            open: self.open.clone(),
            stopping: self.stopping.subscribe(),
        })
    }

    /// Tells every socket, open or opened from now on, that the proxy stops.
    pub fn close_all(&self) {
        self.stopping.send_replace(true);
    }

    /// The count of sockets holding a slot, shared (read by the metrics).
    pub fn counter(&self) -> Arc<AtomicUsize> {
        self.open.clone()
    }

    /// How many sockets hold a slot.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

impl SocketSlot {
    /// Resolves once the proxy stops (at once if it already did).
    pub async fn stopping(&mut self) {
        if self.stopping.wait_for(|stopping| *stopping).await.is_err() {
            // The slots are gone with the app: no stop will be announced.
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_limited_and_freed_on_drop() {
        let slots = SocketSlots::default();
        let first = slots.take(2).expect("first");
        let second = slots.take(2).expect("second");
        assert!(slots.take(2).is_none(), "the limit holds");
        assert_eq!(slots.open(), 2);
        drop(first);
        let third = slots.take(2).expect("a freed slot is taken again");
        assert!(slots.take(2).is_none());
        drop((second, third));
        assert_eq!(slots.open(), 0);
    }

    #[tokio::test]
    async fn a_stop_reaches_open_slots_and_slots_taken_after_it() {
        let slots = SocketSlots::default();
        let mut open = slots.take(2).expect("a slot");
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(20), open.stopping());
        assert!(waiting.await.is_err(), "no stop yet");
        slots.close_all();
        open.stopping().await;
        let mut late = slots.take(2).expect("a slot after the stop");
        late.stopping().await;
    }
}
