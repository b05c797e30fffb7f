//! The upstream side: a pool of HTTP/1.1 connections to Supabase and the header
//! rewriting of what goes to it and what comes back.

mod client;
mod lane;
mod pool;
mod request;
mod response;

pub use client::{Upstream, UpstreamResponse};
pub use lane::Lane;
pub use pool::PooledBody;
pub use request::{Forward, X_FORWARDED_FOR, bearer, forward_request, forwarded_cookie};
pub use response::{drop_upstream_cookies, make_private, relay_response, replace_body};
