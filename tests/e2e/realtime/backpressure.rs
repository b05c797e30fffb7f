//! Back-pressure: a browser that stops reading while Supabase keeps sending
//! does not make the proxy buffer. The proxy runs as its own process so that
//! its memory can be measured; the client's small receive buffer keeps the
//! kernel from absorbing what the proxy must not.

use super::support::{ProxyProcess, settings_for};
use super::{ORIGIN, SOCKET};
use crate::support::websocket::{WAIT, open_on};
use serde_json::json;
use std::time::Duration;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;

const MESSAGES: usize = 128;
const MESSAGE: usize = 1 << 20;
/// Peak resident memory the proxy may reach while 128 MiB wait for the client.
const MEMORY_CEILING: u64 = 64 << 20;

#[tokio::test]
async fn a_stalled_browser_does_not_make_the_proxy_buffer() {
    let stub = sbp_stub::Stub::start(sbp_stub::StubConfig::default())
        .await
        .unwrap();
    let settings = settings_for(&stub, vec![]);
    let proxy = ProxyProcess::start(&settings);
    let tcp = TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(64 << 10).unwrap();
    let tcp = tcp.connect(proxy.addr).await.unwrap();
    let mut socket = open_on(tcp, SOCKET, &[("origin", ORIGIN)]).await.unwrap();
    socket
        .join("6", "realtime:flood", json!({"config": {}}))
        .await;

    for i in 0..MESSAGES {
        let mut payload = vec![b'x'; MESSAGE];
        payload[..8].copy_from_slice(&(i as u64).to_be_bytes());
        let delivered = stub.realtime_binary_broadcast("realtime:flood", "bulk", &payload);
        assert_eq!(delivered, Some(1));
    }
    // The client reads nothing for a while: whatever the proxy would buffer, it has by now.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stalled = proxy.peak_rss();
    assert!(
        stalled < MEMORY_CEILING,
        "proxy RSS {} MiB with a stalled client",
        stalled >> 20
    );

    let header = 5 + "realtime:flood".len() + "bulk".len();
    for i in 0..MESSAGES {
        let bytes = loop {
            match socket.next(WAIT).await {
                Some(Message::Binary(bytes)) => break bytes,
                Some(Message::Text(_)) => continue,
                other => panic!("message {i}: expected a binary frame, got {other:?}"),
            }
        };
        assert_eq!(bytes.len(), header + MESSAGE);
        assert_eq!(
            bytes[header..header + 8],
            (i as u64).to_be_bytes(),
            "in order"
        );
    }
    let peak = proxy.peak_rss();
    assert!(peak < MEMORY_CEILING, "proxy peak RSS {} MiB", peak >> 20);
}
