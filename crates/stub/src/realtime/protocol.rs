//! What the stand-in Realtime does with a client's frames, after Supabase
//! Realtime: joins (token checked, `postgres_changes` bindings echoed with
//! ids, as supabase-js requires), heartbeats, leaves, `access_token`
//! updates, JSON and binary broadcasts; and a channel whose token expires
//! gets `system` `{status: "error", message: "Token has expired ..."}` and
//! `phx_close`.
//!
//! A join authenticates as Realtime's does: `user_token` is preferred over
//! `access_token`, an `sb_`-prefixed key in either means the socket's own
//! key, and a token needs the `role` and `exp` claims.
//!
//! Unlike the real server, a frame that is not a message in the socket's
//! serializer is ignored rather than crashing the socket, so that tests can
//! check that such frames reach Supabase unchanged.

use serde_json::{Value, json};

use super::hub::{Binding, Channel, FrameData, Hub, ReceivedFrame, Socket, Sockets};
use super::wire::{Msg, decode_binary_push, encode_binary_broadcast};
use crate::clock::unix_now;
use crate::jwt::{JwtError, Keys};
use crate::state::lock;

impl Hub {
    /// Records and handles a text frame of socket `id`.
    pub(super) fn on_text(&self, keys: &Keys, id: u64, text: &str) {
        let mut sockets = lock(&self.sockets);
        sockets.received.push(ReceivedFrame {
            socket: id,
            data: FrameData::Text(text.to_owned()),
        });
        let Some(msg) = sockets.by_id.get(&id).and_then(|s| s.vsn.decode(text)) else {
            return;
        };
        match (msg.topic.as_str(), msg.event.as_str()) {
            ("phoenix", "heartbeat") => reply(&sockets, id, &msg, "ok", json!({})),
            (_, "phx_join") => join(&mut sockets, keys, id, &msg),
            _ if !joined(&sockets, id, &msg.topic) => {
                reply(
                    &sockets,
                    id,
                    &msg,
                    "error",
                    json!({"reason": "unmatched topic"}),
                );
            }
            (_, "phx_leave") => {
                reply(&sockets, id, &msg, "ok", json!({}));
                if let Some(socket) = sockets.by_id.get_mut(&id) {
                    socket.channels.remove(&msg.topic);
                    socket.send(&Msg {
                        event: "phx_close".to_owned(),
                        payload: json!({}),
                        ..msg
                    });
                }
            }
            (_, "access_token") => {
                // Realtime ignores API keys sent as a channel's token.
                let token = msg.payload.get("access_token").and_then(Value::as_str);
                if let Some(token) = token.filter(|t| !t.starts_with(API_KEY_PREFIX)) {
                    update_token(&mut sockets, keys, id, &msg.topic, token);
                }
            }
            (_, "broadcast") => {
                let delivered = Msg::push(&msg.topic, "broadcast", msg.payload.clone());
                sockets.deliver(&msg.topic, Some(id), |socket| socket.send(&delivered));
                reply(&sockets, id, &msg, "ok", json!({}));
            }
            _ => reply(&sockets, id, &msg, "ok", json!({})),
        }
    }

    /// Records and handles a binary frame: a broadcast push (kind 3) goes
    /// to the topic's channels as a kind-4 broadcast.
    pub(super) fn on_binary(&self, id: u64, frame: &[u8]) {
        let mut sockets = lock(&self.sockets);
        sockets.received.push(ReceivedFrame {
            socket: id,
            data: FrameData::Binary(frame.to_vec()),
        });
        let Some(push) = decode_binary_push(frame) else {
            return;
        };
        if !joined(&sockets, id, &push.topic) {
            return;
        }
        let out = encode_binary_broadcast(
            &push.topic,
            &push.event,
            &push.meta,
            push.encoding,
            &push.payload,
        );
        if let Some(out) = out {
            sockets.deliver(&push.topic, Some(id), |socket| {
                socket.send_binary(out.clone())
            });
        }
        let msg = Msg {
            join_ref: Some(push.join_ref),
            msg_ref: Some(push.msg_ref),
            topic: push.topic,
            event: "broadcast".to_owned(),
            payload: Value::Null,
        };
        reply(&sockets, id, &msg, "ok", json!({}));
    }

    /// Ends the channels of socket `id` whose token expired at `now`.
    pub(super) fn expire(&self, id: u64, now: u64) {
        let mut sockets = lock(&self.sockets);
        let Some(socket) = sockets.by_id.get_mut(&id) else {
            return;
        };
        let expired: Vec<(String, u64)> = socket
            .channels
            .iter()
            .filter(|(_, c)| c.token_exp <= now)
            .map(|(topic, c)| (topic.clone(), c.token_exp))
            .collect();
        for (topic, exp) in expired {
            let message = format!("Token has expired {} seconds ago", now - exp);
            end_channel(socket, &topic, &message);
        }
    }
}

fn joined(sockets: &Sockets, id: u64, topic: &str) -> bool {
    sockets
        .by_id
        .get(&id)
        .is_some_and(|s| s.channels.contains_key(topic))
}

fn reply(sockets: &Sockets, id: u64, msg: &Msg, status: &str, response: Value) {
    if msg.msg_ref.is_some()
        && let Some(socket) = sockets.by_id.get(&id)
    {
        socket.send(&msg.reply(status, response));
    }
}

