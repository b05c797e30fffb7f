//! Fault switches that tests flip at any time to make the stub misbehave.

use std::sync::Mutex;
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
    /// Auth's JSON answers are gzip-encoded even when the request asked
    /// for no encoding (no `Accept-Encoding`, or `identity`), as some CDNs do.
    pub auth_encode_unasked: AtomicBool,
    /// Auth's JSON answers carry `Content-Encoding: gzip` but their body is
    /// the plain JSON, which is not valid gzip.
    pub auth_bad_gzip: AtomicBool,
    /// 0 = off; otherwise the password grant answers 200 with a gzip body
    /// (whatever the request asked for) that decodes to this many MiB of
    /// JSON whitespace followed by the token response.
    pub signin_gzip_bomb_mib: AtomicU64,
    /// `Set-Cookie` values added to every answer of every service (e.g.
    /// `sb-access-token=x; Path=/` or one naming the proxy's own cookie).
    pub set_cookies: Mutex<Vec<String>>,
}
