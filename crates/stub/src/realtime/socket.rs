//! One socket's task: reads the client's frames into the hub, writes the
//! socket's outbox to the client, and ends channels when their token expires.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::wire::Vsn;
use crate::clock::unix_now;
use crate::state::Shared;

/// Serves one upgraded connection until the client closes it.
pub(super) async fn serve(
    shared: Arc<Shared>,
    socket: WebSocketStream<TokioIo<Upgraded>>,
    vsn: Vsn,
    tenant_token: String,
) {
    let hub = &shared.realtime;
    let (id, mut outbox) = hub.open(vsn, tenant_token);
    let (mut to_client, mut from_client) = socket.split();
    loop {
        let expiry = hub.next_expiry(id);
        let expired = async {
            match expiry {
                Some(exp) => tokio::time::sleep(until(exp)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            incoming = from_client.next() => match incoming {
                Some(Ok(Message::Text(text))) => hub.on_text(&shared.keys, id, &text),
                Some(Ok(Message::Binary(frame))) => hub.on_binary(id, &frame),
                // Pings are answered by the WebSocket layer; reading on after
                // a close sends the answer and then ends the stream.
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            Some(message) = outbox.recv() => {
                if to_client.send(message).await.is_err() {
                    break;
                }
            }
            () = expired => hub.expire(id, unix_now()),
        }
    }
    hub.close(id);
}

/// Time until the Unix second `at` begins.
fn until(at: u64) -> Duration {
    (UNIX_EPOCH + Duration::from_secs(at))
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
}
