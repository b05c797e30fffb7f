//! Graceful stops and restarts of the real binary: on SIGTERM it stops
//! accepting, answers every request it had accepted (in flight, waiting
//! for a connection slot, or queued on the listener), closes Realtime
//! sockets with 1001 and exits once they are done, the file store closed
//! with everything committed; a restart under load fails no request the old
//! process had accepted.

use crate::support;

use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use support::{Browser, ProxyProcess};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// A stand-in, and settings for a proxy in front of it on a file store in `dir`.
async fn stub_and_settings(
    dir: &tempfile::TempDir,
    extra: Vec<(&str, String)>,
) -> (sbp_stub::Stub, HashMap<String, String>) {
    let stub = sbp_stub::Stub::start(sbp_stub::StubConfig::default())
        .await
        .unwrap();
    let store = format!("file:{}", dir.path().join("sessions.redb").display());
    let mut settings = vec![
        ("PROXY_AUTH_RATE_LIMIT", "off".to_string()),
        ("PROXY_SESSION_STORE", store),
    ];
    settings.extend(extra);
    let settings = support::settings_for(&stub, settings);
    (stub, settings)
}

/// Signs `email` in through the proxy at `base`; returns the cookie value and user id.
async fn sign_in(stub: &sbp_stub::Stub, base: &str, email: &str) -> (String, String) {
    let user_id = stub.create_user(email, "pw123456");
    let mut browser = Browser::new(base, &stub.anon_key(), "sb-session");
    let reply = browser.sign_in(email, "pw123456").await;
    assert_eq!(reply.status, 200, "sign-in: {}", reply.text());
    (browser.cookie.expect("a session cookie"), user_id)
}

/// Waits (off the runtime, at most `within`) for the process to exit; its exit code.
async fn exit_code(proxy: ProxyProcess, within: Duration) -> Option<i32> {
    tokio::task::spawn_blocking(move || proxy.exit_code_within(within))
        .await
        .unwrap()
}

/// How one request on a connection of its own went.
#[derive(Debug)]
enum Outcome {
    /// The proxy answered: status and the `sub` the stand-in saw.
    Answered { status: u16, sub: Option<String> },
    /// The connection was made, then the request failed.
    Failed(String),
}

/// Opens a connection to `addr` (`None` when it is refused: nothing was
/// accepted) and sends `GET /rest/v1/echo` with the session cookie on it,
/// alone; returns when the connection was made and how the request went.
async fn echo_on_new_connection(
    addr: SocketAddr,
    anon_key: &str,
    cookie: &str,
) -> Option<(Instant, Outcome)> {
    let stream = TcpStream::connect(addr).await.ok()?;
    let connected = Instant::now();
    let outcome = async {
        let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(connection);
        let request = http::Request::get("/rest/v1/echo")
            .header("host", addr.to_string())
            .header("apikey", anon_key)
            .header("cookie", format!("sb-session={cookie}"))
            .header("connection", "close")
            .body(Empty::<bytes::Bytes>::new())
            .unwrap();
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        let sub = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|json| json["sub"].as_str().map(str::to_string));
        Ok::<_, String>(Outcome::Answered { status, sub })
    }
    .await;
    Some((connected, outcome.unwrap_or_else(Outcome::Failed)))
}

