//! The CDN in front of hosted Supabase: JSON answers encoded with brotli or
//! gzip when the request's `Accept-Encoding` allows it, and the faults of
//! edges that encode unasked or label a body with an encoding it does not have.

use std::io::Write;

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, VARY};
use http::{HeaderMap, HeaderValue, Response};
use http_body_util::{BodyExt, Full};

use crate::response::StubBody;

/// A content coding the stub can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    Brotli,
    Gzip,
}

impl Coding {
    fn token(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Gzip => "gzip",
        }
    }

    /// `body` encoded with this coding.
    pub fn encode(self, body: &[u8]) -> Bytes {
        match self {
            Coding::Gzip => gzip(body),
            Coding::Brotli => {
                let mut out = Vec::new();
                {
                    let mut writer = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                    // Writing into a Vec cannot fail.
                    let _ = writer.write_all(body);
                }
                Bytes::from(out)
            }
        }
    }
}

/// gzip of `body` (default level).
pub(crate) fn gzip(body: &[u8]) -> Bytes {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(body);
    Bytes::from(encoder.finish().unwrap_or_default())
}

/// A "decompression bomb": gzip of `padding` bytes of JSON whitespace
/// followed by `json`; small on the wire, `padding + json.len()` decoded.
pub(crate) fn gzip_padded(json: &[u8], padding: u64) -> Bytes {
    static SPACES: [u8; 64 * 1024] = [b' '; 64 * 1024];
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut left = padding;
    while left > 0 {
        let n = usize::try_from(left).map_or(SPACES.len(), |l| l.min(SPACES.len()));
        // Writing into a Vec cannot fail.
        let _ = encoder.write_all(&SPACES[..n]);
        left -= n as u64;
    }
    let _ = encoder.write_all(json);
    Bytes::from(encoder.finish().unwrap_or_default())
}

/// The coding a CDN picks for this `Accept-Encoding`: `br` when allowed
/// (Cloudflare prefers it), else `gzip`, else none (no header, `identity`
/// only, or both refused with `q=0`).
pub(crate) fn negotiate(accept_encoding: Option<&str>) -> Option<Coding> {
    let accepted = accept_encoding?;
    let mut wildcard = false;
    let mut allowed: Vec<&str> = Vec::new();
    let mut refused: Vec<&str> = Vec::new();
    for item in accepted.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or_default().trim();
        let zero = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        match (name, zero) {
            ("*", false) => wildcard = true,
            (_, true) => refused.push(name),
            (_, false) => allowed.push(name),
        }
    }
    [Coding::Brotli, Coding::Gzip].into_iter().find(|coding| {
        let is = |n: &&str| n.eq_ignore_ascii_case(coding.token());
        allowed.iter().any(is) || (wildcard && !refused.iter().any(is))
    })
}

/// Whether the answer is JSON (Auth, PostgREST, the echoes).
pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            let essence = ct.split(';').next().unwrap_or_default().trim();
            essence == "application/json" || essence.ends_with("+json")
        })
}

/// What to do to one answer's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Treatment {
    /// Encode it and say so.
    Encode(Coding),
    /// Say `Content-Encoding: gzip` but send it as it is (not gzip at all).
    MislabelGzip,
}

/// Applies `treatment` to a response with a whole (non-streaming) body.
pub(crate) async fn apply(
    response: Response<StubBody>,
    treatment: Treatment,
) -> Response<StubBody> {
    let (mut parts, body) = response.into_parts();
    let plain = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    let (encoded, coding) = match treatment {
        Treatment::Encode(coding) => (coding.encode(&plain), coding),
        Treatment::MislabelGzip => (plain, Coding::Gzip),
    };
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_ENCODING, HeaderValue::from_static(coding.token()));
    parts
        .headers
        .append(VARY, HeaderValue::from_static("Accept-Encoding"));
    Response::from_parts(parts, Full::new(encoded).boxed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_get_brotli_and_node_fetch_too() {
        assert_eq!(
            negotiate(Some("gzip, deflate, br, zstd")),
            Some(Coding::Brotli)
        );
        assert_eq!(negotiate(Some("gzip, deflate, br")), Some(Coding::Brotli));
    }

    #[test]
    fn gzip_when_brotli_is_not_allowed() {
        assert_eq!(negotiate(Some("gzip")), Some(Coding::Gzip));
        assert_eq!(negotiate(Some("br;q=0, gzip;q=0.5")), Some(Coding::Gzip));
        assert_eq!(negotiate(Some("*, br;q=0")), Some(Coding::Gzip));
    }

    #[test]
    fn identity_absent_or_refused_means_plain() {
        assert_eq!(negotiate(None), None);
        assert_eq!(negotiate(Some("identity")), None);
        assert_eq!(negotiate(Some("")), None);
        assert_eq!(negotiate(Some("deflate, zstd")), None);
        assert_eq!(negotiate(Some("gzip;q=0, br;q=0.000")), None);
        assert_eq!(negotiate(Some("*;q=0")), None);
    }

    #[test]
    fn json_content_types() {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(is_json(&headers));
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/vnd.pgrst.object+json"),
        );
        assert!(is_json(&headers));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
        assert!(!is_json(&headers));
    }
}
