//! Relaying one socket: frames both ways, token injection on the way up,
//! the keeper's pushes, and the close handshake.
//!
//! Each direction reads one message and writes it before reading the next,
//! so a slow reader on either side stops the proxy from reading the other:
//! nothing is buffered beyond one message and the sockets' small buffers.
//! When one side closes, the close frame (code and reason) goes on to the
//! other side, which gets [`CLOSE_GRACE`] to answer. The proxy closes both
//! sides itself when the session ends (the browser gets
//! [`SESSION_ENDED_CLOSE_CODE`], Supabase a normal close), when a message
//! is over `PROXY_MAX_SOCKET_MESSAGE` (1009 to both), when no frame
//! went either way for `PROXY_SOCKET_IDLE_TIMEOUT` (1001 to both), and when
//! the proxy stops (1001 to both: clients reconnect to another instance).

use crate::realtime::state::SocketState;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use sbp_core::realtime::{SESSION_ENDED_CLOSE_CODE, ServerFrame, SessionEnd};
use std::pin::pin;
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

/// How one direction of the relay ended.
enum Direction {
    /// A side closed or went away; the other side was told.
    Closed,
    /// A side sent a message over the size limit.
    TooBig,
}

/// Why the proxy closes both sides itself.
enum Closing {
    Session(SessionEnd),
    TooBig,
    Idle,
    Stopping,
}

impl Closing {
    /// The close frames for the browser and for Supabase.
    fn frames(&self) -> (Message, Message) {
        match self {
            Closing::Session(end) => (
                close(CloseCode::from(SESSION_ENDED_CLOSE_CODE), end.reason()),
                close(CloseCode::Normal, end.reason()),
            ),
            Closing::TooBig => (
                close(CloseCode::Size, "message too big"),
                close(CloseCode::Size, "message too big"),
            ),
            Closing::Idle => (
                close(CloseCode::Away, "idle timeout"),
                close(CloseCode::Away, "idle timeout"),
            ),
            Closing::Stopping => (
                close(CloseCode::Away, "server shutting down"),
                close(CloseCode::Away, "server shutting down"),
            ),
        }
    }
}

/// What ends a relay besides its sockets.
pub struct Ends<K, S> {
    /// Resolves when the session ends (the session keeper).
    pub session_end: K,
    /// Resolves when the proxy stops.
    pub stopping: S,
    /// No frame either way this long closes the socket.
    pub idle_timeout: Duration,
}

