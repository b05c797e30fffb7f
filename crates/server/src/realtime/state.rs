//! What the two directions of a relayed socket and its session keeper
//! share: the channels joined on it, the token to inject, and whether the
//! proxy owes Supabase a round of `access_token` pushes.

use sbp_core::realtime::{Channels, ClientFrame, ServerFrame};
use std::sync::{Mutex, MutexGuard};
use tokio::sync::Notify;
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
            ClientFrame::Rewritten(rewritten) => Message::text(rewritten),
        }
    }

    /// Whether a server text frame goes on to the client.
    pub fn server_text(&self, text: &str) -> ServerFrame {
        self.lock().channels.on_server_text(text)
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
        token
            .as_deref()
            .map_or_else(Vec::new, |token| channels.token_pushes(token))
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

    #[tokio::test]
    async fn a_new_token_is_injected_and_pushed_once() {
        let state = SocketState::new(Some("t1".into()));
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
