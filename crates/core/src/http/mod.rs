//! Pure header operations: the session cookie, hop-by-hop headers, the
//! response header policy, which requests may be replayed, and decoding the
//! bodies the proxy must read.

mod cookie;
mod encoding;
mod headers;
mod replay;
mod response_headers;

pub use cookie::{clear_cookie, find_session_secret, has_cookie, set_cookie, strip_cookie};
pub use encoding::{DecodeError, decode_body, is_encoded};
pub use headers::HopByHop;
pub use replay::may_replay;
pub use response_headers::{clean_headers, is_cors_header, make_private};
