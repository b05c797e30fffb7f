//! Fault switches that tests flip at any time to make the stub misbehave.

use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64};

/// All off by default.
#[derive(Debug, Default)]
pub struct Faults {
    /// 0 = normal; otherwise the refresh grant answers this status (4xx:
    /// `session_not_found`; 5xx: `unexpected_failure`).
    pub refresh_status: AtomicU16,
    /// Sleep this long before answering a refresh grant.
    pub refresh_delay_ms: AtomicU64,
    /// The password grant answers 200 with a truncated, invalid JSON body.
    pub signin_bad_json: AtomicBool,
}
