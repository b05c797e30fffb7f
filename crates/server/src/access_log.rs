//! The access log: one line per request at info under the target
//! `sb_cookie_proxy::access`, and the request id that ties it to
//! Supabase's logs.
//!
//! A line names the method, the route class (never the path: a query can
//! hold a `token_hash` or a `code`), the status, the time the proxy took,
//! the bytes of the answer when its length is known, the public id of the
//! session presented (never its cookie) and the request id: the client's
//! `X-Request-Id` when it is printable and at most 128 bytes, else one the
//! proxy makes. The id goes upstream with the request and back in the
//! answer's `X-Request-Id`.

use bytes::{BufMut, BytesMut};
use http::header::{Entry, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use hyper::body::Body as _;
use sbp_core::route::{Route, Service};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client request id kept.
const MAX_REQUEST_ID: usize = 128;

/// The request's id: the client's when it is acceptable, else a new one
/// written in its place, so that it is forwarded upstream. One lookup.
pub fn request_id(headers: &mut HeaderMap) -> HeaderValue {
    match headers.entry(&X_REQUEST_ID) {
        Entry::Occupied(given) if acceptable(given.get()) => given.get().clone(),
        Entry::Occupied(mut unfit) => {
            let id = generated();
            unfit.insert(id.clone());
            id
        }
        Entry::Vacant(vacant) => vacant.insert(generated()).clone(),
    }
}

/// Printable ASCII, 1 to 128 bytes.
fn acceptable(id: &HeaderValue) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty() && bytes.len() <= MAX_REQUEST_ID && bytes.iter().all(|b| b.is_ascii_graphic())
}

/// A random prefix drawn once per process, then a counter: unique across
/// instances without a random draw per request. `<prefix:016x>-<n:x>`,
/// written without `format!` (its machinery costs more than the rest of
/// the request's id).
fn generated() -> HeaderValue {
    static PREFIX: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        let mut bytes = [0u8; 8];
        // Without randomness the ids are still unique in this process.
        let _ = getrandom::fill(&mut bytes);
        format!("{:016x}-", u64::from_le_bytes(bytes))
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // One allocation: the header value keeps these bytes.
    let mut text = BytesMut::with_capacity(prefix.len() + 16);
    text.put_slice(prefix.as_bytes());
    put_hex(&mut text, n);
    HeaderValue::from_maybe_shared(text.freeze()).expect("hex digits are a header value")
}

/// `n` in lowercase hex without leading zeros, as `{n:x}` writes it.
fn put_hex(out: &mut BytesMut, n: u64) {
    let digits = (u64::BITS - (n | 1).leading_zeros()).div_ceil(4);
    for digit in (0..digits).rev() {
        out.put_u8(b"0123456789abcdef"[(n >> (digit * 4)) as usize & 0xf]);
    }
}

/// A short name for what the proxy did with a request.
pub fn route_class(route: &Route) -> &'static str {
    match route {
        Route::Session => "session",
        Route::Sessions => "sessions",
        Route::RevokeSession(_) => "revoke_session",
        Route::Health => "health",
        Route::Jwks => "jwks",
        Route::Authorize => "authorize",
        Route::Callback => "callback",
        Route::Confirm => "confirm",
        Route::AuthHook => "auth_hook",
        Route::SignIn => "sign_in",
        Route::MfaVerify => "mfa_verify",
        Route::RefreshGrant => "refresh_grant",
        Route::User => "user",
        Route::Logout(_) => "logout",
        Route::RealtimeSocket => "realtime_socket",
        Route::Forward(service) => match service {
            Service::Auth => "auth",
            Service::Rest => "rest",
            Service::Storage => "storage",
            Service::Functions => "functions",
            Service::Graphql => "graphql",
            Service::Realtime => "realtime",
        },
        Route::App => "app",
        Route::MethodNotAllowed => "method_not_allowed",
        Route::DotSegments => "dot_segments",
        Route::NotFound => "not_found",
    }
}