/// Prefix of Supabase's new API keys (`sb_publishable_...`, `sb_secret_...`).
const API_KEY_PREFIX: &str = "sb_";

/// The `exp` of a valid token, or why it is refused.
fn check_token(keys: &Keys, token: &str) -> Result<u64, String> {
    match keys.verify(token, 0) {
        Ok(claims) => {
            let role = claims.get("role").and_then(Value::as_str);
            match (role, claims.get("exp").and_then(Value::as_u64)) {
                (Some(_), Some(exp)) => Ok(exp),
                _ => Err("Fields `role` and `exp` are required in JWT".to_owned()),
            }
        }
        Err(JwtError::Expired) => {
            let exp = jsonwebtoken::dangerous::insecure_decode::<Value>(token)
                .ok()
                .and_then(|data| data.claims.get("exp").and_then(Value::as_u64))
                .unwrap_or(0);
            Err(format!(
                "Token has expired {} seconds ago",
                unix_now().saturating_sub(exp)
            ))
        }
        Err(JwtError::Invalid(reason)) => Err(reason),
    }
}

fn join(sockets: &mut Sockets, keys: &Keys, id: u64, msg: &Msg) {
    let Some(socket) = sockets.by_id.get(&id) else {
        return;
    };
    let payload = &msg.payload;
    let token = join_token(payload, &socket.tenant_token).to_owned();
    let token_exp = match check_token(keys, &token) {
        Ok(exp) => exp,
        Err(reason) => return reply(sockets, id, msg, "error", json!({"reason": reason})),
    };
    let config = &payload["config"];
    let mut bindings = Vec::new();
    let mut echoed = Vec::new();
    for requested in config["postgres_changes"].as_array().into_iter().flatten() {
        sockets.next_binding += 1;
        let text = |key: &str| {
            requested
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        bindings.push(Binding {
            id: sockets.next_binding,
            event: text("event").unwrap_or_else(|| "*".to_owned()),
            schema: text("schema").unwrap_or_else(|| "public".to_owned()),
            table: text("table").unwrap_or_else(|| "*".to_owned()),
            filter: text("filter"),
        });
        let mut with_id = requested.clone();
        if let Some(fields) = with_id.as_object_mut() {
            fields.insert("id".to_owned(), json!(sockets.next_binding));
        }
        echoed.push(with_id);
    }
    let channel = Channel {
        join_ref: msg.join_ref.clone(),
        token_exp,
        bindings,
        receive_own: config["broadcast"]["self"] == json!(true),
    };
    let Some(socket) = sockets.by_id.get_mut(&id) else {
        return;
    };
    socket.channels.insert(msg.topic.clone(), channel);
    socket.send(&msg.reply("ok", json!({"postgres_changes": echoed})));
    let name = subtopic(&msg.topic);
    socket.send(&Msg::push(
        &msg.topic,
        "system",
        json!({"channel": name, "extension": "postgres_changes", "message": "Subscribed to PostgreSQL", "status": "ok"}),
    ));
    if config["presence"]["enabled"] == json!(true) {
        socket.send(&Msg {
            join_ref: msg.join_ref.clone(),
            ..Msg::push(&msg.topic, "presence_state", json!({}))
        });
    }
}

/// The token a join runs with, picked as Realtime picks it: the socket's
/// own when the join carries an API key (`sb_...`, in `access_token` or
/// else `user_token`), else `user_token`, else `access_token`, else the
/// socket's own.
fn join_token<'a>(payload: &'a Value, tenant_token: &'a str) -> &'a str {
    let field = |key: &str| payload.get(key).and_then(Value::as_str);
    let first = field("access_token").or_else(|| field("user_token"));
    if first.is_some_and(|token| token.starts_with(API_KEY_PREFIX)) {
        return tenant_token;
    }
    field("user_token")
        .or_else(|| field("access_token"))
        .unwrap_or(tenant_token)
}

/// A new token for a channel: kept when valid, else the channel ends.
fn update_token(sockets: &mut Sockets, keys: &Keys, id: u64, topic: &str, token: &str) {
    let Some(socket) = sockets.by_id.get_mut(&id) else {
        return;
    };
    match check_token(keys, token) {
        Ok(exp) => {
            if let Some(channel) = socket.channels.get_mut(topic) {
                channel.token_exp = exp;
            }
        }
        Err(reason) => end_channel(socket, topic, &reason),
    }
}

/// `system` error then `phx_close`, and the channel is gone.
fn end_channel(socket: &mut Socket, topic: &str, message: &str) {
    let Some(channel) = socket.channels.remove(topic) else {
        return;
    };
    socket.send(&Msg::push(
        topic,
        "system",
        json!({"channel": subtopic(topic), "extension": "system", "message": message, "status": "error"}),
    ));
    socket.send(&Msg {
        join_ref: channel.join_ref.clone(),
        msg_ref: channel.join_ref,
        ..Msg::push(topic, "phx_close", json!({}))
    });
}

/// The channel name: the topic without its `realtime:` prefix.
fn subtopic(topic: &str) -> &str {
    topic.strip_prefix("realtime:").unwrap_or(topic)
}
