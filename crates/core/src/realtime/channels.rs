//! The channels of one relayed socket: token injection into the client's
//! frames, the joined topics, and the proxy's own `access_token` pushes.
//!
//! Every client `phx_join` and `access_token` message gets the session's
//! token as `payload.access_token` (added when missing), and loses any
//! `user_token`, which Realtime would prefer over `access_token`: the
//! cookie decides which user a socket is, never the page. A socket without
//! a token to inject (anonymous, with a new-style API key) has both removed,
//! so that Realtime falls back to the socket's `apikey`. A topic is tracked
//! from the client's join until its leave, a refused join, or the server's
//! `phx_close` / `phx_error` for that join. When the session's token
//! changes, [`Channels::token_pushes`] gives one `access_token` message per
//! tracked topic, with refs under [`PUSH_REF_PREFIX`] (the client's refs are
//! counters), and the server's replies to those refs are not relayed.

use super::frame::{Frame, Serializer, encode};
use super::object::{Entries, Text, json_string};
use std::collections::HashMap;

/// Prefix of the refs of the proxy's own pushes.
pub const PUSH_REF_PREFIX: &str = "sbp-";

/// What to send upstream for a client text frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    /// The frame as the client sent it.
    Unchanged,
    /// The frame with the session's token in its payload and the client's
    /// `user_token` gone (or, without a token to inject, both gone).
    Rewritten(String),
}

/// What to do with a server text frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerFrame {
    Relay,
    /// A reply to one of the proxy's own pushes: the client never asked.
    Drop,
}

/// A topic the client joined (or is joining) on this socket.
#[derive(Debug, Clone)]
struct Channel {
    join_ref: Option<String>,
    /// `ref` of the join message, which the server's reply carries.
    join_msg_ref: Option<String>,
    serializer: Serializer,
}

/// The tracked channels of one socket.
#[derive(Debug, Default)]
pub struct Channels {
    by_topic: HashMap<String, Channel>,
    pushes_sent: u64,
}

/// The payload field Realtime reads a channel's token from.
const ACCESS_TOKEN: &str = "access_token";
/// The legacy field Realtime prefers over [`ACCESS_TOKEN`] in joins.
const USER_TOKEN: &str = "user_token";

impl Channels {
    /// Rewrites a client text frame and records what it does to channels.
    /// `token` is the one to inject; `None` removes the client's.
    pub fn on_client_text(&mut self, text: &str, token: Option<&str>) -> ClientFrame {
        let Some(frame) = Frame::parse(text) else {
            return ClientFrame::Unchanged;
        };
        match &*frame.event {
            "phx_join" | "access_token" => {
                let Some(entries) = Entries::parse(frame.payload.get()) else {
                    return ClientFrame::Unchanged;
                };
                if frame.event == "phx_join" {
                    let channel = Channel {
                        join_ref: frame.join_ref.as_deref().map(str::to_string),
                        join_msg_ref: frame.msg_ref.as_deref().map(str::to_string),
                        serializer: frame.serializer(),
                    };
                    self.by_topic.insert(frame.topic.to_string(), channel);
                }
                let injected = token.map(json_string);
                if injected.is_none() && !entries.has(ACCESS_TOKEN) && !entries.has(USER_TOKEN) {
                    return ClientFrame::Unchanged;
                }
                let payload =
                    entries.edited(&[(ACCESS_TOKEN, injected.as_deref()), (USER_TOKEN, None)]);
                ClientFrame::Rewritten(frame.with_payload(&payload))
            }
            "phx_leave" => {
                self.by_topic.remove(&*frame.topic);
                ClientFrame::Unchanged
            }
            _ => ClientFrame::Unchanged,
        }
    }

    /// Records what a server text frame says about channels, and whether
    /// the client should see it.
    pub fn on_server_text(&mut self, text: &str) -> ServerFrame {
        let Some(frame) = Frame::parse(text) else {
            return ServerFrame::Relay;
        };
        match &*frame.event {
            "phx_reply" => {
                let msg_ref = frame.msg_ref.as_deref();
                if msg_ref.is_some_and(|r| r.starts_with(PUSH_REF_PREFIX)) {
                    return ServerFrame::Drop;
                }
                let answers_join = self
                    .by_topic
                    .get(&*frame.topic)
                    .is_some_and(|c| msg_ref.is_some() && c.join_msg_ref.as_deref() == msg_ref);
                if answers_join && !reply_is_ok(frame.payload.get()) {
                    self.by_topic.remove(&*frame.topic);
                }
            }
            "phx_close" | "phx_error" => {
                let same_join = self.by_topic.get(&*frame.topic).is_some_and(|c| {
                    frame.join_ref.is_none() || c.join_ref.as_deref() == frame.join_ref.as_deref()
                });
                if same_join {
                    self.by_topic.remove(&*frame.topic);
                }
            }
            _ => {}
        }
        ServerFrame::Relay
    }

    /// One `access_token` message carrying `token` per tracked topic.
    pub fn token_pushes(&mut self, token: &str) -> Vec<String> {
        let payload = format!(r#"{{"access_token":{}}}"#, json_string(token));
        let mut pushes = Vec::with_capacity(self.by_topic.len());
        for (topic, channel) in &self.by_topic {
            self.pushes_sent += 1;
            let msg_ref = format!("{PUSH_REF_PREFIX}{}", self.pushes_sent);
            pushes.push(encode(
                channel.serializer,
                channel.join_ref.as_deref(),
                &msg_ref,
                topic,
                "access_token",
                &payload,
            ));
        }
        pushes
    }

    /// The tracked topics, sorted.
    pub fn topics(&self) -> Vec<&str> {
        let mut topics: Vec<&str> = self.by_topic.keys().map(String::as_str).collect();
        topics.sort_unstable();
        topics
    }
}

/// Whether a `phx_reply` payload says `"status": "ok"`.
fn reply_is_ok(payload: &str) -> bool {
    Entries::parse(payload)
        .and_then(|entries| entries.unique("status"))
        .and_then(|raw| serde_json::from_str::<Text>(raw.get()).ok())
        .is_some_and(|status| status.0 == "ok")
}
