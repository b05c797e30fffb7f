//! Realtime through the proxy: memory per idle WebSocket, and frames per
//! second relayed with token rewriting (`access_token` frames) against
//! frames the proxy passes unchanged, and against no proxy at all.
//!
//! Runs the stand-in Supabase in this process and the proxy binary as its
//! own process, so the proxy's memory is measured alone (VmRSS from /proc).
//! Loopback only; bounded by the counts given. Prints a Markdown table.
//!
//! Usage: realtime-sockets PROXY_BINARY [SOCKETS] [FRAMES]

use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sbp_stub::{Stub, StubConfig};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{WebSocketStream, client_async};

type Socket = WebSocketStream<TcpStream>;
const ORIGIN: &str = "http://bench.localhost";

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

async fn open(addr: &str, cookie: Option<&str>, apikey: &str) -> Socket {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let url = format!("ws://{addr}/realtime/v1/websocket?apikey={apikey}&vsn=2.0.0");
    let mut request = url.into_client_request().expect("request");
    request
        .headers_mut()
        .insert("origin", ORIGIN.parse().unwrap());
    if let Some(cookie) = cookie {
        request
            .headers_mut()
            .insert("cookie", cookie.parse().unwrap());
    }
    client_async(request, tcp).await.expect("upgrade").0
}

async fn join(socket: &mut Socket, topic: &str) {
    let frame = json!(["1", "1", topic, "phx_join", {"config": {}}]).to_string();
    socket.send(Message::text(frame)).await.expect("join");
    while let Some(Ok(message)) = socket.next().await {
        if message.to_text().is_ok_and(|t| t.contains("phx_reply")) {
            return;
        }
    }
    panic!("no join reply");
}

/// Sends `count` copies of `frame` and waits until the stub received them; frames per second.
async fn rate(stub: &Stub, socket: &mut Socket, frame: &str, count: usize) -> f64 {
    let before = stub.realtime_frames().len();
    let started = Instant::now();
    for _ in 0..count {
        socket
            .send(Message::text(frame.to_string()))
            .await
            .expect("send");
    }
    while stub.realtime_frames().len() < before + count {
        assert!(started.elapsed() < Duration::from_secs(120), "frames lost");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    count as f64 / started.elapsed().as_secs_f64()
}

async fn sign_in(proxy: &str, anon: &str) -> String {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
    let body = json!({"email": "bench@example.com", "password": "pw123456"}).to_string();
    let request = http::Request::post(format!("http://{proxy}/auth/v1/token?grant_type=password"))
        .header("apikey", anon)
        .header("origin", ORIGIN)
        .header("content-type", "application/json")
        .body(Full::new(body.into()))
        .expect("request");
    let response = client.request(request).await.expect("sign-in");
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    let _ = response.into_body().collect().await;
    cookie.split(';').next().unwrap().to_string()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let binary = args
        .get(1)
        .expect("usage: realtime-sockets PROXY_BINARY [SOCKETS] [FRAMES]");
    let sockets: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(5000);
    let frames: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(20_000);

    let stub = Stub::start(StubConfig::default()).await.expect("stub");
    stub.create_user("bench@example.com", "pw123456");
    let mut child = Command::new(binary)
        .env_clear()
        .envs([
            ("SUPABASE_URL", stub.url()),
            ("SUPABASE_ANON_KEY", stub.anon_key()),
            ("PROXY_LISTEN", "127.0.0.1:0".into()),
            ("PROXY_PUBLIC_URL", ORIGIN.into()),
            ("PROXY_SESSION_STORE", "memory:".into()),
            ("PROXY_AUTH_RATE_LIMIT", "off".into()),
            ("PROXY_MAX_CONNECTIONS", "20000".into()),
            ("RUST_LOG", "warn".into()),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("proxy starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let proxy = line.trim().rsplit("http://").next().unwrap().to_string();
    let pid = child.id();
    let anon = stub.anon_key();
    let cookie = sign_in(&proxy, &anon).await;

    // Memory per idle socket: joined channels, then nothing.
    let baseline = rss_kib(pid, "VmRSS:");
    let mut idle = Vec::with_capacity(sockets);
    for batch in (0..sockets).collect::<Vec<_>>().chunks(200) {
        let opened = futures_util::future::join_all(batch.iter().map(|i| {
            let (proxy, cookie, anon) = (proxy.clone(), cookie.clone(), anon.clone());
            async move {
                let mut socket = open(&proxy, Some(&cookie), &anon).await;
                join(&mut socket, &format!("realtime:idle-{i}")).await;
                socket
            }
        }))
        .await;
        idle.extend(opened);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let loaded = rss_kib(pid, "VmRSS:");
    let per_socket = (loaded.saturating_sub(baseline)) as f64 * 1024.0 / sockets as f64;

    // Frames per second, client to Supabase.
    let token_frame =
        json!(["1", "2", "realtime:bench", "access_token", {"access_token": "x"}]).to_string();
    let plain_frame = json!(["1", "2", "realtime:bench", "broadcast", {"type": "broadcast", "event": "e", "payload": {"n": 1}}]).to_string();
    let mut through = open(&proxy, Some(&cookie), &anon).await;
    join(&mut through, "realtime:bench").await;
    let rewritten = rate(&stub, &mut through, &token_frame, frames).await;
    let passed = rate(&stub, &mut through, &plain_frame, frames).await;
    let mut direct = open(&stub.addr().to_string(), None, &anon).await;
    join(&mut direct, "realtime:bench").await;
    let no_proxy = rate(&stub, &mut direct, &plain_frame, frames).await;

    println!("| figure | value |\n|---|---|");
    println!("| idle sockets through the proxy | {sockets} |");
    println!(
        "| proxy RSS before / with them | {} / {} KiB |",
        baseline, loaded
    );
    println!(
        "| proxy memory per idle socket | {:.1} KiB |",
        per_socket / 1024.0
    );
    println!("| proxy peak RSS | {} KiB |", rss_kib(pid, "VmHWM:"));
    println!("| `access_token` frames rewritten by the proxy | {rewritten:.0} /s |");
    println!("| frames relayed unchanged by the proxy | {passed:.0} /s |");
    println!("| the same frames straight to the stand-in Realtime | {no_proxy:.0} /s |");
    drop(idle);
    let _ = child.kill();
    let _ = child.wait();
}
