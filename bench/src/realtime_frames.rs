//! Realtime through the proxy: frames per second client → Supabase for
//! `access_token` frames (rewritten by the proxy), for frames the proxy
//! passes unchanged, and for the same frames with no proxy at all. (Memory
//! per idle WebSocket is measured by `idle-websockets`, in `bench/run.sh`.)
//!
//! Runs the stand-in Supabase in this process and the proxy binary as its
//! own process. Loopback only; bounded by the count given. Prints a
//! Markdown table.
//!
//! Usage: realtime-frames PROXY_BINARY [FRAMES]

use futures_util::SinkExt;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sbp_bench::{Socket, join, open_socket, status_kib};
use sbp_stub::{Stub, StubConfig};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const ORIGIN: &str = "http://bench.localhost";

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
        .expect("usage: realtime-frames PROXY_BINARY [FRAMES]");
    let frames: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(20_000);

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
    let anon = stub.anon_key();
    let cookie = sign_in(&proxy, &anon).await;
    let websocket =
        |host: &str| format!("ws://{host}/realtime/v1/websocket?apikey={anon}&vsn=2.0.0");
    let origin = ("origin".to_string(), ORIGIN.to_string());

    let token_frame =
        json!(["1", "2", "realtime:bench", "access_token", {"access_token": "x"}]).to_string();
    let plain_frame = json!(["1", "2", "realtime:bench", "broadcast", {"type": "broadcast", "event": "e", "payload": {"n": 1}}]).to_string();
    let mut through = open_socket(
        &websocket(&proxy),
        &[origin.clone(), ("cookie".to_string(), cookie)],
    )
    .await;
    join(&mut through, "realtime:bench").await;
    let rewritten = rate(&stub, &mut through, &token_frame, frames).await;
    let passed = rate(&stub, &mut through, &plain_frame, frames).await;
    let mut direct = open_socket(&websocket(&stub.addr().to_string()), &[origin]).await;
    join(&mut direct, "realtime:bench").await;
    let no_proxy = rate(&stub, &mut direct, &plain_frame, frames).await;

    println!("| figure | value |\n|---|---|");
    println!("| `access_token` frames rewritten by the proxy | {rewritten:.0} /s |");
    println!("| frames relayed unchanged by the proxy | {passed:.0} /s |");
    println!("| the same frames straight to the stand-in Realtime | {no_proxy:.0} /s |");
    println!(
        "| proxy peak RSS | {} KiB |",
        status_kib(&[child.id()], "VmHWM:")
    );
    let _ = child.kill();
    let _ = child.wait();
}
