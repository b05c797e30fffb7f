//! An incoming request as handlers see it: head fields, query and header
//! helpers, and a body reader that keeps the first 64 KiB for the recorder.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;

use crate::record::BODY_CAPTURE_LIMIT;

/// A request being handled.
pub(crate) struct Req {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: RequestBody,
    /// The connection's upgrade, for the Realtime WebSocket.
    pub upgrade: Option<OnUpgrade>,
}

impl Req {
    /// The first value of a query parameter, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// A header value, when present and valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The token of an `Authorization: Bearer <token>` header.
    pub fn bearer(&self) -> Option<&str> {
        let value = self.header("authorization")?.trim();
        let (scheme, token) = value.split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
    }
}

/// Why a body could not be read whole.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// The connection failed mid-body.
    Io(hyper::Error),
    /// The body is larger than the handler accepts.
    TooLarge,
}

/// Reads a request body chunk by chunk, keeping its first 64 KiB and its length.
pub(crate) struct RequestBody {
    incoming: Incoming,
    head: BytesMut,
    len: u64,
}

impl RequestBody {
    pub fn new(incoming: Incoming) -> Self {
        RequestBody {
            incoming,
            head: BytesMut::new(),
            len: 0,
        }
    }

    /// The next data chunk, or `None` at the end of the body.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, hyper::Error> {
        while let Some(frame) = self.incoming.frame().await {
            if let Ok(data) = frame?.into_data() {
                self.len += data.len() as u64;
                let room = BODY_CAPTURE_LIMIT.saturating_sub(self.head.len());
                self.head.extend_from_slice(&data[..room.min(data.len())]);
                return Ok(Some(data));
            }
        }
        Ok(None)
    }

    /// The whole body, refusing more than `limit` bytes.
    pub async fn read_all(&mut self, limit: usize) -> Result<Bytes, BodyError> {
        let mut all = BytesMut::new();
        while let Some(chunk) = self.next_chunk().await.map_err(BodyError::Io)? {
            if all.len() + chunk.len() > limit {
                return Err(BodyError::TooLarge);
            }
            all.extend_from_slice(&chunk);
        }
        Ok(all.freeze())
    }

    /// Reads and drops up to `limit` more bytes so the recorder sees the body.
    pub async fn drain(&mut self, limit: u64) {
        let stop_at = self.len.saturating_add(limit);
        while self.len < stop_at {
            match self.next_chunk().await {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }

    /// What the recorder keeps: the first 64 KiB and the length read so far.
    pub fn captured(&self) -> (Bytes, u64) {
        (self.head.clone().freeze(), self.len)
    }
}
