//! What the two directions of a relayed socket and its session keeper
//! share: the channels joined on it, the token to inject, whether the
//! proxy owes Supabase a round of `access_token` pushes, and when a frame
//! last went either way.

use crate::metrics::FrameMetrics;
use sbp_core::realtime::{Channels, ClientFrame, ServerFrame};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

struct Inner {
    channels: Channels,
    /// The token to inject; `None` for an anonymous socket whose anon key
    /// is not a JWT (the client's tokens are removed instead).
    token: Option<String>,
    pushes_due: bool,
}

pub struct SocketState {
    inner: Mutex<Inner>,
    pushes_due: Notify,
    opened: Instant,
    /// When the last frame went either way, in milliseconds since `opened`.
    last_frame: AtomicU64,
    frames: FrameMetrics,
}

impl SocketState {
    pub fn new(token: Option<String>) -> Self {
        SocketState {
            inner: Mutex::new(Inner {
                channels: Channels::default(),
                token,
                pushes_due: false,
            }),
            pushes_due: Notify::new(),
            opened: Instant::now(),
            last_frame: AtomicU64::new(0),
            frames: FrameMetrics::default(),
        }
    }

    /// Counts the frames it changes into `frames` (registered ones).
    pub fn counted(self, frames: FrameMetrics) -> Self {
        SocketState { frames, ..self }
    }

    /// Notes that a frame went one way or the other.
    pub fn record_frame(&self) {
        let since = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_frame.store(since, Ordering::Relaxed);
    }

    /// When the last frame went (the opening, before any).
    pub fn last_frame_at(&self) -> Instant {
        self.opened + Duration::from_millis(self.last_frame.load(Ordering::Relaxed))
    }

    /// Resolves once no frame went either way for `timeout`.
    pub async fn idle(&self, timeout: Duration) {
        loop {
            let idle_for = self.last_frame_at().elapsed();
            if idle_for >= timeout {
                return;
            }
            tokio::time::sleep(timeout - idle_for).await;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        crate::sync::lock(&self.inner)
    }

    /// The message to send upstream for a client text frame: the same text,
    /// or the text with the current token injected.
    pub fn client_text(&self, text: Utf8Bytes) -> Message {
        let mut inner = self.lock();
        let Inner {
            channels, token, ..
        } = &mut *inner;
        match channels.on_client_text(&text, token.as_deref()) {
            ClientFrame::Unchanged => Message::Text(text),
            ClientFrame::Rewritten(rewritten) => {
                self.frames.rewritten.inc();
                Message::text(rewritten)
            }
        }
    }

    /// Whether a server text frame goes on to the client.
    pub fn server_text(&self, text: &str) -> ServerFrame {
        let frame = self.lock().channels.on_server_text(text);
        if frame == ServerFrame::Drop {
            self.frames.dropped.inc();
        }
        frame
    }

    /// Makes `token` the one to inject; when it changed, the joined topics
    /// get it pushed (see [`SocketState::take_pushes`]).
    pub fn set_token(&self, token: &str) {
        let mut inner = self.lock();
        if inner.token.as_deref() != Some(token) {
            inner.token = Some(token.to_string());
            inner.pushes_due = true;
            self.pushes_due.notify_one();
        }
    }

    /// Resolves when pushes are due.
    pub async fn pushes_due(&self) {
        self.pushes_due.notified().await;
    }

    /// The `access_token` pushes owed to Supabase, once.
    pub fn take_pushes(&self) -> Vec<String> {
        let mut inner = self.lock();
        if !std::mem::take(&mut inner.pushes_due) {
            return Vec::new();
        }
        let Inner {
            channels, token, ..
        } = &mut *inner;
        let pushes = token
            .as_deref()
            .map_or_else(Vec::new, |token| channels.token_pushes(token));
        self.frames.pushed.inc_by(pushes.len() as u64);
        pushes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(message: Message) -> String {
        match message {
            Message::Text(text) => text.to_string(),
            other => panic!("not text: {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_token_is_injected_and_pushed_once() {
        let frames = FrameMetrics::default();
        let state = SocketState::new(Some("t1".into())).counted(frames.clone());
        let join = text(state.client_text(r#"["1","1","realtime:r","phx_join",{}]"#.into()));
        assert!(join.contains(r#""access_token":"t1""#), "{join}");
        assert!(state.take_pushes().is_empty(), "nothing due yet");

        state.set_token("t1");
        assert!(
            state.take_pushes().is_empty(),
            "the same token is not pushed"
        );

        state.set_token("t2");
        tokio::time::timeout(std::time::Duration::from_secs(1), state.pushes_due())
            .await
            .expect("pushes are announced");
        let pushes = state.take_pushes();
        assert_eq!(pushes.len(), 1);
        assert!(
            pushes[0].contains(r#""access_token":"t2""#),
            "{}",
            pushes[0]
        );
        assert!(state.take_pushes().is_empty(), "pushed once");
        let next = text(state.client_text(r#"["1","2","realtime:r","access_token",{}]"#.into()));
        assert!(next.contains(r#""access_token":"t2""#), "{next}");
        // The join and the client's push were rewritten; the proxy pushed once.
        assert_eq!((frames.rewritten.get(), frames.pushed.get()), (2, 1));
        let reply = r#"["1","sbp-1","realtime:r","phx_reply",{"status":"ok","response":{}}]"#;
        assert_eq!(state.server_text(reply), ServerFrame::Drop);
        assert_eq!(frames.dropped.get(), 1, "the reply to the proxy's push");
    }

    #[tokio::test(start_paused = true)]
    async fn idle_resolves_only_after_a_quiet_timeout() {
        let state = SocketState::new(None);
        let timeout = std::time::Duration::from_millis(300);
        let started = Instant::now();
        let mut idle = std::pin::pin!(state.idle(timeout));
        for _ in 0..4 {
            tokio::select! {
                () = &mut idle => panic!("idle while frames flow"),
                () = tokio::time::sleep(std::time::Duration::from_millis(150)) => state.record_frame(),
            }
        }
        assert!(state.last_frame_at() > started);
        idle.await;
        assert!(started.elapsed() >= std::time::Duration::from_millis(900));
        let anonymous = text(
            state.client_text(r#"["1","1","realtime:r","phx_join",{"access_token":"x"}]"#.into()),
        );
        assert_eq!(anonymous, r#"["1","1","realtime:r","phx_join",{}]"#);
        assert!(state.take_pushes().is_empty());
    }

    #[test]
    fn frames_it_does_not_rewrite_keep_their_bytes() {
        let state = SocketState::new(Some("t".into()));
        let original = Utf8Bytes::from(r#"[null,"3","phoenix","heartbeat",{}]"#);
        match state.client_text(original.clone()) {
            Message::Text(same) => assert_eq!(same.as_bytes(), original.as_bytes()),
            other => panic!("{other:?}"),
        }
    }
}
