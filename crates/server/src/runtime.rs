//! The runtime's clock and random source for the core's traits.

use sbp_core::env::{Clock, RandomSource, UnixSeconds};

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixSeconds {
        unix_now()
    }
}

/// Seconds since the Unix epoch, from the system clock.
pub fn unix_now() -> UnixSeconds {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The operating system's CSPRNG.
pub struct OsRandom;

impl OsRandom {
    pub fn bytes<const N: usize>(&self) -> [u8; N] {
        let mut buf = [0u8; N];
        self.fill(&mut buf);
        buf
    }
}

impl RandomSource for OsRandom {
    fn fill(&self, buf: &mut [u8]) {
        // The OS generator only fails when the platform has none at all; a
        // proxy that cannot make secrets must not go on.
        getrandom::fill(buf).expect("the operating system's random generator failed");
    }
}
