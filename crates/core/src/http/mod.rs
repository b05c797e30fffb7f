//! Pure header operations: the session cookie and hop-by-hop headers.

mod cookie;
mod headers;

pub use cookie::{clear_cookie, find_session_secret, has_cookie, set_cookie, strip_cookie};
pub use headers::HopByHop;
