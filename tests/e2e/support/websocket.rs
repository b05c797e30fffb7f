//! A raw WebSocket client for the Realtime tests: it speaks to the proxy as
//! a browser would (cookie and `Origin` on the upgrade) and reads frames
//! with a deadline, so that a missing frame fails the test instead of hanging.

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error, Message};

/// How long a test waits for an expected frame.
pub const WAIT: Duration = Duration::from_secs(5);

pub struct Socket {
    ws: WebSocketStream<TcpStream>,
}

/// What the proxy answered instead of `101`.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub body: Value,
}

/// Opens `ws://{addr}{path}` with `headers` on the upgrade.
pub async fn open(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Socket, Refused> {
    let tcp = TcpStream::connect(addr).await.expect("proxy accepts");
    open_on(tcp, path, headers).await
}

/// Like [`open`], over a connection the test made itself.
pub async fn open_on(
    tcp: TcpStream,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Socket, Refused> {
    let addr = tcp.peer_addr().expect("connected");
    let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    match tokio_tungstenite::client_async(request, tcp).await {
        Ok((ws, _)) => Ok(Socket { ws }),
        Err(Error::Http(response)) => Err(Refused {
            status: response.status().as_u16(),
            body: response
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null),
        }),
        Err(e) => panic!("upgrade failed: {e}"),
    }
}

impl Socket {
    pub async fn send(&mut self, message: Message) {
        self.ws.send(message).await.expect("frame sent");
    }

    pub async fn send_text(&mut self, text: &str) {
        self.send(Message::text(text)).await;
    }

    /// The next frame other than ping/pong; `None` when the socket ended.
    pub async fn next(&mut self, within: Duration) -> Option<Message> {
        loop {
            let next = tokio::time::timeout(within, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no frame within {within:?}"));
            match next {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(message)) => return Some(message),
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// The next text frame, as JSON.
    pub async fn next_json(&mut self) -> Value {
        match self.next(WAIT).await {
            Some(Message::Text(text)) => serde_json::from_str(&text).expect("JSON from Realtime"),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// Reads until a message with `event` on `topic` arrives (vsn 2.0.0).
    pub async fn wait_for(&mut self, topic: &str, event: &str) -> Value {
        loop {
            let message = self.next_json().await;
            if message[2] == topic && message[3] == event {
                return message;
            }
        }
    }

    /// Joins `topic` (vsn 2.0.0) with `payload` and waits for the `ok` reply.
    pub async fn join(&mut self, join_ref: &str, topic: &str, payload: Value) -> Value {
        let join = serde_json::json!([join_ref, join_ref, topic, "phx_join", payload]);
        self.send_text(&join.to_string()).await;
        let reply = self.wait_for(topic, "phx_reply").await;
        assert_eq!(reply[4]["status"], "ok", "join refused: {reply}");
        reply
    }

    /// Waits for the socket to be closed; returns the close frame.
    pub async fn closed(&mut self, within: Duration) -> Option<CloseFrame> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some(Message::Close(frame)) => return frame,
                Some(_) => continue,
                None => panic!("the socket ended without a close frame"),
            }
        }
    }
}

/// A Realtime socket of the session whose cookie value is `cookie`
/// (`sb-session`), opened on the proxy at `addr` from its allowed origin,
/// with the channel `topic` joined.
pub async fn session_socket(addr: std::net::SocketAddr, cookie: &str, topic: &str) -> Socket {
    let cookie = format!("sb-session={cookie}");
    let mut socket = open(
        addr,
        "/realtime/v1/websocket?apikey=browser-key&vsn=2.0.0",
        &[
            ("cookie", cookie.as_str()),
            ("origin", "http://127.0.0.1:8787"),
        ],
    )
    .await
    .expect("upgrade accepted");
    socket
        .join("1", topic, serde_json::json!({"config": {}}))
        .await;
    socket
}

/// Waits for `socket` to be closed as its session ended (4001), at most
/// `within` after `since`.
pub async fn closed_as_ended(socket: &mut Socket, since: std::time::Instant, within: Duration) {
    let frame = socket
        .closed(Duration::from_secs(5))
        .await
        .expect("a close frame");
    assert!(
        since.elapsed() < within,
        "closed only after {:?}",
        since.elapsed()
    );
    assert_eq!(
        (u16::from(frame.code), frame.reason.as_str()),
        (4001, "session ended")
    );
}
