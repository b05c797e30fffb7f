//! Every open socket of the stand-in Realtime, the channels joined on it,
//! and the log of frames the sockets received. Messages for a socket go
//! through its outbox, which its task writes to the WebSocket in order.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::wire::{Msg, Vsn, encode_binary_broadcast};
use crate::clock::rfc3339_now;
use crate::state::lock;

/// A frame a socket received from its client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedFrame {
    /// Which socket, numbered from 1 in the order they opened.
    pub socket: u64,
    pub data: FrameData,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameData {
    Text(String),
    Binary(Vec<u8>),
}

impl ReceivedFrame {
    /// The frame's text parsed as JSON, when it is text and JSON.
    pub fn json(&self) -> Option<Value> {
        match &self.data {
            FrameData::Text(text) => serde_json::from_str(text).ok(),
            FrameData::Binary(_) => None,
        }
    }
}

/// A `postgres_changes` subscription of a channel, with the id the join's reply gave it.
#[derive(Debug, Clone)]
pub(super) struct Binding {
    pub id: u64,
    pub event: String,
    pub schema: String,
    pub table: String,
    pub filter: Option<String>,
}

/// A joined channel.
#[derive(Debug, Clone)]
pub(super) struct Channel {
    pub join_ref: Option<String>,
    /// `exp` of the channel's current token.
    pub token_exp: u64,
    pub bindings: Vec<Binding>,
    /// `config.broadcast.self`: the channel gets its own broadcasts.
    pub receive_own: bool,
}

pub(super) struct Socket {
    pub vsn: Vsn,
    /// The token of joins that carry none: the socket's `apikey`, or the
    /// anon key for the publishable key.
    pub tenant_token: String,
    pub channels: HashMap<String, Channel>,
    outbox: mpsc::UnboundedSender<Message>,
}

impl Socket {
    pub fn send(&self, msg: &Msg) {
        // A closed outbox means the socket's task is ending: nothing to do.
        let _ = self.outbox.send(Message::text(self.vsn.encode(msg)));
    }

    pub fn send_binary(&self, frame: Vec<u8>) {
        let _ = self.outbox.send(Message::binary(frame));
    }

    fn send_close(&self, code: u16, reason: &str) {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        let _ = self.outbox.send(Message::Close(Some(frame)));
    }
}

#[derive(Default)]
pub(super) struct Sockets {
    next_socket: u64,
    pub next_binding: u64,
    pub by_id: HashMap<u64, Socket>,
    pub received: Vec<ReceivedFrame>,
}

impl Sockets {
    /// Calls `deliver` for every socket with a channel on `topic` (the
    /// sender's own only when it asked for it); returns how many.
    pub fn deliver(&self, topic: &str, sender: Option<u64>, deliver: impl Fn(&Socket)) -> usize {
        let mut count = 0;
        for (id, socket) in &self.by_id {
            let Some(channel) = socket.channels.get(topic) else {
                continue;
            };
            if Some(*id) == sender && !channel.receive_own {
                continue;
            }
            deliver(socket);
            count += 1;
        }
        count
    }
}

/// The stand-in Realtime's state.
#[derive(Default)]
pub(crate) struct Hub {
    pub(super) sockets: Mutex<Sockets>,
}

impl Hub {
    /// Registers a new socket; returns its number and its outbox.
    pub(super) fn open(
        &self,
        vsn: Vsn,
        tenant_token: String,
    ) -> (u64, mpsc::UnboundedReceiver<Message>) {
        let (outbox, receiver) = mpsc::unbounded_channel();
        let mut sockets = lock(&self.sockets);
        sockets.next_socket += 1;
        let id = sockets.next_socket;
        let socket = Socket {
            vsn,
            tenant_token,
            channels: HashMap::new(),
            outbox,
        };
        sockets.by_id.insert(id, socket);
        (id, receiver)
    }

    pub(super) fn close(&self, id: u64) {
        lock(&self.sockets).by_id.remove(&id);
    }

