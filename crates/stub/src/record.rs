//! The log of every request the stub received, for tests to inspect.

use std::sync::Mutex;

use bytes::Bytes;
use http::HeaderMap;

use crate::state::lock;

/// How much of each request body is kept.
pub(crate) const BODY_CAPTURE_LIMIT: usize = 64 * 1024;

/// One request as the stub received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    /// The first 64 KiB of the body.
    pub body: Bytes,
    /// The full body length.
    pub body_len: u64,
}

impl Recorded {
    /// Whether this is `POST /auth/v1/token?grant_type=refresh_token`.
    pub fn is_refresh_grant(&self) -> bool {
        self.method == "POST"
            && self.path == "/auth/v1/token"
            && self.query.as_deref().is_some_and(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .any(|(k, v)| k == "grant_type" && v == "refresh_token")
            })
    }
}

/// Requests in arrival order; bodies are filled in once read.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    inner: Mutex<Log>,
}

#[derive(Debug, Default)]
struct Log {
    next_seq: u64,
    entries: Vec<(u64, Recorded)>,
}

impl Recorder {
    /// Logs a request's head on arrival; returns the ticket for [`Recorder::finish`].
    pub(crate) fn start(&self, request: Recorded) -> u64 {
        let mut log = lock(&self.inner);
        let seq = log.next_seq;
        log.next_seq += 1;
        log.entries.push((seq, request));
        seq
    }

    /// Stores the body seen for the request `seq` (a no-op after a clear).
    pub(crate) fn finish(&self, seq: u64, body: Bytes, body_len: u64) {
        let mut log = lock(&self.inner);
        if let Some((_, entry)) = log.entries.iter_mut().rev().find(|(s, _)| *s == seq) {
            entry.body = body;
            entry.body_len = body_len;
        }
    }

    pub(crate) fn snapshot(&self) -> Vec<Recorded> {
        lock(&self.inner)
            .entries
            .iter()
            .map(|(_, r)| r.clone())
            .collect()
    }

    pub(crate) fn count(&self, matches: impl Fn(&Recorded) -> bool) -> usize {
        lock(&self.inner)
            .entries
            .iter()
            .filter(|(_, r)| matches(r))
            .count()
    }

    pub(crate) fn clear(&self) {
        lock(&self.inner).entries.clear();
    }
}
