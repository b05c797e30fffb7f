//! Relaying one socket: frames both ways, token injection on the way up,
//! the keeper's pushes, and the close handshake.
//!
//! Each direction reads one message and writes it before reading the next,
//! so a slow reader on either side stops the proxy from reading the other:
//! nothing is buffered beyond one message and the sockets' small buffers.
//! When one side closes, the close frame (code and reason) goes on to the
//! other side, which gets [`CLOSE_GRACE`] to answer. When the session ends,
//! the browser gets [`SESSION_ENDED_CLOSE_CODE`] and Supabase a normal close.

use crate::app::App;
use crate::realtime::keeper::keep;
use crate::realtime::state::SocketState;
use crate::realtime::upstream::UpstreamSocket;
use crate::realtime::{BrowserSocket, SessionLink};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use sbp_core::realtime::{SESSION_ENDED_CLOSE_CODE, ServerFrame};
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// How long the other side gets to finish a close.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);

fn close(code: CloseCode, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// Relays until either side closes or the session ends.
pub async fn run(
    app: Arc<App>,
    browser: BrowserSocket,
    upstream: UpstreamSocket,
    link: Option<SessionLink>,
    token: Option<String>,
) {
    let (mut to_browser, mut from_browser) = browser.split();
    let (mut to_upstream, mut from_upstream) = upstream.split();
    let state = SocketState::new(token);
    let ended = {
        let mut up = pin!(browser_to_upstream(
            &mut from_browser,
            &mut to_upstream,
            &state
        ));
        let mut down = pin!(upstream_to_browser(
            &mut from_upstream,
            &mut to_browser,
            &state
        ));
        let mut keeper = pin!(keep(&app, link, &state));
        tokio::select! {
            () = &mut up => {
                let _ = timeout(CLOSE_GRACE, down).await;
                None
            }
            () = &mut down => {
                let _ = timeout(CLOSE_GRACE, up).await;
                None
            }
            end = &mut keeper => Some(end),
        }
    };
    if let Some(end) = ended {
        tracing::info!(
            reason = end.reason(),
            "realtime: closing a socket whose session ended"
        );
        let to_browser_close = close(CloseCode::from(SESSION_ENDED_CLOSE_CODE), end.reason());
        let to_upstream_close = close(CloseCode::Normal, end.reason());
        let _ = timeout(CLOSE_GRACE, async {
            let _ = tokio::join!(
                to_browser.send(to_browser_close),
                to_upstream.send(to_upstream_close)
            );
            // Reading on completes each close handshake; what still arrives is dropped.
            tokio::join!(drain(&mut from_browser), drain(&mut from_upstream));
        })
        .await;
    }
}

async fn drain<S: Stream<Item = Result<Message, WsError>> + Unpin>(stream: &mut S) {
    while let Some(Ok(_)) = stream.next().await {}
}

/// Browser to Supabase, with the session's token injected and the keeper's
/// pushes in between.
async fn browser_to_upstream<U>(
    from_browser: &mut (impl Stream<Item = Result<Message, WsError>> + Unpin),
    to_upstream: &mut U,
    state: &SocketState,
) where
    U: Sink<Message, Error = WsError> + Unpin,
{
    loop {
        let message = tokio::select! {
            message = from_browser.next() => message,
            () = state.pushes_due() => {
                for push in state.take_pushes() {
                    if to_upstream.send(Message::text(push)).await.is_err() {
                        return;
                    }
                }
                continue;
            }
        };
        let message = match message {
            Some(Ok(Message::Text(text))) => state.client_text(text),
            Some(Ok(Message::Close(frame))) => {
                let _ = to_upstream.send(Message::Close(frame)).await;
                return;
            }
            Some(Ok(message)) => message,
            Some(Err(_)) | None => {
                let _ = to_upstream
                    .send(close(CloseCode::Away, "client went away"))
                    .await;
                return;
            }
        };
        if to_upstream.send(message).await.is_err() {
            return;
        }
    }
}

/// Supabase to the browser, minus the answers to the proxy's own pushes.
async fn upstream_to_browser<B>(
    from_upstream: &mut (impl Stream<Item = Result<Message, WsError>> + Unpin),
    to_browser: &mut B,
    state: &SocketState,
) where
    B: Sink<Message, Error = WsError> + Unpin,
{
    loop {
        let message = match from_upstream.next().await {
            Some(Ok(Message::Text(text))) => match state.server_text(&text) {
                ServerFrame::Relay => Message::Text(text),
                ServerFrame::Drop => continue,
            },
            Some(Ok(Message::Close(frame))) => {
                let _ = to_browser.send(Message::Close(frame)).await;
                return;
            }
            Some(Ok(message)) => message,
            Some(Err(_)) | None => {
                let _ = to_browser
                    .send(close(CloseCode::Error, "Supabase connection lost"))
                    .await;
                return;
            }
        };
        if to_browser.send(message).await.is_err() {
            return;
        }
    }
}