/// How long Supabase took to answer a forwarded request (to its response
/// head), microseconds; set at most once, by the forwarding handler.
#[derive(Default)]
pub struct UpstreamTime(AtomicU64);

impl UpstreamTime {
    /// Nothing recorded.
    const UNKNOWN: u64 = 0;

    pub fn record(&self, took: std::time::Duration) {
        // At least 1: 0 stands for unknown.
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        self.0.store(micros, Ordering::Relaxed);
    }

    pub fn micros(&self) -> Option<u64> {
        Some(self.0.load(Ordering::Relaxed)).filter(|&m| m != Self::UNKNOWN)
    }
}

/// What the pipeline learnt about a request that the line names.
pub struct Handled<'a> {
    pub class: &'static str,
    /// Supabase's time, when the request was forwarded.
    pub upstream_us: Option<u64>,
    /// The public id of the session the request presented.
    pub session: Option<&'a sbp_core::session::Session>,
}

/// Writes the request's line and returns its answer with the request id.
pub fn finish(
    started: Instant,
    method: &Method,
    request_id: HeaderValue,
    handled: &Handled,
    mut response: http::Response<crate::body::Body>,
) -> http::Response<crate::body::Body> {
    if tracing::enabled!(target: "sb_cookie_proxy::access", tracing::Level::INFO) {
        write_line(started, method, &request_id, handled, &response);
    }
    response
        .headers_mut()
        .insert(X_REQUEST_ID.clone(), request_id);
    response
}

fn write_line(
    started: Instant,
    method: &Method,
    request_id: &HeaderValue,
    handled: &Handled,
    response: &http::Response<crate::body::Body>,
) {
    let status: StatusCode = response.status();
    let bytes = response.body().size_hint().exact();
    let session = handled.session.map(|s| s.id.as_str());
    // Checked printable ASCII or generated hex.
    let request_id = request_id.to_str().unwrap_or("");
    tracing::info!(
        target: "sb_cookie_proxy::access",
        method = method.as_str(),
        route = handled.class,
        status = status.as_u16(),
        duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        upstream_us = handled.upstream_us,
        bytes,
        session,
        request_id,
        "request"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_printable_client_id_is_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(&X_REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(request_id(&mut headers), "abc-123");
        assert_eq!(headers[&X_REQUEST_ID], "abc-123");
    }

    #[test]
    fn an_unfit_client_id_is_replaced_upstream_too() {
        let long = "a".repeat(129);
        for bad in [long.as_str(), "has space", ""] {
            let mut headers = HeaderMap::new();
            headers.insert(&X_REQUEST_ID, HeaderValue::from_str(bad).unwrap());
            let id = request_id(&mut headers);
            assert_ne!(id, bad);
            assert_eq!(headers[&X_REQUEST_ID], id);
        }
        let mut headers = HeaderMap::new();
        let max = "b".repeat(128);
        headers.insert(&X_REQUEST_ID, HeaderValue::from_str(&max).unwrap());
        assert_eq!(request_id(&mut headers), max.as_str());
    }

    #[test]
    fn upstream_time_is_unknown_until_recorded() {
        let time = UpstreamTime::default();
        assert_eq!(time.micros(), None);
        time.record(std::time::Duration::from_millis(3));
        assert_eq!(time.micros(), Some(3000));
        time.record(std::time::Duration::ZERO);
        assert_eq!(time.micros(), Some(1), "a recorded time is never unknown");
    }

    #[test]
    fn hex_is_written_as_format_writes_it() {
        for n in [0, 1, 9, 10, 15, 16, 255, 256, 0xdead_beef, u64::MAX] {
            let mut out = BytesMut::new();
            put_hex(&mut out, n);
            assert_eq!(&out[..], format!("{n:x}").as_bytes());
        }
    }

    #[test]
    fn generated_ids_differ() {
        let (mut a, mut b) = (HeaderMap::new(), HeaderMap::new());
        assert_ne!(request_id(&mut a), request_id(&mut b));
    }
}
