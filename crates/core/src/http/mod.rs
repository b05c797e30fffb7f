//! Pure header operations: the session cookie, hop-by-hop headers and
//! decoding the bodies the proxy must read.

mod cookie;
mod encoding;
mod headers;

pub use cookie::{clear_cookie, find_session_secret, has_cookie, set_cookie, strip_cookie};
pub use encoding::{DecodeError, decode_body, is_encoded};
pub use headers::HopByHop;
