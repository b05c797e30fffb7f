//! The upstream side: a pooled HTTP(S) client to Supabase and the header
//! rewriting of what goes to it and what comes back.

mod client;
mod request;
mod response;

pub use client::Upstream;
pub use request::{Forward, forward_request};
pub use response::{make_private, relay_response, replace_body};
