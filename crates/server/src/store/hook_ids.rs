//! The `webhook-id`s of recent hook calls, for the stores that keep them in
//! this process (memory, file): a replay to this process is refused. A
//! store shared by several processes keeps them in the store instead.

use sbp_core::env::UnixSeconds;
use std::collections::HashMap;
use std::sync::Mutex;

/// Ids of hook calls by the moment they may be forgotten.
#[derive(Default)]
pub struct SeenHookIds {
    until: Mutex<HashMap<String, UnixSeconds>>,
}

impl SeenHookIds {
    /// Remembers `id` for `ttl` seconds from `now`; `false` when it is
    /// remembered already. Ids whose time is past are forgotten first.
    pub fn claim(&self, id: &str, now: UnixSeconds, ttl: u64) -> bool {
        let until = now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX));
        let mut seen = crate::sync::lock(&self.until);
        seen.retain(|_, until| *until > now);
        if seen.contains_key(id) {
            return false;
        }
        seen.insert(id.to_string(), until);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_refused_until_its_time_is_past() {
        let seen = SeenHookIds::default();
        assert!(seen.claim("msg_1", 0, 100));
        assert!(!seen.claim("msg_1", 99, 100));
        assert!(seen.claim("msg_2", 99, 1));
        assert!(seen.claim("msg_1", 100, 100), "forgotten at its time");
    }
}