    /// When the first channel token of socket `id` expires.
    pub(super) fn next_expiry(&self, id: u64) -> Option<u64> {
        let sockets = lock(&self.sockets);
        let socket = sockets.by_id.get(&id)?;
        socket.channels.values().map(|c| c.token_exp).min()
    }

    pub fn received(&self) -> Vec<ReceivedFrame> {
        lock(&self.sockets).received.clone()
    }

    /// Closes every open socket with `code` and `reason`; returns how many.
    pub fn disconnect_all(&self, code: u16, reason: &str) -> usize {
        let sockets = lock(&self.sockets);
        for socket in sockets.by_id.values() {
            socket.send_close(code, reason);
        }
        sockets.by_id.len()
    }

    /// A JSON broadcast to the channels on `topic`; how many got it.
    pub fn broadcast(&self, topic: &str, event: &str, payload: &Value) -> usize {
        let msg = Msg::push(
            topic,
            "broadcast",
            json!({"type": "broadcast", "event": event, "payload": payload}),
        );
        lock(&self.sockets).deliver(topic, None, |socket| socket.send(&msg))
    }

    /// A binary (kind 4, JSON-encoded) broadcast to the channels on
    /// `topic`; how many got it. `None` when topic or event is over 255 bytes.
    pub fn binary_broadcast(&self, topic: &str, event: &str, payload: &[u8]) -> Option<usize> {
        let frame = encode_binary_broadcast(topic, event, b"", 1, payload)?;
        Some(lock(&self.sockets).deliver(topic, None, |socket| socket.send_binary(frame.clone())))
    }

    /// A database change, sent to every channel with a matching
    /// `postgres_changes` binding; how many channels got it.
    pub fn postgres_change(&self, schema: &str, table: &str, kind: &str, record: &Value) -> usize {
        let sockets = lock(&self.sockets);
        let mut count = 0;
        for socket in sockets.by_id.values() {
            for (topic, channel) in &socket.channels {
                let ids: Vec<u64> = channel
                    .bindings
                    .iter()
                    .filter(|b| b.matches(schema, table, kind, record))
                    .map(|b| b.id)
                    .collect();
                if ids.is_empty() {
                    continue;
                }
                let (new, old) = match kind {
                    "DELETE" => (json!({}), record.clone()),
                    _ => (record.clone(), Value::Null),
                };
                let data = json!({
                    "schema": schema,
                    "table": table,
                    "commit_timestamp": rfc3339_now(),
                    "type": kind,
                    "columns": columns(record),
                    "record": new,
                    "old_record": old,
                    "errors": null,
                });
                socket.send(&Msg::push(
                    topic,
                    "postgres_changes",
                    json!({"ids": ids, "data": data}),
                ));
                count += 1;
            }
        }
        count
    }
}

impl Binding {
    fn matches(&self, schema: &str, table: &str, kind: &str, record: &Value) -> bool {
        let event_matches = self.event == "*" || self.event.eq_ignore_ascii_case(kind);
        let table_matches = self.table == "*" || self.table == table;
        event_matches && table_matches && self.schema == schema && self.filter_matches(record)
    }

    /// Only `column=eq.value` filters are checked; any other filter matches.
    fn filter_matches(&self, record: &Value) -> bool {
        let Some((column, value)) = self.filter.as_deref().and_then(|f| f.split_once("=eq."))
        else {
            return true;
        };
        match record.get(column) {
            Some(Value::String(text)) => text == value,
            Some(Value::Number(number)) => number.to_string() == value,
            Some(Value::Bool(flag)) => flag.to_string() == value,
            _ => false,
        }
    }
}

/// Column descriptions for a record, typed after its JSON values.
fn columns(record: &Value) -> Value {
    let Some(fields) = record.as_object() else {
        return json!([]);
    };
    let kind = |v: &Value| match v {
        Value::Number(n) if n.is_i64() || n.is_u64() => "int8",
        Value::Number(_) => "float8",
        Value::Bool(_) => "bool",
        Value::String(_) => "text",
        _ => "jsonb",
    };
    fields
        .iter()
        .map(|(name, v)| json!({"name": name, "type": kind(v)}))
        .collect()
}
