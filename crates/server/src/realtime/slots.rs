//! How many Realtime sockets are relayed at once, against
//! `PROXY_MAX_SOCKETS`: each relayed socket holds a [`SocketSlot`] from
//! before its upgrade is answered until both its sockets are gone, so an
//! upgrade beyond the limit is refused before anything reaches Supabase.
//! Sockets have a limit of their own because they are long-lived: the
//! connection limit alone would let them crowd out every request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The count of relayed sockets.
#[derive(Default)]
pub struct SocketSlots {
    open: Arc<AtomicUsize>,
}

/// One relayed socket's place in the count; dropping it frees the place.
pub struct SocketSlot {
    open: Arc<AtomicUsize>,
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
        })
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
}
