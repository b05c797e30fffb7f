//! The client to Supabase: the connection pool ([`crate::pool`]) with the
//! proxy's body type, and the header rewriting of what goes to it and what
//! comes back.

mod client;
mod request;
mod response;

use crate::body::Body;

pub use client::{Upstream, UpstreamResponse};

/// A browser connection's lane to Supabase.
pub type Lane = crate::pool::Lane<Body>;
/// Sends on a lane, inside its [`crate::pool::Lane::drive`].
pub type OnLane<'a> = crate::pool::OnLane<'a, Body>;
pub use request::{Forward, X_FORWARDED_FOR, bearer, forward_request, forwarded_cookie};
pub use response::{drop_upstream_cookies, relay_response, replace_body};
