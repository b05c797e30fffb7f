//! Memory per idle Realtime WebSocket of a running hop (the proxy or nginx):
//! opens COUNT WebSockets to URL, each joins its own channel and waits for
//! the reply, and all stay open while the RSS of the given processes is read
//! again (VmRSS from /proc, before and two seconds after, so the proxy's
//! first token check and any lane parking are done). Loopback only; every
//! socket is closed before it exits. Prints one JSON object.
//!
//! Usage: idle-websockets URL COUNT PID[,PID...] ["Name: value" ...]

use sbp_bench::{IdleArgs, Socket, join, memory_per_one, open_in_batches, open_socket, status_kib};
use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let IdleArgs {
        url,
        count,
        pids,
        headers,
    } = IdleArgs::from_command_line("idle-websockets");

    let before = status_kib(&pids, "VmRSS:");
    let sockets: Vec<Socket> = open_in_batches(count, |i| {
        let (url, headers) = (&url, &headers);
        async move {
            let mut socket = open_socket(url, headers).await;
            join(&mut socket, &format!("realtime:idle-{i}")).await;
            socket
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = status_kib(&pids, "VmRSS:");
    println!("{}", memory_per_one(count, before, after));
    for mut socket in sockets {
        let _ = socket.close(None).await;
    }
}