/// Relays until either side closes, the session ends, the proxy stops, a
/// message is too big or no frame went either way for the idle timeout
/// (`ends`). `state` is shared with the keeper.
pub async fn run<B, U, K, S>(browser: B, upstream: U, state: &SocketState, ends: Ends<K, S>)
where
    K: Future<Output = SessionEnd>,
    S: Future<Output = ()>,
    B: Stream<Item = Result<Message, WsError>> + Sink<Message, Error = WsError>,
    U: Stream<Item = Result<Message, WsError>> + Sink<Message, Error = WsError>,
{
    let (mut to_browser, mut from_browser) = browser.split();
    let (mut to_upstream, mut from_upstream) = upstream.split();
    let closing = {
        let mut up = pin!(browser_to_upstream(
            &mut from_browser,
            &mut to_upstream,
            state
        ));
        let mut down = pin!(upstream_to_browser(
            &mut from_upstream,
            &mut to_browser,
            state
        ));
        let mut keeper = pin!(ends.session_end);
        tokio::select! {
            ended = &mut up => match ended {
                Direction::Closed => {
                    let _ = timeout(CLOSE_GRACE, down).await;
                    None
                }
                Direction::TooBig => Some(Closing::TooBig),
            },
            ended = &mut down => match ended {
                Direction::Closed => {
                    let _ = timeout(CLOSE_GRACE, up).await;
                    None
                }
                Direction::TooBig => Some(Closing::TooBig),
            },
            end = &mut keeper => Some(Closing::Session(end)),
            () = ends.stopping => Some(Closing::Stopping),
            () = state.idle(ends.idle_timeout) => Some(Closing::Idle),
        }
    };
    let Some(closing) = closing else {
        return;
    };
    if let Closing::Session(end) = &closing {
        tracing::info!(
            reason = end.reason(),
            "realtime: closing a socket whose session ended"
        );
    }
    let (to_browser_close, to_upstream_close) = closing.frames();
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

async fn drain<S: Stream<Item = Result<Message, WsError>> + Unpin>(stream: &mut S) {
    while let Some(Ok(_)) = stream.next().await {}
}

/// Browser to Supabase, with the session's token injected and the keeper's
/// pushes in between.
async fn browser_to_upstream<U>(
    from_browser: &mut (impl Stream<Item = Result<Message, WsError>> + Unpin),
    to_upstream: &mut U,
    state: &SocketState,
) -> Direction
where
    U: Sink<Message, Error = WsError> + Unpin,
{
    loop {
        let message = tokio::select! {
            message = from_browser.next() => message,
            () = state.pushes_due() => {
                for push in state.take_pushes() {
                    if to_upstream.send(Message::text(push)).await.is_err() {
                        return Direction::Closed;
                    }
                }
                continue;
            }
        };
        state.record_frame();
        let message = match message {
            Some(Ok(Message::Text(text))) => state.client_text(text),
            Some(Ok(Message::Close(frame))) => {
                let _ = to_upstream.send(Message::Close(frame)).await;
                return Direction::Closed;
            }
            Some(Ok(message)) => message,
            Some(Err(WsError::Capacity(_))) => return Direction::TooBig,
            Some(Err(_)) | None => {
                let _ = to_upstream
                    .send(close(CloseCode::Away, "client went away"))
                    .await;
                return Direction::Closed;
            }
        };
        if to_upstream.send(message).await.is_err() {
            return Direction::Closed;
        }
    }
}

/// Supabase to the browser, minus the answers to the proxy's own pushes.
async fn upstream_to_browser<B>(
    from_upstream: &mut (impl Stream<Item = Result<Message, WsError>> + Unpin),
    to_browser: &mut B,
    state: &SocketState,
) -> Direction
where
    B: Sink<Message, Error = WsError> + Unpin,
{
    loop {
        let message = from_upstream.next().await;
        state.record_frame();
        let message = match message {
            Some(Ok(Message::Text(text))) => match state.server_text(&text) {
                ServerFrame::Relay => Message::Text(text),
                ServerFrame::Drop => continue,
            },
            Some(Ok(Message::Close(frame))) => {
                let _ = to_browser.send(Message::Close(frame)).await;
                return Direction::Closed;
            }
            Some(Ok(message)) => message,
            Some(Err(WsError::Capacity(_))) => return Direction::TooBig,
            Some(Err(_)) | None => {
                let _ = to_browser
                    .send(close(CloseCode::Error, "Supabase connection lost"))
                    .await;
                return Direction::Closed;
            }
        };
        if to_browser.send(message).await.is_err() {
            return Direction::Closed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::DuplexStream;
    use tokio::time::sleep;
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::protocol::Role;

    type Socket = WebSocketStream<DuplexStream>;

    /// Two ends of an in-memory WebSocket: a client's and a server's.
    async fn socket_pair() -> (Socket, Socket) {
        let (client, server) = tokio::io::duplex(64 << 10);
        (
            WebSocketStream::from_raw_socket(client, Role::Client, None).await,
            WebSocketStream::from_raw_socket(server, Role::Server, None).await,
        )
    }

    /// The next text frame, skipping nothing.
    async fn text(socket: &mut Socket) -> String {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => text.to_string(),
            other => panic!("not a text frame: {other:?}"),
        }
    }

    /// Reads until the close frame, answers it, and returns its code.
    async fn close_code(socket: &mut Socket) -> CloseCode {
        let code = match socket.next().await {
            Some(Ok(Message::Close(Some(frame)))) => frame.code,
            other => panic!("not a close frame: {other:?}"),
        };
        while let Some(Ok(_)) = socket.next().await {}
        code
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_go_into_joins_and_an_ended_session_closes_both_sides() {
        let (mut browser, from_browser) = socket_pair().await;
        let (to_supabase, mut supabase) = socket_pair().await;
        let state = SocketState::new(Some("session-token".into()));
        let session_end = async {
            sleep(Duration::from_secs(5)).await;
            SessionEnd::Deleted
        };
        let ends = Ends {
            session_end,
            stopping: std::future::pending(),
            idle_timeout: Duration::from_secs(600),
        };
        let relay = run(from_browser, to_supabase, &state, ends);
        let sides = async {
            let join = r#"["1","1","realtime:room","phx_join",{"access_token":"browser's"}]"#;
            browser.send(Message::text(join)).await.unwrap();
            let joined = text(&mut supabase).await;
            assert!(
                joined.contains(r#""access_token":"session-token""#),
                "{joined}"
            );
            let reply = r#"["1","1","realtime:room","phx_reply",{"status":"ok"}]"#;
            supabase.send(Message::text(reply)).await.unwrap();
            assert_eq!(text(&mut browser).await, reply);
            let (browser_close, supabase_close) =
                tokio::join!(close_code(&mut browser), close_code(&mut supabase));
            assert_eq!(browser_close, CloseCode::from(SESSION_ENDED_CLOSE_CODE));
            assert_eq!(supabase_close, CloseCode::Normal);
        };
        let started = tokio::time::Instant::now();
        tokio::join!(relay, sides);
        assert!(
            started.elapsed() >= Duration::from_secs(5),
            "closed at the session's end"
        );
    }

    /// Relays a socket on which nothing is sent until the relay closes it
    /// for one of `ends`; the close codes both sides got, and when.
    async fn quiet_socket_closed<K, S>(ends: Ends<K, S>) -> ((CloseCode, CloseCode), Duration)
    where
        K: Future<Output = SessionEnd>,
        S: Future<Output = ()>,
    {
        let (mut browser, from_browser) = socket_pair().await;
        let (to_supabase, mut supabase) = socket_pair().await;
        let state = SocketState::new(None);
        let relay = run(from_browser, to_supabase, &state, ends);
        let started = tokio::time::Instant::now();
        let sides = async { tokio::join!(close_code(&mut browser), close_code(&mut supabase)) };
        let ((), codes) = tokio::join!(relay, sides);
        (codes, started.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_socket_is_closed_as_idle() {
        let ends = Ends {
            session_end: std::future::pending(),
            stopping: std::future::pending(),
            idle_timeout: Duration::from_secs(30),
        };
        let (codes, closed_after) = quiet_socket_closed(ends).await;
        assert_eq!(codes, (CloseCode::Away, CloseCode::Away));
        assert!(closed_after >= Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_closes_both_sides_with_going_away() {
        let ends = Ends {
            session_end: std::future::pending(),
            stopping: sleep(Duration::from_secs(3)),
            idle_timeout: Duration::from_secs(600),
        };
        let (codes, closed_after) = quiet_socket_closed(ends).await;
        assert_eq!(codes, (CloseCode::Away, CloseCode::Away));
        assert!(
            closed_after >= Duration::from_secs(3) && closed_after < Duration::from_secs(10),
            "closed at the stop: {closed_after:?}"
        );
    }
}
