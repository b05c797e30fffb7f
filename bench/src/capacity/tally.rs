//! What the requests of one step got: successes by kind, failures by kind
//! and cause (the first few in full), latencies; and running a step's
//! workers, each with its own tally, merged at the end.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Instant;

/// Failures kept in full for the report.
const SAMPLES: usize = 10;

/// One worker's (or, merged, one step's) outcomes.
#[derive(Default)]
pub struct Tally {
    ok: BTreeMap<&'static str, u64>,
    errors: BTreeMap<String, u64>,
    samples: Vec<String>,
    latencies_us: Vec<u32>,
}

impl Tally {
    /// Records one request of `kind` started at `started`.
    pub fn record<T>(&mut self, kind: &'static str, started: Instant, outcome: &Result<T, String>) {
        let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        self.latencies_us.push(micros);
        match outcome {
            Ok(_) => *self.ok.entry(kind).or_default() += 1,
            Err(what) => {
                // "status 401: body" counts under "status 401".
                let cause = what.split(':').next().unwrap_or(what);
                *self.errors.entry(format!("{kind}: {cause}")).or_default() += 1;
                if self.samples.len() < SAMPLES {
                    self.samples.push(format!("{kind}: {what}"));
                }
            }
        }
    }

    /// Adds another worker's tally to this one.
    pub fn merge(&mut self, other: Tally) {
        for (kind, n) in other.ok {
            *self.ok.entry(kind).or_default() += n;
        }
        for (cause, n) in other.errors {
            *self.errors.entry(cause).or_default() += n;
        }
        let room = SAMPLES.saturating_sub(self.samples.len());
        self.samples.extend(other.samples.into_iter().take(room));
        self.latencies_us.extend(other.latencies_us);
    }

    /// Requests answered as expected.
    pub fn ok_count(&self) -> u64 {
        self.ok.values().sum()
    }

    /// Requests that failed.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Counts, failures and latency percentiles (milliseconds) as JSON.
    pub fn json(&mut self) -> Value {
        self.latencies_us.sort_unstable();
        let at = |q: f64| -> f64 {
            if self.latencies_us.is_empty() {
                return 0.0;
            }
            let i = ((self.latencies_us.len() - 1) as f64 * q).round() as usize;
            f64::from(self.latencies_us[i]) / 1000.0
        };
        json!({
            "ok": self.ok,
            "ok_total": self.ok_count(),
            "errors": self.errors,
            "error_total": self.error_count(),
            "error_samples": self.samples,
            "latency_ms": {"p50": at(0.5), "p99": at(0.99), "p999": at(0.999), "max": at(1.0)},
        })
    }
}

/// Runs `workers` copies of `work` (given its worker number) at once and
/// returns what each returned.
pub async fn in_parallel<T, F, Fut>(workers: usize, work: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let handles: Vec<_> = (0..workers).map(|w| tokio::spawn(work(w))).collect();
    let mut results = Vec::with_capacity(workers);
    for handle in handles {
        results.push(handle.await.expect("a worker panicked"));
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_count_by_kind_and_cause_and_merge() {
        let started = Instant::now();
        let mut one = Tally::default();
        one.record("rest", started, &Ok::<(), String>(()));
        one.record(
            "rest",
            started,
            &Err::<(), _>("status 401: expired".to_owned()),
        );
        let mut two = Tally::default();
        two.record(
            "rest",
            started,
            &Err::<(), _>("status 401: again".to_owned()),
        );
        two.record("edge_session", started, &Ok::<(), String>(()));
        one.merge(two);
        assert_eq!(one.ok_count(), 2);
        assert_eq!(one.error_count(), 2);
        let report = one.json();
        assert_eq!(report["errors"]["rest: status 401"], 2);
        assert_eq!(report["error_samples"][0], "rest: status 401: expired");
        assert_eq!(report["ok"]["edge_session"], 1);
    }
}
