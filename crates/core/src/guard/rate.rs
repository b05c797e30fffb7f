//! Token-bucket rate limits, as pure arithmetic, and which bucket a
//! client's calls count against (the runtime keeps the buckets).

use std::net::IpAddr;

/// `burst` calls per `period` seconds, refilled continuously.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub burst: u32,
    pub period: u64,
}

/// One client's bucket; time in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    tokens: f64,
    updated_ms: u64,
}

impl Bucket {
    pub fn full(limit: RateLimit, now_ms: u64) -> Self {
        Bucket {
            tokens: f64::from(limit.burst),
            updated_ms: now_ms,
        }
    }

    fn refill(&mut self, limit: RateLimit, now_ms: u64) {
        let per_ms = f64::from(limit.burst) / (limit.period as f64 * 1000.0);
        let elapsed = now_ms.saturating_sub(self.updated_ms) as f64;
        self.tokens = (self.tokens + elapsed * per_ms).min(f64::from(limit.burst));
        self.updated_ms = now_ms;
    }

    /// Takes one call; `Err(seconds)` to wait when the bucket is empty.
    pub fn take(&mut self, limit: RateLimit, now_ms: u64) -> Result<(), u64> {
        self.refill(limit, now_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        let per_second = f64::from(limit.burst) / limit.period as f64;
        Err(((1.0 - self.tokens) / per_second).ceil().max(1.0) as u64)
    }

    /// Whether the bucket has refilled completely (and can be forgotten).
    pub fn is_full(&self, limit: RateLimit, now_ms: u64) -> bool {
        let mut copy = *self;
        copy.refill(limit, now_ms);
        copy.tokens >= f64::from(limit.burst)
    }
}

/// The address a client's bucket is kept for: an IPv4 address itself, an
/// IPv6 address its /64, since one client usually owns a whole /64.
pub fn bucket_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[8..].fill(0);
            IpAddr::from(octets)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_ipv4_client_is_its_address() {
        assert_eq!(bucket_key(ip("192.0.2.1")), ip("192.0.2.1"));
        assert_ne!(bucket_key(ip("192.0.2.1")), bucket_key(ip("192.0.2.2")));
    }

    #[test]
    fn an_ipv6_client_is_its_64() {
        let key = ip("2001:db8:1:2::");
        assert_eq!(bucket_key(ip("2001:db8:1:2::1")), key);
        assert_eq!(bucket_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")), key);
        assert_ne!(bucket_key(ip("2001:db8:1:3::1")), key, "another /64");
        assert_ne!(bucket_key(ip("2001:db9:1:2::1")), key);
    }

    #[test]
    fn burst_then_refill() {
        let limit = RateLimit {
            burst: 2,
            period: 10,
        };
        let mut b = Bucket::full(limit, 0);
        assert_eq!(b.take(limit, 0), Ok(()));
        assert_eq!(b.take(limit, 0), Ok(()));
        assert_eq!(b.take(limit, 0), Err(5), "one call per 5 s");
        assert_eq!(b.take(limit, 5_000), Ok(()));
        assert!(!b.is_full(limit, 5_000));
        assert!(b.is_full(limit, 20_000));
    }
}
