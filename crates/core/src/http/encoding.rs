//! Decoding a compressed body the proxy must read (Auth's answers), within a
//! bound on its *decoded* size, so a decompression bomb is refused rather
//! than expanded.
//!
//! The proxy asks Auth for no encoding, but a CDN in front of it may encode
//! anyway. `Content-Encoding` lists the codings in the order they were
//! applied; they are undone in reverse.

use std::io::Read;

/// Most codings stacked on one body (`gzip, br` is already unusual).
const MAX_CODINGS: usize = 2;
/// The largest zstd window the decoder allocates.
const MAX_ZSTD_WINDOW: u64 = 8 << 20;

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown content coding `{0}`")]
    Unknown(String),
    #[error("more than {MAX_CODINGS} content codings")]
    TooManyCodings,
    #[error("the {0} body is corrupt")]
    Corrupt(&'static str),
    #[error("the body decodes to more than {0} bytes")]
    TooLarge(usize),
}

/// The codings of a `Content-Encoding` value, in the order they were
/// applied, without `identity`.
fn codings(content_encoding: &str) -> impl Iterator<Item = String> + '_ {
    content_encoding
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "identity")
}

/// Whether a `Content-Encoding` value names any coding but `identity`.
pub fn is_encoded(content_encoding: &str) -> bool {
    codings(content_encoding).next().is_some()
}

/// `body` with every coding of `content_encoding` undone; at most `limit`
/// bytes after each step.
pub fn decode_body(
    content_encoding: &str,
    body: &[u8],
    limit: usize,
) -> Result<Vec<u8>, DecodeError> {
    let applied: Vec<String> = codings(content_encoding).collect();
    if applied.len() > MAX_CODINGS {
        return Err(DecodeError::TooManyCodings);
    }
    let mut data = body.to_vec();
    for coding in applied.iter().rev() {
        data = decode_one(coding, &data, limit)?;
    }
    Ok(data)
}

fn decode_one(coding: &str, body: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    match coding {
        "gzip" | "x-gzip" => read_bounded(flate2::read::MultiGzDecoder::new(body), "gzip", limit),
        // RFC 9110's "deflate" is zlib-wrapped; some servers send raw deflate.
        "deflate" => read_bounded(flate2::read::ZlibDecoder::new(body), "deflate", limit)
            .or_else(|_| read_bounded(flate2::read::DeflateDecoder::new(body), "deflate", limit)),
        "br" => read_bounded(
            brotli_decompressor::Decompressor::new(body, 4096),
            "br",
            limit,
        ),
        "zstd" => {
            let decoder =
                ruzstd::decoding::StreamingDecoder::new_with_max_window_size(body, MAX_ZSTD_WINDOW)
                    .map_err(|_| DecodeError::Corrupt("zstd"))?;
            read_bounded(decoder, "zstd", limit)
        }
        other => Err(DecodeError::Unknown(other.to_string())),
    }
}

/// Reads `reader` to its end, refusing more than `limit` bytes.
fn read_bounded(
    reader: impl Read,
    name: &'static str,
    limit: usize,
) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    let bound = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(bound)
        .read_to_end(&mut out)
        .map_err(|_| DecodeError::Corrupt(name))?;
    if out.len() > limit {
        return Err(DecodeError::TooLarge(limit));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    const JSON: &[u8] = br#"{"access_token":"eyJ.a.b","refresh_token":"r1"}"#;

    #[test]
    fn every_coding_a_cdn_uses_is_undone() {
        assert_eq!(decode_body("gzip", &gzip(JSON), 1024).unwrap(), JSON);
        assert_eq!(decode_body("GZip ", &gzip(JSON), 1024).unwrap(), JSON);
        assert_eq!(decode_body("deflate", &zlib(JSON), 1024).unwrap(), JSON);
        assert_eq!(
            decode_body("deflate", &raw_deflate(JSON), 1024).unwrap(),
            JSON
        );
        assert_eq!(decode_body("identity", JSON, 1024).unwrap(), JSON);
        assert_eq!(decode_body("", JSON, 1024).unwrap(), JSON);
        // Applied gzip first, then zlib: undone in reverse.
        assert_eq!(
            decode_body("gzip, deflate", &zlib(&gzip(JSON)), 1024).unwrap(),
            JSON
        );
    }

    fn brotli(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        encoder.write_all(data).unwrap();
        drop(encoder);
        out
    }

    #[test]
    fn brotli_and_zstd_are_decoded() {
        assert_eq!(decode_body("br", &brotli(JSON), 1024).unwrap(), JSON);
        let zstd =
            ruzstd::encoding::compress_to_vec(JSON, ruzstd::encoding::CompressionLevel::Fastest);
        assert_eq!(decode_body("zstd", &zstd, 1024).unwrap(), JSON);
        let bomb = brotli(&vec![b'x'; 4 << 20]);
        assert_eq!(
            decode_body("br", &bomb, 1 << 20),
            Err(DecodeError::TooLarge(1 << 20))
        );
    }

    #[test]
    fn a_decompression_bomb_is_refused_not_expanded() {
        let bomb = gzip(&vec![b' '; 8 << 20]);
        assert!(bomb.len() < 64 << 10, "8 MiB of spaces compress well");
        assert_eq!(
            decode_body("gzip", &bomb, 1 << 20),
            Err(DecodeError::TooLarge(1 << 20))
        );
    }

    #[test]
    fn corrupt_unknown_and_stacked_codings_are_errors() {
        assert_eq!(
            decode_body("gzip", JSON, 1024),
            Err(DecodeError::Corrupt("gzip"))
        );
        assert_eq!(
            decode_body("br", JSON, 1024),
            Err(DecodeError::Corrupt("br"))
        );
        assert_eq!(
            decode_body("zstd", JSON, 1024),
            Err(DecodeError::Corrupt("zstd"))
        );
        assert_eq!(
            decode_body("compress", JSON, 1024),
            Err(DecodeError::Unknown("compress".into()))
        );
        assert_eq!(
            decode_body("gzip, gzip, gzip", JSON, 1024),
            Err(DecodeError::TooManyCodings)
        );
        assert!(is_encoded("gzip") && !is_encoded("identity") && !is_encoded(" "));
    }
}
