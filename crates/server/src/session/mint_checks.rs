//! When a minted-for session is due for a check with Auth.

use sbp_core::session::SessionKey;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Checks of minted-for sessions with Auth. In mint mode Auth is never
/// asked for tokens, so a session whose Auth session was revoked, or whose
/// user was banned or deleted, would keep working: a session in use is
/// checked with `GET /auth/v1/user` (with its minted token, which Auth
/// refuses once the `session_id` is gone or the user is banned or deleted)
/// at most once per `PROXY_MINT_CHECK` in this process, off the request
/// path. An answer with a session-ending code ends the session everywhere;
/// any other failure keeps it until the next check.
#[derive(Default)]
pub struct MintChecks {
    started: Mutex<Started>,
}

#[derive(Default)]
struct Started {
    /// When the last check of each session began.
    at: HashMap<SessionKey, Instant>,
    /// Old entries are dropped when the map reaches this size.
    prune_at: usize,
}

/// Smallest map size at which old entries are dropped.
const MIN_PRUNE: usize = 1024;

impl MintChecks {
    /// Whether a check of `key` is due; if so it counts as started now.
    pub fn start(&self, key: &SessionKey, interval: Duration) -> bool {
        let mut started = crate::sync::lock(&self.started);
        let now = Instant::now();
        if let Some(at) = started.at.get(key)
            && now.duration_since(*at) < interval
        {
            return false;
        }
        if started.at.len() >= started.prune_at {
            started
                .at
                .retain(|_, at| now.duration_since(*at) < interval);
            started.prune_at = (started.at.len() * 2).max(MIN_PRUNE);
        }
        started.at.insert(key.clone(), now);
        true
    }
}
