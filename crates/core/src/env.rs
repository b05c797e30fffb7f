//! The two things the core needs from its runtime: the time and random bytes.

/// Seconds since the Unix epoch.
pub type UnixSeconds = i64;

/// The current time, supplied by the runtime (tests use a fixed or stepped clock).
pub trait Clock {
    fn now(&self) -> UnixSeconds;
}

/// A cryptographically secure random source, supplied by the runtime.
pub trait RandomSource {
    fn fill(&self, buf: &mut [u8]);
}

/// `n` random bytes from `rng`.
pub fn random_array<const N: usize>(rng: &dyn RandomSource) -> [u8; N] {
    let mut buf = [0u8; N];
    rng.fill(&mut buf);
    buf
}
