//! Bodies stream both ways: a 1 GiB upload and a 1 GiB download pass
//! through the proxy process with flat memory.

use crate::support;

use bytes::Bytes;
use futures_util::stream;
use http::Request;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use sha2::{Digest, Sha256};
use support::ProxyProcess;

const GIB: u64 = 1 << 30;
const CHUNK: usize = 1 << 20;
/// Peak resident memory the proxy may reach while moving 2 GiB.
const MEMORY_CEILING: u64 = 96 << 20;

#[tokio::test]
async fn one_gib_up_and_down_with_flat_memory() {
    let stub = sbp_stub::Stub::start(sbp_stub::StubConfig::default())
        .await
        .unwrap();
    let settings = support::settings_for(&stub, vec![]);
    let proxy = ProxyProcess::start(&settings);
    let client = support::http::http_client();

    // Upload: 1024 chunks of 1 MiB, never held whole by anyone.
    let chunk = Bytes::from((0..CHUNK).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let mut expected = Sha256::new();
    for _ in 0..(GIB as usize / CHUNK) {
        expected.update(&chunk);
    }
    let expected = hex(&expected.finalize());
    let frames = stream::iter(
        (0..GIB as usize / CHUNK).map(move |_| Ok::<_, std::io::Error>(Frame::data(chunk.clone()))),
    );
    let upload = Request::post(format!("{}/storage/v1/object/bucket/big.bin", proxy.base()))
        .header("apikey", stub.anon_key())
        .header("content-length", GIB.to_string())
        .body(StreamBody::new(frames).boxed())
        .unwrap();
    let response = client.request(upload).await.unwrap();
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(answer["bytes"], GIB);
    assert_eq!(answer["sha256"], expected.as_str());

    // Download: count and hash as it arrives.
    let download = Request::get(format!("{}/functions/v1/bytes?n={GIB}", proxy.base()))
        .header("apikey", stub.anon_key())
        .body(support::http::full(Bytes::new()))
        .unwrap();
    let response = client.request(download).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let (mut received, mut position, mut pattern_ok) = (0u64, 0u64, true);
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            pattern_ok &= data
                .iter()
                .enumerate()
                .all(|(i, b)| *b == ((position + i as u64) % 251) as u8);
            position += data.len() as u64;
            received += data.len() as u64;
        }
    }
    assert_eq!(received, GIB);
    assert!(pattern_ok, "the bytes arrive unchanged");

    let peak = proxy.peak_rss();
    assert!(peak < MEMORY_CEILING, "proxy peak RSS {} MiB", peak >> 20);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
