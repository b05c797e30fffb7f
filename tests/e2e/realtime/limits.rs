//! Socket limits: a count of their own (`PROXY_MAX_SOCKETS`, refused with
//! 503 before Supabase), a largest message (`PROXY_MAX_SOCKET_MESSAGE`,
//! closed with 1009), an idle timeout (`PROXY_SOCKET_IDLE_TIMEOUT`, closed
//! with 1001 on both sides), and a busy socket counting as use of its
//! session against `PROXY_SESSION_IDLE_TTL`.

use super::support::{Env, Setup, eventually};
use super::{ORIGIN, SOCKET, open_as};
use crate::support::websocket::{Socket, WAIT, open};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

async fn env_with(settings: &[(&'static str, &str)]) -> Env {
    Env::with(Setup {
        settings: settings.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        ..Setup::default()
    })
    .await
}

async fn anonymous(env: &Env) -> Socket {
    open(env.proxy.addr, SOCKET, &[("origin", ORIGIN)])
        .await
        .expect("upgrade accepted")
}

/// A heartbeat and its reply: a frame each way.
async fn heartbeat(socket: &mut Socket, msg_ref: &str) {
    socket
        .send_text(&json!([null, msg_ref, "phoenix", "heartbeat", {}]).to_string())
        .await;
    socket.wait_for("phoenix", "phx_reply").await;
}

#[tokio::test]
async fn sockets_beyond_the_limit_are_refused_before_supabase() {
    let env = env_with(&[("PROXY_MAX_SOCKETS", "2")]).await;
    let mut first = anonymous(&env).await;
    let _second = anonymous(&env).await;
    let refused = open(env.proxy.addr, SOCKET, &[("origin", ORIGIN)])
        .await
        .err()
        .expect("a third socket is refused");
    assert_eq!(
        (refused.status, &refused.body["error"]),
        (503, &json!("too_many_sockets"))
    );
    assert_eq!(env.stub.count("GET", "/realtime/v1/websocket"), 2);
    // Requests are not sockets: they go on.
    assert_eq!(env.browser().get("/rest/v1/todos").await.status, 200);

    first.send(Message::Close(None)).await;
    // The close is answered (a close frame, or the end of the stream).
    while let Some(message) = first.next(WAIT).await {
        if let Message::Close(_) = message {
            break;
        }
    }
    let started = Instant::now();
    let third = loop {
        match open(env.proxy.addr, SOCKET, &[("origin", ORIGIN)]).await {
            Ok(socket) => break socket,
            Err(refused) if started.elapsed() < WAIT => assert_eq!(refused.status, 503),
            Err(refused) => panic!("the closed socket's place was not freed: {refused:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    drop(third);
}

#[tokio::test]
async fn a_message_over_the_limit_closes_the_socket_with_1009() {
    let env = env_with(&[("PROXY_MAX_SOCKET_MESSAGE", "64KiB")]).await;
    // From Supabase: what fits is relayed, what does not closes the socket.
    let mut socket = anonymous(&env).await;
    socket
        .join("1", "realtime:big", json!({"config": {}}))
        .await;
    let fits = vec![b'x'; 32 << 10];
    let too_big = vec![b'y'; 100 << 10];
    for payload in [&fits, &too_big] {
        let delivered = env
            .stub
            .realtime_binary_broadcast("realtime:big", "bulk", payload);
        assert_eq!(delivered, Some(1));
    }
    loop {
        match socket.next(WAIT).await {
            Some(Message::Binary(bytes)) => break assert!(bytes.ends_with(&fits)),
            Some(Message::Text(_)) => continue,
            other => panic!("expected the broadcast that fits, got {other:?}"),
        }
    }
    let frame = socket.closed(WAIT).await.expect("a close frame");
    assert_eq!(u16::from(frame.code), 1009, "{frame:?}");
    eventually("Supabase's socket is closed too", || {
        env.stub.realtime_broadcast("realtime:big", "e", &json!({})) == 0
    })
    .await;

    // From the browser: the message never reaches Supabase.
    let mut socket = anonymous(&env).await;
    socket.join("1", "realtime:up", json!({"config": {}})).await;
    let big = format!(
        r#"["1","2","realtime:up","broadcast",{{"x":"{}"}}]"#,
        "z".repeat(100 << 10)
    );
    socket.send_text(&big).await;
    let frame = socket.closed(WAIT).await.expect("a close frame");
    assert_eq!(u16::from(frame.code), 1009, "{frame:?}");
    eventually("Supabase's socket is closed too", || {
        env.stub.realtime_broadcast("realtime:up", "e", &json!({})) == 0
    })
    .await;
    let sizes: Vec<usize> = env
        .stub
        .realtime_frames()
        .iter()
        .map(|f| match &f.data {
            sbp_stub::FrameData::Text(text) => text.len(),
            sbp_stub::FrameData::Binary(bytes) => bytes.len(),
        })
        .collect();
    assert!(sizes.iter().all(|n| *n < 64 << 10), "{sizes:?}");
}

#[tokio::test]
async fn an_idle_socket_is_closed_on_both_sides() {
    let env = env_with(&[("PROXY_SOCKET_IDLE_TIMEOUT", "2s")]).await;
    let mut socket = anonymous(&env).await;
    socket
        .join("1", "realtime:idle", json!({"config": {}}))
        .await;
    // Frames every half second keep it open past the timeout.
    let busy = Instant::now();
    for n in 0..8 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        heartbeat(&mut socket, &format!("h{n}")).await;
    }
    assert!(busy.elapsed() > Duration::from_secs(4));
    // Then nothing either way.
    let quiet = Instant::now();
    let frame = socket.closed(WAIT).await.expect("a close frame");
    assert_eq!(
        (u16::from(frame.code), frame.reason.as_str()),
        (1001, "idle timeout")
    );
    let waited = quiet.elapsed();
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(4),
        "closed after {waited:?} of silence"
    );
    eventually("Supabase's socket is closed too", || {
        env.stub
            .realtime_broadcast("realtime:idle", "e", &json!({}))
            == 0
    })
    .await;
}

#[tokio::test]
async fn a_busy_socket_keeps_its_session_past_the_idle_ttl() {
    // 6 s, not less: the socket records use every 3 s (half the idle
    // time), which leaves 3 s for a look delayed by a loaded machine.
    let env = env_with(&[("PROXY_SESSION_IDLE_TTL", "6s")]).await;
    let (mut busy, _) = env.signed_in("rt-busy@example.com").await;
    let (mut quiet, _) = env.signed_in("rt-quiet@example.com").await;
    let mut socket = open_as(&env, &busy, SOCKET).await;
    socket
        .join("1", "realtime:busy", json!({"config": {}}))
        .await;
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_secs(14) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        n += 1;
        heartbeat(&mut socket, &format!("h{n}")).await;
    }
    assert_eq!(
        quiet.get("/edge/v1/session").await.status,
        401,
        "a session without use expires"
    );
    assert_eq!(
        busy.get("/edge/v1/session").await.status,
        200,
        "the socket's frames kept its session"
    );
    heartbeat(&mut socket, "last").await;
}
