//! Limits on what the proxy accepts and how long it waits.

use super::duration::parse_duration;
use super::reader::Reader;

/// Every limit, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request head (start line and headers), bytes.
    pub max_header_bytes: usize,
    /// Most request headers.
    pub max_headers: usize,
    /// Longest request target (path and query), bytes.
    pub max_url_bytes: usize,
    /// Largest request body to Auth, bytes (uploads elsewhere stream unlimited).
    pub max_auth_body: u64,
    /// Largest Auth response the proxy reads to build a session, bytes.
    pub max_auth_response: usize,
    /// Time to receive a request's headers, also the idle time allowed
    /// between requests on a kept-alive connection, seconds.
    pub header_timeout: u64,
    /// A body (either way) that stalls this long is aborted, seconds.
    pub idle_timeout: u64,
    /// Time Supabase may take to start answering, seconds.
    pub upstream_timeout: u64,
    /// Most client connections served at once.
    pub max_connections: usize,
    /// Most Realtime WebSockets relayed at once.
    pub max_sockets: usize,
    /// Largest WebSocket message (and frame) relayed either way, bytes.
    pub max_socket_message: usize,
    /// A WebSocket without a frame either way for this long is closed, seconds.
    pub socket_idle_timeout: u64,
    /// At a stop, how long requests in flight (and the work they started)
    /// may take to finish, seconds.
    pub drain_timeout: u64,
    /// Threads serving connections, each with its own listener on the
    /// address; `None`: one per CPU.
    pub workers: Option<usize>,
}

/// Most worker threads `PROXY_WORKERS` may ask for.
pub const MAX_WORKERS: usize = 1024;

/// Parses a size in bytes: `16384`, `16KiB`, `1MiB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, factor) = if let Some(d) = text.strip_suffix("KiB") {
        (d, 1 << 10)
    } else if let Some(d) = text.strip_suffix("MiB") {
        (d, 1 << 20)
    } else {
        (text, 1)
    };
    digits
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{text}` is not a size; write e.g. 16384, 16KiB or 1MiB"))
}

fn count(text: &str) -> Result<usize, String> {
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{text}` is not a positive number"))
}

/// `auto` (one per CPU) or a count of worker threads.
fn workers(text: &str) -> Result<Option<usize>, String> {
    match text.trim() {
        "auto" => Ok(None),
        n => match n.parse::<usize>() {
            Ok(n @ 1..=MAX_WORKERS) => Ok(Some(n)),
            _ => Err(format!(
                "`{n}` is not a worker count; write auto or a number from 1 to {MAX_WORKERS}"
            )),
        },
    }
}

fn bounded_size(min: u64) -> impl Fn(&str) -> Result<u64, String> {
    move |text| match parse_size(text)? {
        n if n < min => Err(format!("must be at least {min} bytes")),
        n => Ok(n),
    }
}

fn seconds(text: &str) -> Result<u64, String> {
    match parse_duration(text)? {
        0 => Err("must be longer than 0s".into()),
        n => Ok(n),
    }
}

