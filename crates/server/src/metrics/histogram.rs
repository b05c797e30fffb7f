//! A latency histogram observed with two relaxed atomic additions and no
//! lock (prometheus-client's own histogram takes a mutex per observation),
//! encoded through prometheus-client as an ordinary histogram.

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds of the buckets, in seconds (the last, `+Inf`, is implied).
pub const BOUNDS: [f64; 14] = [
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];
/// The same bounds in nanoseconds, compared with each observation.
const BOUNDS_NANOS: [u64; 14] = [
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    10_000_000_000,
];

/// Shared by its clones: the registry holds one, the counting point another.
#[derive(Clone, Debug, Default)]
pub struct Histogram(Arc<Cells>);

#[derive(Debug, Default)]
struct Cells {
    /// Observations per bucket (not cumulative); the last is `+Inf`.
    buckets: [AtomicU64; BOUNDS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let bucket = BOUNDS_NANOS
            .iter()
            .position(|&bound| nanos <= bound)
            .unwrap_or(BOUNDS.len());
        self.0.buckets[bucket].fetch_add(1, Relaxed);
        self.0.sum_nanos.fetch_add(nanos, Relaxed);
    }

    /// How many observations there were.
    pub fn count(&self) -> u64 {
        self.0.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }
}

impl TypedMetric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let mut cumulative = 0;
        let mut buckets = [(0.0, 0); BOUNDS.len() + 1];
        for (i, slot) in buckets.iter_mut().enumerate() {
            cumulative += self.0.buckets[i].load(Relaxed);
            *slot = (BOUNDS.get(i).copied().unwrap_or(f64::INFINITY), cumulative);
        }
        let sum = self.0.sum_nanos.load(Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, cumulative, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_observation_lands_in_the_first_bucket_that_holds_it() {
        let histogram = Histogram::default();
        histogram.observe(Duration::from_micros(250));
        histogram.observe(Duration::from_micros(251));
        histogram.observe(Duration::from_secs(60));
        let cells = &histogram.0;
        assert_eq!(cells.buckets[0].load(Relaxed), 1);
        assert_eq!(cells.buckets[1].load(Relaxed), 1);
        assert_eq!(cells.buckets[BOUNDS.len()].load(Relaxed), 1);
        assert_eq!(histogram.count(), 3);
        assert_eq!(cells.sum_nanos.load(Relaxed), 60_000_501_000);
    }

    #[test]
    fn bounds_in_seconds_and_in_nanoseconds_agree() {
        for (seconds, nanos) in BOUNDS.iter().zip(BOUNDS_NANOS) {
            assert_eq!((seconds * 1e9).round() as u64, nanos);
        }
    }
}