#[tokio::test]
async fn sigterm_answers_every_accepted_request_closes_sockets_with_1001_and_keeps_the_store() {
    let dir = tempfile::tempdir().unwrap();
    // One listener and ten connection slots: the requests past the tenth
    // wait for a slot, one accepted and the others queued on the listener.
    let (stub, settings) = stub_and_settings(
        &dir,
        vec![
            ("PROXY_WORKERS", "1".into()),
            ("PROXY_MAX_CONNECTIONS", "10".into()),
        ],
    )
    .await;
    let proxy = ProxyProcess::start(&settings);
    let (cookie, user_id) = sign_in(&stub, &proxy.base(), "drain@example.com").await;
    let mut socket =
        support::websocket::session_socket(proxy.addr, &cookie, "realtime:drain").await;
    stub.faults().rest_delay_ms.store(1_500, Ordering::SeqCst);

    let anon = stub.anon_key();
    let requests: Vec<_> = (0..14)
        .map(|_| {
            let (anon, cookie) = (anon.clone(), cookie.clone());
            let addr = proxy.addr;
            tokio::spawn(async move { echo_on_new_connection(addr, &anon, &cookie).await })
        })
        .collect();
    // An upgraded socket holds no connection slot: ten requests are in flight.
    support::eventually("the slots are taken by requests in flight", || {
        stub.count("GET", "/rest/v1/echo") >= 10
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let in_flight = stub.count("GET", "/rest/v1/echo");
    assert!(
        in_flight < 14,
        "some requests still wait: {in_flight} reached Supabase"
    );

    let stopping = Instant::now();
    proxy.terminate();
    let close = socket
        .closed(Duration::from_secs(2))
        .await
        .expect("a close frame");
    assert_eq!(close.code, CloseCode::Away, "{close:?}");
    assert!(
        stopping.elapsed() < Duration::from_secs(1),
        "the socket closed {:?} after SIGTERM, not at once",
        stopping.elapsed()
    );
    let addr = proxy.addr;
    support::eventually("the listener is closed", || {
        std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err()
    })
    .await;

    for request in requests {
        let (_, outcome) = request.await.unwrap().expect("connected before SIGTERM");
        match outcome {
            Outcome::Answered { status: 200, sub } => {
                assert_eq!(sub.as_deref(), Some(user_id.as_str()))
            }
            other => panic!("a request accepted before SIGTERM failed: {other:?}"),
        }
    }
    assert_eq!(
        stub.count("GET", "/rest/v1/echo"),
        14,
        "every request reached Supabase"
    );
    assert_eq!(exit_code(proxy, Duration::from_secs(10)).await, Some(0));
    assert!(
        stopping.elapsed() >= Duration::from_millis(1_500),
        "it exited before the requests in flight were answered"
    );

    // The file store was closed with the session in it.
    stub.faults().rest_delay_ms.store(0, Ordering::SeqCst);
    let proxy = ProxyProcess::start(&settings);
    let mut browser = Browser::new(&proxy.base(), &anon, "sb-session").with_cookie(Some(cookie));
    let me = browser.get("/edge/v1/session").await;
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json()["user"]["id"], user_id.as_str());
    proxy.terminate();
    assert_eq!(exit_code(proxy, Duration::from_secs(10)).await, Some(0));
}

#[tokio::test]
async fn a_restart_under_load_fails_no_request_accepted_before_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (stub, mut settings) = stub_and_settings(&dir, vec![("PROXY_WORKERS", "2".into())]).await;
    stub.faults().rest_delay_ms.store(30, Ordering::SeqCst);
    let old = ProxyProcess::start(&settings);
    let addr = old.addr;
    let mut users = Vec::new();
    for n in 0..4 {
        users.push(sign_in(&stub, &old.base(), &format!("load-{n}@example.com")).await);
    }

    let running = Arc::new(AtomicBool::new(true));
    let anon = stub.anon_key();
    let load: Vec<_> = (0..16)
        .map(|n| {
            let (cookie, user_id) = users[n % users.len()].clone();
            let (running, anon) = (running.clone(), anon.clone());
            tokio::spawn(async move {
                let mut done = Vec::new();
                while running.load(Ordering::SeqCst) {
                    match echo_on_new_connection(addr, &anon, &cookie).await {
                        Some((connected, outcome)) => done.push((connected, outcome, n)),
                        // Refused: between the two processes; try again.
                        None => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
                (user_id, done)
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let sigterm = Instant::now();
    old.terminate();
    assert_eq!(exit_code(old, Duration::from_secs(30)).await, Some(0));
    settings.insert("PROXY_LISTEN".into(), addr.to_string());
    let new = ProxyProcess::start(&settings);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    running.store(false, Ordering::SeqCst);

    let (mut before, mut after, mut cut_after_sigterm) = (0, 0, Vec::new());
    for task in load {
        let (user_id, done) = task.await.unwrap();
        for (connected, outcome, n) in done {
            let accepted_before = connected < sigterm;
            match outcome {
                Outcome::Answered { status, sub } => {
                    assert_eq!(status, 200, "loop {n}: a request was answered {status}");
                    assert_eq!(sub.as_deref(), Some(user_id.as_str()), "loop {n}");
                    if accepted_before {
                        before += 1;
                    } else {
                        after += 1;
                    }
                }
                Outcome::Failed(error) if accepted_before => {
                    panic!("loop {n}: a request accepted before SIGTERM failed: {error}")
                }
                Outcome::Failed(error) => cut_after_sigterm.push(error),
            }
        }
    }
    eprintln!(
        "restart under load: {before} answered before SIGTERM, {after} after, \
         {} connections made after SIGTERM cut before their answer",
        cut_after_sigterm.len()
    );
    assert!(before > 50, "load before SIGTERM: {before} requests");
    assert!(after > 50, "load on the new process: {after} requests");
    // Only the moment the old listener closes can cut a connection made
    // after SIGTERM (the system queued it after the proxy took the queue).
    assert!(
        cut_after_sigterm.len() <= 16,
        "{} connections cut: {cut_after_sigterm:?}",
        cut_after_sigterm.len()
    );
    new.terminate();
    assert_eq!(exit_code(new, Duration::from_secs(30)).await, Some(0));
}

#[tokio::test]
async fn a_request_longer_than_the_drain_timeout_is_cut_at_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let (stub, settings) =
        stub_and_settings(&dir, vec![("PROXY_DRAIN_TIMEOUT", "1s".into())]).await;
    let proxy = ProxyProcess::start(&settings);
    let (cookie, _) = sign_in(&stub, &proxy.base(), "slow@example.com").await;
    stub.faults().rest_delay_ms.store(20_000, Ordering::SeqCst);
    let (addr, anon) = (proxy.addr, stub.anon_key());
    let slow = tokio::spawn(async move { echo_on_new_connection(addr, &anon, &cookie).await });
    support::eventually("the request reached Supabase", || {
        stub.count("GET", "/rest/v1/echo") == 1
    })
    .await;
    let stopping = Instant::now();
    proxy.terminate();
    assert_eq!(exit_code(proxy, Duration::from_secs(10)).await, Some(0));
    let stopped_after = stopping.elapsed();
    assert!(
        stopped_after >= Duration::from_secs(1) && stopped_after < Duration::from_secs(5),
        "stopped {stopped_after:?} after SIGTERM, with a 1s drain timeout"
    );
    // Cut at the deadline: the browser's connection closes, or (when the
    // upstream connection's runtime ended first) the proxy answers 502.
    let (_, outcome) = slow.await.unwrap().expect("connected");
    assert!(
        matches!(
            outcome,
            Outcome::Failed(_) | Outcome::Answered { status: 502, .. }
        ),
        "the request was cut: {outcome:?}"
    );
}
