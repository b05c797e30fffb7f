//! Edge Functions under `/functions/v1`: `bytes?n=N` streams a generated body,
//! `count` hashes a streamed request body, anything else is echoed. A bearer,
//! when present, must verify.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use serde_json::json;

use super::{Identity, echo, hash_body};
use crate::request::Req;
use crate::response::{StubBody, json};
use crate::state::Shared;

/// Size of each generated chunk of `bytes?n=N`.
const CHUNK: usize = 64 * 1024;
/// The repeating pattern: byte `i` of the body is `i % 251`.
const PERIOD: usize = 251;
const CYCLE: [u8; PERIOD] = cycle();

const fn cycle() -> [u8; PERIOD] {
    let mut out = [0u8; PERIOD];
    let mut i = 0;
    while i < PERIOD {
        out[i] = i as u8;
        i += 1;
    }
    out
}

pub(crate) async fn handle(shared: &Shared, req: &mut Req) -> Response<StubBody> {
    let who = match req.bearer().map(|token| shared.keys.verify(token, 0)) {
        None => Identity::default(),
        Some(Ok(claims)) => Identity::from_claims(claims, None),
        Some(Err(_)) => {
            return json(
                StatusCode::UNAUTHORIZED,
                &json!({"code": 401, "message": "Invalid JWT"}),
            );
        }
    };
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/functions/v1/bytes") => {
            match req.query_param("n").and_then(|n| n.parse::<u64>().ok()) {
                Some(n) => {
                    let mut response = Response::new(PatternBody { next: 0, end: n }.boxed());
                    response.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/octet-stream"),
                    );
                    response
                }
                None => json(
                    StatusCode::BAD_REQUEST,
                    &json!({"error": "n must be a non-negative integer"}),
                ),
            }
        }
        ("POST", "/functions/v1/count") => count(req).await,
        _ => json(StatusCode::OK, &echo("functions", req, &who)),
    }
}

/// Counts and hashes the request body as it streams in.
async fn count(req: &mut Req) -> Response<StubBody> {
    match hash_body(req).await {
        Ok((total, sha256)) => json(StatusCode::OK, &json!({"bytes": total, "sha256": sha256})),
        Err(e) => json(
            StatusCode::BAD_REQUEST,
            &json!({"error": format!("body read failed: {e}")}),
        ),
    }
}

/// Bytes `next..end` of the pattern, produced one chunk at a time; its exact
/// size hint makes hyper send `Content-Length`.
struct PatternBody {
    next: u64,
    end: u64,
}

impl Body for PatternBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let remaining = this.end - this.next;
        if remaining == 0 {
            return Poll::Ready(None);
        }
        let len = usize::try_from(remaining).map_or(CHUNK, |r| r.min(CHUNK));
        let mut chunk = Vec::with_capacity(len);
        let mut at = (this.next % PERIOD as u64) as usize;
        while chunk.len() < len {
            let take = (PERIOD - at).min(len - chunk.len());
            chunk.extend_from_slice(&CYCLE[at..at + take]);
            at = 0;
        }
        this.next += len as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
    }

    fn is_end_stream(&self) -> bool {
        self.next >= self.end
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.end - self.next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pattern_body_follows_i_mod_251_across_chunks() {
        let n = (CHUNK * 2 + 7) as u64;
        let body = PatternBody { next: 0, end: n };
        assert_eq!(body.size_hint().exact(), Some(n));
        let all = body.collect().await.expect("infallible").to_bytes();
        assert_eq!(all.len() as u64, n);
        assert!(
            all.iter()
                .enumerate()
                .all(|(i, b)| *b == (i % PERIOD) as u8)
        );
    }
}
