//! Keep-alive HTTP/1.1 connections to the one upstream, in parts with one
//! job each:
//!
//! - [`Connect`]: how a connection's byte stream is opened (TCP and TLS in
//!   production, [`crate::connect::Origin`]; in-memory pipes in the tests).
//!   Everything below is generic over it and over the request body type.
//! - `dial`: the HTTP/1.1 handshake on a new stream.
//! - `park`: stacks of idle connections that expire, and the parking of
//!   idle lanes' connections for the next lane.
//! - `lane`: a browser connection's own upstream connection, polled by the
//!   browser connection's task.
//! - `dispatch`: where a request goes (the lane, a parked, pooled or new
//!   connection), replaying it once when that is safe, and the response
//!   body that gives its connection back.

mod dial;
mod dispatch;
mod lane;
mod park;

pub use dial::SendError;
pub use dispatch::{Pool, PooledBody, describe};
pub use lane::{Lane, OnLane};

use bytes::Bytes;
use std::future::Future;
use tokio::io::{AsyncRead, AsyncWrite};

/// Opens byte streams to the upstream.
pub trait Connect: Send + Sync + 'static {
    type Io: AsyncRead + AsyncWrite + Send + Unpin + 'static;

    /// A new stream, or what went wrong, on one line.
    fn connect(&self) -> impl Future<Output = Result<Self::Io, String>> + Send;
}

/// What the pool sends as request bodies: an empty one ([`Default`]) is
/// made for a replayed request.
pub trait RequestBody:
    hyper::body::Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
    + Default
    + Send
    + 'static
{
}

impl<B> RequestBody for B where
    B: hyper::body::Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
        + Default
        + Send
        + 'static
{
}
