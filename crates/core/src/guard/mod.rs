//! Guards the proxy applies before it does anything for a request:
//! cross-site request forgery, the real client address, rate limits.

mod client_ip;
mod csrf;
mod rate;

pub use client_ip::{TrustedProxies, client_ip};
pub use csrf::{CsrfVerdict, check_csrf, csrf_applies, is_unsafe};
pub use rate::{Bucket, RateLimit, bucket_key};
