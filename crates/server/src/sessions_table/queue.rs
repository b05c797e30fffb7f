//! The writes waiting to reach `public.sessions`: at most one per session
//! (the latest wins, so a session stored and then ended is one delete),
//! sent oldest first in batches of one kind, and bounded: past
//! [`Pending::capacity`] sessions a new one is refused (the caller logs it)
//! while writes for sessions already waiting still replace theirs.

use super::row::Row;
use std::collections::{BTreeMap, HashMap};

/// What `public.sessions` should hold for one session.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// The row, inserted or replacing the one with its id.
    Upsert(Row),
    /// No row.
    Delete,
}

/// Writes of one kind taken from the queue, oldest first, with their
/// places in it (given back on failure).
#[derive(Debug, Clone, PartialEq)]
pub enum Batch {
    Upsert(Vec<(u64, Row)>),
    Delete(Vec<(u64, String)>),
}

impl Batch {
    pub fn len(&self) -> usize {
        match self {
            Batch::Upsert(rows) => rows.len(),
            Batch::Delete(ids) => ids.len(),
        }
    }
}

#[derive(Debug)]
pub struct Pending {
    /// Session ids by their place in the queue.
    order: BTreeMap<u64, String>,
    /// Each waiting session's place and write.
    by_id: HashMap<String, (u64, Write)>,
    next: u64,
    capacity: usize,
}

impl Pending {
    pub fn new(capacity: usize) -> Pending {
        Pending {
            order: BTreeMap::new(),
            by_id: HashMap::new(),
            next: 0,
            capacity,
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Queues `write` for session `id`, replacing (and moving to the back)
    /// the one waiting for it; `false` when the queue is full and `id` had
    /// none waiting (the write is dropped).
    pub fn push(&mut self, id: String, write: Write) -> bool {
        if let Some((place, _)) = self.by_id.remove(&id) {
            self.order.remove(&place);
        } else if self.by_id.len() >= self.capacity {
            return false;
        }
        let place = self.next;
        self.next += 1;
        self.order.insert(place, id.clone());
        self.by_id.insert(id, (place, write));
        true
    }

    /// Takes the oldest write and up to `max - 1` more of its kind that
    /// follow it, in order.
    pub fn take(&mut self, max: usize) -> Option<Batch> {
        let (_, first_id) = self.order.first_key_value()?;
        let upserts = matches!(self.by_id[first_id].1, Write::Upsert(_));
        let chosen: Vec<(u64, String)> = self
            .order
            .iter()
            .filter(|(_, id)| matches!(self.by_id[*id].1, Write::Upsert(_)) == upserts)
            .take(max.max(1))
            .map(|(place, id)| (*place, id.clone()))
            .collect();
        let mut batch = if upserts {
            Batch::Upsert(Vec::new())
        } else {
            Batch::Delete(Vec::new())
        };
        for (place, id) in chosen {
            self.order.remove(&place);
            let (_, write) = self.by_id.remove(&id).expect("queued ids have a write");
            match (&mut batch, write) {
                (Batch::Upsert(rows), Write::Upsert(row)) => rows.push((place, row)),
                (Batch::Delete(ids), Write::Delete) => ids.push((place, id)),
                _ => unreachable!("the batch takes writes of its kind only"),
            }
        }
        Some(batch)
    }

    /// Puts a batch that could not be written back in its old places,
    /// except for sessions with a newer write queued since.
    pub fn put_back(&mut self, batch: Batch) {
        let writes: Vec<(u64, String, Write)> = match batch {
            Batch::Upsert(rows) => rows
                .into_iter()
                .map(|(place, row)| (place, row.id.clone(), Write::Upsert(row)))
                .collect(),
            Batch::Delete(ids) => ids
                .into_iter()
                .map(|(place, id)| (place, id, Write::Delete))
                .collect(),
        };
        for (place, id, write) in writes {
            if !self.by_id.contains_key(&id) {
                self.order.insert(place, id.clone());
                self.by_id.insert(id, (place, write));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, last_seen: i64) -> Row {
        Row {
            id: id.to_string(),
            user_id: "u".into(),
            created_at: 0,
            last_seen_at: last_seen,
            expires_at: 100,
            ip: None,
            country: None,
            user_agent: None,
        }
    }

    fn ids(batch: &Batch) -> Vec<String> {
        match batch {
            Batch::Upsert(rows) => rows.iter().map(|(_, r)| r.id.clone()).collect(),
            Batch::Delete(ids) => ids.iter().map(|(_, id)| id.clone()).collect(),
        }
    }

    #[test]
    fn the_latest_write_of_a_session_wins_and_moves_to_the_back() {
        let mut q = Pending::new(10);
        assert!(q.push("a".into(), Write::Upsert(row("a", 1))));
        assert!(q.push("b".into(), Write::Upsert(row("b", 1))));
        assert!(q.push("a".into(), Write::Upsert(row("a", 2))));
        assert_eq!(q.len(), 2);
        let batch = q.take(10).unwrap();
        assert_eq!(
            batch,
            Batch::Upsert(vec![(1, row("b", 1)), (2, row("a", 2))])
        );
        assert!(q.is_empty());
        assert!(q.push("b".into(), Write::Upsert(row("b", 3))));
        assert!(q.push("b".into(), Write::Delete));
        assert_eq!(q.take(10), Some(Batch::Delete(vec![(4, "b".into())])));
        assert_eq!(q.take(10), None);
    }

    #[test]
    fn a_batch_is_of_the_oldest_write_s_kind_in_order_and_bounded() {
        let mut q = Pending::new(10);
        q.push("a".into(), Write::Delete);
        q.push("b".into(), Write::Upsert(row("b", 1)));
        q.push("c".into(), Write::Delete);
        q.push("d".into(), Write::Delete);
        let first = q.take(2).unwrap();
        assert!(matches!(first, Batch::Delete(_)));
        assert_eq!(ids(&first), ["a", "c"]);
        assert_eq!(ids(&q.take(2).unwrap()), ["b"]);
        assert_eq!(ids(&q.take(2).unwrap()), ["d"]);
    }

    #[test]
    fn a_full_queue_refuses_new_sessions_but_takes_newer_writes_of_waiting_ones() {
        let mut q = Pending::new(2);
        assert!(q.push("a".into(), Write::Upsert(row("a", 1))));
        assert!(q.push("b".into(), Write::Upsert(row("b", 1))));
        assert!(!q.push("c".into(), Write::Upsert(row("c", 1))));
        assert!(q.push("a".into(), Write::Delete));
        assert_eq!(q.len(), 2);
        assert_eq!(ids(&q.take(10).unwrap()), ["b"]);
        assert_eq!(ids(&q.take(10).unwrap()), ["a"]);
    }

    #[test]
    fn a_failed_batch_goes_back_in_place_unless_superseded() {
        let mut q = Pending::new(10);
        q.push("a".into(), Write::Upsert(row("a", 1)));
        q.push("b".into(), Write::Upsert(row("b", 1)));
        let failed = q.take(10).unwrap();
        q.push("c".into(), Write::Upsert(row("c", 1)));
        q.push("b".into(), Write::Delete);
        q.put_back(failed);
        assert_eq!(ids(&q.take(10).unwrap()), ["a", "c"]);
        assert_eq!(q.take(10), Some(Batch::Delete(vec![(3, "b".into())])));
        assert!(q.is_empty());
    }
}
