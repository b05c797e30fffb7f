//! The HTTP/1.1 handshake on a new byte stream from a [`Connect`]. The
//! connection's future is boxed, so lanes and parking hold connections
//! without knowing their I/O type.

use super::{Connect, RequestBody};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::pin::Pin;

/// Read buffer per upstream connection: bodies stream, so a small buffer
/// keeps memory flat with many large transfers at once.
const READ_BUFFER: usize = 64 * 1024;

/// An upstream connection: polled, it reads and writes; it ends when the
/// connection closes.
pub type Connection = Pin<Box<dyn Future<Output = hyper::Result<()>> + Send>>;

/// Why a request did not get a response.
pub enum SendError {
    Connect(String),
    Http(hyper::Error),
}

type Dialing<'a, B> =
    Pin<Box<dyn Future<Output = Result<(SendRequest<B>, Connection), SendError>> + Send + 'a>>;

/// Opens HTTP/1.1 connections (object-safe: the pool keeps one without
/// naming the connector's type).
pub trait Dial<B>: Send + Sync {
    fn dial(&self) -> Dialing<'_, B>;
}

/// A [`Dial`] over `connector`'s streams.
pub fn dialer<C: Connect, B: RequestBody>(connector: C) -> Box<dyn Dial<B>> {
    Box::new(Dialer(connector))
}

struct Dialer<C>(C);

impl<C: Connect, B: RequestBody> Dial<B> for Dialer<C> {
    fn dial(&self) -> Dialing<'_, B> {
        Box::pin(async move {
            let io = self.0.connect().await.map_err(SendError::Connect)?;
            let (sender, connection) = http1::Builder::new()
                .max_buf_size(READ_BUFFER)
                .handshake(TokioIo::new(io))
                .await
                .map_err(SendError::Http)?;
            Ok((sender, Box::pin(connection) as Connection))
        })
    }
}
