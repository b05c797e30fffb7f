//! One line of a check's report (`ok   auth /health    (12 ms)`), and
//! running a probe within its time limit.

use super::PROBE_TIMEOUT;
use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

/// How a probe went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Worth knowing, not a failure (an unknown variable).
    Warn,
    Fail,
}

/// A probe's name and what it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub status: Status,
    pub probe: &'static str,
    pub detail: String,
}

/// The width of the probe's name column.
const NAME_WIDTH: usize = 15;

impl Line {
    pub fn ok(probe: &'static str, detail: impl Into<String>) -> Line {
        Line::new(Status::Ok, probe, detail)
    }

    pub fn warn(probe: &'static str, detail: impl Into<String>) -> Line {
        Line::new(Status::Warn, probe, detail)
    }

    pub fn fail(probe: &'static str, detail: impl Into<String>) -> Line {
        Line::new(Status::Fail, probe, detail)
    }

    fn new(status: Status, probe: &'static str, detail: impl Into<String>) -> Line {
        Line {
            status,
            probe,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match self.status {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        let line = format!("{status:<4} {:<NAME_WIDTH$} {}", self.probe, self.detail);
        f.write_str(line.trim_end())
    }
}

/// Runs `probe` within [`PROBE_TIMEOUT`]: `Ok` holds a note (may be
/// empty), `Err` what is wrong and how to fix it. A probe that runs out of
/// time fails with `on_timeout`, the likely fix.
pub async fn timed(
    probe: &'static str,
    on_timeout: &str,
    checked: impl Future<Output = Result<String, String>>,
) -> Line {
    let started = Instant::now();
    match tokio::time::timeout(PROBE_TIMEOUT, checked).await {
        Ok(Ok(note)) => Line::ok(probe, with_time(&note, started.elapsed())),
        Ok(Err(failure)) => Line::fail(probe, failure),
        Err(_) => Line::fail(
            probe,
            format!(
                "no answer within {} s; {on_timeout}",
                PROBE_TIMEOUT.as_secs()
            ),
        ),
    }
}

fn with_time(note: &str, took: Duration) -> String {
    let time = format!("({} ms)", took.as_millis());
    if note.is_empty() {
        time
    } else {
        format!("{note} {time}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_a_status_column_and_a_name_column() {
        assert_eq!(
            Line::ok("auth /health", with_time("", Duration::from_millis(12))).to_string(),
            "ok   auth /health    (12 ms)"
        );
        assert_eq!(
            Line::fail("rest", "what; how").to_string(),
            "FAIL rest            what; how"
        );
        assert_eq!(
            Line::warn("config", "X: unknown setting").to_string(),
            "warn config          X: unknown setting"
        );
        assert_eq!(
            with_time("GoTrue v2", Duration::from_millis(3)),
            "GoTrue v2 (3 ms)"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_that_does_not_end_fails_at_its_time_limit() {
        let line = timed("rest", "check the network", std::future::pending()).await;
        assert_eq!(line.status, Status::Fail);
        assert_eq!(line.detail, "no answer within 5 s; check the network");
        let line = timed("rest", "unused", async { Err("down; fix it".into()) }).await;
        assert_eq!(
            (line.status, line.detail.as_str()),
            (Status::Fail, "down; fix it")
        );
    }
}
