//! Per-client rate limits on Auth calls that take secrets or send mail.
//!
//! One token bucket per client address (core's [`bucket_key`]: IPv6
//! grouped by /64). The table is bounded: when it is full,
//! buckets that have refilled are forgotten; if it is still full, new
//! clients are let through and the event is logged rather than refusing
//! everyone.

use sbp_core::guard::{Bucket, RateLimit, bucket_key};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Most clients tracked at once.
const MAX_TRACKED: usize = 100_000;

pub struct RateLimiter {
    limit: RateLimit,
    started: Instant,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        RateLimiter {
            limit,
            started: Instant::now(),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one call for `ip`; `Err(seconds)` when it must wait.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let now = self.started.elapsed().as_millis() as u64;
        let mut buckets = crate::sync::lock(&self.buckets);
        let key = bucket_key(ip);
        if !buckets.contains_key(&key) && buckets.len() >= MAX_TRACKED {
            buckets.retain(|_, b| !b.is_full(self.limit, now));
            if buckets.len() >= MAX_TRACKED {
                tracing::warn!("rate limit table full; letting a new client through");
                return Ok(());
            }
        }
        buckets
            .entry(key)
            .or_insert_with(|| Bucket::full(self.limit, now))
            .take(self.limit, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_client_and_groups_ipv6_by_64() {
        let limiter = RateLimiter::new(RateLimit {
            burst: 2,
            period: 60,
        });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(limiter.check(a).is_ok());
        assert!(limiter.check(a).is_ok());
        assert_eq!(limiter.check(a), Err(30));
        assert!(
            limiter.check(b).is_ok(),
            "another client has its own bucket"
        );
        let v6a: IpAddr = "2001:db8::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8::ffff".parse().unwrap();
        assert!(limiter.check(v6a).is_ok());
        assert!(limiter.check(v6b).is_ok());
        assert!(limiter.check(v6a).is_err(), "one /64 is one client");
    }
}