pub(super) fn load_limits(r: &mut Reader<'_>) -> Option<Limits> {
    // hyper needs room for at least 8 KiB of headers.
    let max_header_bytes = r.parsed("PROXY_MAX_HEADER_BYTES", Some("16KiB"), bounded_size(8192));
    let max_headers = r.parsed("PROXY_MAX_HEADERS", Some("100"), count);
    let max_url_bytes = r.parsed("PROXY_MAX_URL_BYTES", Some("8KiB"), bounded_size(256));
    let max_auth_body = r.parsed("PROXY_MAX_AUTH_BODY", Some("64KiB"), parse_size);
    let max_auth_response = r.parsed("PROXY_MAX_AUTH_RESPONSE", Some("1MiB"), bounded_size(4096));
    let header_timeout = r.parsed("PROXY_HEADER_TIMEOUT", Some("30s"), seconds);
    let idle_timeout = r.parsed("PROXY_IDLE_TIMEOUT", Some("60s"), seconds);
    let upstream_timeout = r.parsed("PROXY_UPSTREAM_TIMEOUT", Some("300s"), seconds);
    let max_connections = r.parsed("PROXY_MAX_CONNECTIONS", Some("4096"), count);
    let max_sockets = r.parsed("PROXY_MAX_SOCKETS", Some("10000"), count);
    // Above Realtime's largest broadcast payload (3 MB on paid plans); at
    // least what a heartbeat or a join needs.
    let max_socket_message = r.parsed("PROXY_MAX_SOCKET_MESSAGE", Some("4MiB"), bounded_size(1024));
    let socket_idle_timeout = r.parsed("PROXY_SOCKET_IDLE_TIMEOUT", Some("2m"), seconds);
    let drain_timeout = r.parsed("PROXY_DRAIN_TIMEOUT", Some("30s"), seconds);
    let workers = r.parsed("PROXY_WORKERS", Some("auto"), workers);
    Some(Limits {
        max_header_bytes: usize::try_from(max_header_bytes?).ok()?,
        max_headers: max_headers?,
        max_url_bytes: usize::try_from(max_url_bytes?).ok()?,
        max_auth_body: max_auth_body?,
        max_auth_response: usize::try_from(max_auth_response?).ok()?,
        header_timeout: header_timeout?,
        idle_timeout: idle_timeout?,
        upstream_timeout: upstream_timeout?,
        max_connections: max_connections?,
        max_sockets: max_sockets?,
        max_socket_message: usize::try_from(max_socket_message?).ok()?,
        socket_idle_timeout: socket_idle_timeout?,
        drain_timeout: drain_timeout?,
        workers: workers?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::collections::HashMap;

    fn load(extra: &[(&str, &str)]) -> Result<Limits, String> {
        let base = [
            ("SUPABASE_URL", "http://127.0.0.1:54321"),
            ("SUPABASE_ANON_KEY", "anon"),
        ];
        let source: HashMap<String, String> = base
            .iter()
            .chain(extra)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::load(&source)
            .map(|c| c.limits)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn socket_limits_have_defaults_and_refuse_bad_values() {
        let limits = load(&[]).unwrap();
        assert_eq!(limits.max_sockets, 10_000);
        assert_eq!(limits.max_socket_message, 4 << 20);
        assert_eq!(limits.socket_idle_timeout, 120);
        let set = load(&[
            ("PROXY_MAX_SOCKETS", "3"),
            ("PROXY_MAX_SOCKET_MESSAGE", "64KiB"),
            ("PROXY_SOCKET_IDLE_TIMEOUT", "5s"),
        ])
        .unwrap();
        assert_eq!(
            (
                set.max_sockets,
                set.max_socket_message,
                set.socket_idle_timeout
            ),
            (3, 64 << 10, 5)
        );
        for (key, bad) in [
            ("PROXY_MAX_SOCKETS", "0"),
            ("PROXY_MAX_SOCKETS", "many"),
            ("PROXY_MAX_SOCKET_MESSAGE", "100"),
            ("PROXY_SOCKET_IDLE_TIMEOUT", "0s"),
            ("PROXY_SOCKET_IDLE_TIMEOUT", "2"),
        ] {
            let err = load(&[(key, bad)]).unwrap_err();
            assert!(
                err.lines().count() == 1 && err.starts_with(&format!("{key}: ")),
                "{key}={bad}: {err}"
            );
        }
    }

    #[test]
    fn the_drain_timeout_defaults_to_30s_and_refuses_bad_values() {
        assert_eq!(load(&[]).unwrap().drain_timeout, 30);
        let set = load(&[("PROXY_DRAIN_TIMEOUT", "2m")]).unwrap();
        assert_eq!(set.drain_timeout, 120);
        for bad in ["0s", "30", "soon"] {
            let err = load(&[("PROXY_DRAIN_TIMEOUT", bad)]).unwrap_err();
            assert!(
                err.lines().count() == 1 && err.starts_with("PROXY_DRAIN_TIMEOUT: "),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn workers_are_one_per_cpu_unless_counted() {
        assert_eq!(load(&[]).unwrap().workers, None);
        assert_eq!(load(&[("PROXY_WORKERS", "auto")]).unwrap().workers, None);
        assert_eq!(load(&[("PROXY_WORKERS", "3")]).unwrap().workers, Some(3));
        for bad in ["0", "-1", "two", "1025"] {
            let err = load(&[("PROXY_WORKERS", bad)]).unwrap_err();
            assert!(
                err.lines().count() == 1 && err.starts_with("PROXY_WORKERS: "),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16KiB"), Ok(16_384));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("300"), Ok(300));
        for bad in ["", "0", "1GB", "-1", "x KiB"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
