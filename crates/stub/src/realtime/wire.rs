//! Realtime's wire formats: Phoenix messages in the two JSON serializers
//! (vsn 1.0.0 objects, vsn 2.0.0 arrays) and the binary broadcast frames of
//! vsn 2.0.0 (client push kind 3, server broadcast kind 4).

use serde_json::{Value, json};

/// The serializer a socket asked for with its `vsn` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Vsn {
    /// `1.0.0`, Phoenix's default: JSON objects.
    V1,
    /// `2.0.0`: JSON arrays, and binary broadcasts.
    V2,
}

impl Vsn {
    pub fn from_param(vsn: Option<&str>) -> Option<Vsn> {
        match vsn {
            None | Some("1.0.0") => Some(Vsn::V1),
            Some("2.0.0") => Some(Vsn::V2),
            Some(_) => None,
        }
    }

    /// Reads a client message; `None` when the text is not one in this serializer.
    pub fn decode(self, text: &str) -> Option<Msg> {
        let value: Value = serde_json::from_str(text).ok()?;
        let text_or_null = |v: &Value| match v {
            Value::Null => Some(None),
            Value::String(s) => Some(Some(s.clone())),
            _ => None,
        };
        let (join_ref, msg_ref, topic, event, payload) = match (self, value) {
            (Vsn::V2, Value::Array(parts)) if parts.len() == 5 => (
                text_or_null(&parts[0])?,
                text_or_null(&parts[1])?,
                parts[2].as_str()?.to_owned(),
                parts[3].as_str()?.to_owned(),
                parts[4].clone(),
            ),
            (Vsn::V1, Value::Object(fields)) => (
                fields.get("join_ref").map_or(Some(None), text_or_null)?,
                fields.get("ref").map_or(Some(None), text_or_null)?,
                fields.get("topic")?.as_str()?.to_owned(),
                fields.get("event")?.as_str()?.to_owned(),
                fields.get("payload")?.clone(),
            ),
            _ => return None,
        };
        Some(Msg {
            join_ref,
            msg_ref,
            topic,
            event,
            payload,
        })
    }

    pub fn encode(self, msg: &Msg) -> String {
        match self {
            Vsn::V2 => json!([msg.join_ref, msg.msg_ref, msg.topic, msg.event, msg.payload]),
            Vsn::V1 => json!({
                "topic": msg.topic,
                "event": msg.event,
                "payload": msg.payload,
                "ref": msg.msg_ref,
                "join_ref": msg.join_ref,
            }),
        }
        .to_string()
    }
}

/// One Phoenix message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Msg {
    pub join_ref: Option<String>,
    pub msg_ref: Option<String>,
    pub topic: String,
    pub event: String,
    pub payload: Value,
}

impl Msg {
    /// A message the server pushes on its own (no refs).
    pub fn push(topic: &str, event: &str, payload: Value) -> Msg {
        Msg {
            join_ref: None,
            msg_ref: None,
            topic: topic.to_owned(),
            event: event.to_owned(),
            payload,
        }
    }

    /// The `phx_reply` to this message.
    pub fn reply(&self, status: &str, response: Value) -> Msg {
        Msg {
            join_ref: self.join_ref.clone(),
            msg_ref: self.msg_ref.clone(),
            topic: self.topic.clone(),
            event: "phx_reply".to_owned(),
            payload: json!({"status": status, "response": response}),
        }
    }
}

/// A client's binary broadcast push (kind 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BinaryPush {
    pub join_ref: String,
    pub msg_ref: String,
    pub topic: String,
    pub event: String,
    pub meta: Vec<u8>,
    pub encoding: u8,
    pub payload: Vec<u8>,
}

const CLIENT_BROADCAST: u8 = 3;
const SERVER_BROADCAST: u8 = 4;

/// Reads a kind-3 frame: `[3, join_ref_len, ref_len, topic_len, event_len,
/// meta_len, encoding]` then those fields and the payload.
pub(crate) fn decode_binary_push(frame: &[u8]) -> Option<BinaryPush> {
    let (
        &[
            kind,
            join_ref_len,
            ref_len,
            topic_len,
            event_len,
            meta_len,
            encoding,
        ],
        mut rest,
    ) = frame.split_first_chunk::<7>()?;
    if kind != CLIENT_BROADCAST {
        return None;
    }
    let mut take = |len: u8| -> Option<Vec<u8>> {
        let (field, tail) = rest.split_at_checked(usize::from(len))?;
        rest = tail;
        Some(field.to_vec())
    };
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).ok();
    let join_ref = text(take(join_ref_len)?)?;
    let msg_ref = text(take(ref_len)?)?;
    let topic = text(take(topic_len)?)?;
    let event = text(take(event_len)?)?;
    let meta = take(meta_len)?;
    Some(BinaryPush {
        join_ref,
        msg_ref,
        topic,
        event,
        meta,
        encoding,
        payload: rest.to_vec(),
    })
}

/// Writes a kind-4 frame: `[4, topic_len, event_len, meta_len, encoding]`
/// then topic, event, meta and payload; `None` when a field is over 255 bytes.
pub(crate) fn encode_binary_broadcast(
    topic: &str,
    event: &str,
    meta: &[u8],
    encoding: u8,
    payload: &[u8],
) -> Option<Vec<u8>> {
    let len = |field: &[u8]| u8::try_from(field.len()).ok();
    let mut out = vec![
        SERVER_BROADCAST,
        len(topic.as_bytes())?,
        len(event.as_bytes())?,
        len(meta)?,
        encoding,
    ];
    for field in [topic.as_bytes(), event.as_bytes(), meta, payload] {
        out.extend_from_slice(field);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn binary_frames_match_the_captures() {
        // C->S and S->C frames of reference/wire/log-main (A9).
        let push = decode_binary_push(&hex(
            "0302020e060001313031317265616c74696d653a726f6f6d31637572736f727b2278223a31307d",
        ))
        .unwrap();
        assert_eq!(
            (
                push.join_ref.as_str(),
                push.msg_ref.as_str(),
                push.topic.as_str()
            ),
            ("10", "11", "realtime:room1")
        );
        assert_eq!((push.event.as_str(), push.encoding), ("cursor", 1));
        assert_eq!(push.payload, br#"{"x":10}"#);
        let out = encode_binary_broadcast("realtime:room1", "cursor", b"", 1, br#"{"x":3,"y":4}"#);
        assert_eq!(
            out.unwrap(),
            hex("040e0600017265616c74696d653a726f6f6d31637572736f727b2278223a332c2279223a347d")
        );
        assert!(decode_binary_push(&[3, 9, 0, 0, 0, 0, 1, b'x']).is_none());
        assert!(decode_binary_push(&[4, 0, 0, 0, 0, 0, 1]).is_none());
        assert!(decode_binary_push(&[]).is_none());
    }

    #[test]
    fn both_serializers_round_trip() {
        let msg = Msg {
            join_ref: Some("1".into()),
            msg_ref: None,
            topic: "realtime:r".into(),
            event: "phx_join".into(),
            payload: json!({"config": {}}),
        };
        for vsn in [Vsn::V1, Vsn::V2] {
            assert_eq!(vsn.decode(&vsn.encode(&msg)), Some(msg.clone()));
        }
        assert!(Vsn::V2.decode(&Vsn::V1.encode(&msg)).is_none());
        assert!(Vsn::V1.decode("not json").is_none());
        assert_eq!(Vsn::from_param(Some("3.0.0")), None);
    }
}
