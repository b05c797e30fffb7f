//! Memory per idle Realtime WebSocket of a running hop (the proxy or nginx):
//! opens COUNT WebSockets to URL, each joins its own channel and waits for
//! the reply, and all stay open while the RSS of the given processes is read
//! again (VmRSS from /proc, before and two seconds after, so the proxy's
//! first token check and any lane parking are done). Loopback only; every
//! socket is closed before it exits. Prints one JSON object.
//!
//! Usage: idle-websockets URL COUNT PID[,PID...] ["Name: value" ...]

use sbp_bench::{IdleArgs, join, open_socket};
use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = IdleArgs::from_command_line("idle-websockets");
    let open = |i| {
        let args = &args;
        async move {
            let mut socket = open_socket(&args.url, &args.headers).await;
            join(&mut socket, &format!("realtime:idle-{i}")).await;
            socket
        }
    };
    for mut socket in args.hold(open, Duration::from_secs(2)).await {
        let _ = socket.close(None).await;
    }
}
