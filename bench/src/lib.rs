//! Helpers shared by the benchmark programs: a process's memory read from
//! /proc, idle things opened in batches, and a Realtime client that opens a
//! WebSocket and joins a channel.

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{WebSocketStream, client_async};

/// A client's Realtime WebSocket.
pub type Socket = WebSocketStream<TcpStream>;

/// The sum of one `/proc/PID/status` field (`"VmRSS:"`, `"VmHWM:"`) over
/// `pids`, in KiB; a process that is gone counts 0.
pub fn status_kib(pids: &[u32], field: &str) -> u64 {
    pids.iter()
        .map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            status
                .lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum()
}

/// Opens `count` things with `open(i)`, [`BATCH`] at a time.
async fn open_in_batches<T, F: Future<Output = T>>(
    count: usize,
    open: impl Fn(usize) -> F,
) -> Vec<T> {
    let mut opened = Vec::with_capacity(count);
    while opened.len() < count {
        let first = opened.len();
        let batch = (first..count.min(first + BATCH)).map(&open);
        opened.extend(futures_util::future::join_all(batch).await);
    }
    opened
}

/// Connections or sockets opened at once.
const BATCH: usize = 50;

/// The JSON line the idle-memory programs print: how many were held open,
/// the RSS before and with them, and the difference per one.
fn memory_per_one(count: usize, before_kib: u64, after_kib: u64) -> String {
    format!(
        "{{\"count\": {count}, \"rss_before_kib\": {before_kib}, \"rss_after_kib\": {after_kib}, \
         \"per_one_kib\": {:.1}}}",
        after_kib.saturating_sub(before_kib) as f64 / count as f64
    )
}

/// The arguments of the idle-memory programs, `URL COUNT PID[,PID...]
/// ["Name: value" ...]`.
pub struct IdleArgs {
    pub url: String,
    pub count: usize,
    pub pids: Vec<u32>,
    pub headers: Vec<(String, String)>,
}

impl IdleArgs {
    /// Reads the command line; exits with `usage` on anything else.
    pub fn from_command_line(program: &str) -> IdleArgs {
        let args: Vec<String> = std::env::args().skip(1).collect();
        IdleArgs::parse(&args).unwrap_or_else(|| {
            eprintln!("usage: {program} URL COUNT PID[,PID...] [\"Name: value\" ...]");
            std::process::exit(2)
        })
    }

    /// Reads the RSS of the processes, opens `count` things with `open(i)`,
    /// waits `settle`, reads the RSS again and prints [`memory_per_one`];
    /// the things are returned, still open.
    pub async fn hold<T, F: Future<Output = T>>(
        &self,
        open: impl Fn(usize) -> F,
        settle: Duration,
    ) -> Vec<T> {
        let before = status_kib(&self.pids, "VmRSS:");
        let opened = open_in_batches(self.count, open).await;
        tokio::time::sleep(settle).await;
        let after = status_kib(&self.pids, "VmRSS:");
        println!("{}", memory_per_one(self.count, before, after));
        opened
    }

    fn parse(args: &[String]) -> Option<IdleArgs> {
        let [url, count, pids, headers @ ..] = args else {
            return None;
        };
        Some(IdleArgs {
            url: url.clone(),
            count: count.parse().ok()?,
            pids: pids
                .split(',')
                .map(|p| p.parse().ok())
                .collect::<Option<_>>()?,
            headers: headers
                .iter()
                .map(|h| {
                    let (name, value) = h.split_once(':')?;
                    Some((name.trim().to_string(), value.trim().to_string()))
                })
                .collect::<Option<_>>()?,
        })
    }
}

/// Opens a WebSocket to `url` (`ws://host:port/...`) with extra request headers.
pub async fn open_socket(url: &str, headers: &[(String, String)]) -> Socket {
    let mut request = url.into_client_request().expect("a ws:// URL");
    let authority = request
        .uri()
        .authority()
        .expect("URL has a host and port")
        .to_string();
    for (name, value) in headers {
        request.headers_mut().insert(
            http::HeaderName::try_from(name.as_str()).expect("header name"),
            value.parse().expect("header value"),
        );
    }
    let tcp = TcpStream::connect(authority).await.expect("connect");
    client_async(request, tcp).await.expect("upgrade").0
}

/// Joins `topic` (Phoenix protocol 2.0.0) and waits for the reply.
pub async fn join(socket: &mut Socket, topic: &str) {
    let frame = json!(["1", "1", topic, "phx_join", {"config": {}}]).to_string();
    socket.send(Message::text(frame)).await.expect("join");
    while let Some(Ok(message)) = socket.next().await {
        if message.to_text().is_ok_and(|t| t.contains("phx_reply")) {
            return;
        }
    }
    panic!("no join reply on {topic}");
}
