//! Phoenix messages in WebSocket text frames, in both of Realtime's
//! serializers: vsn 2.0.0 writes `[join_ref, ref, topic, event, payload]`,
//! vsn 1.0.0 writes `{"topic", "event", "payload", "ref", "join_ref"}`.
//!
//! [`Frame::parse`] accepts only the exact shapes (refs `null` or strings,
//! topic and event strings, no duplicate keys); anything else is not a
//! message the proxy understands, and the caller relays it untouched.

use super::object::{Entries, Text, json_string};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// Which serializer a message is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serializer {
    /// vsn 1.0.0: a JSON object.
    Objects,
    /// vsn 2.0.0: a JSON array of five.
    Arrays,
}

/// The raw text of each part, to write the message back with a new payload.
enum Layout<'a> {
    Array([&'a RawValue; 5]),
    Object(Entries<'a>),
}

/// A Phoenix message read from a text frame.
pub struct Frame<'a> {
    pub join_ref: Option<Cow<'a, str>>,
    pub msg_ref: Option<Cow<'a, str>>,
    pub topic: Cow<'a, str>,
    pub event: Cow<'a, str>,
    /// The payload, as raw JSON.
    pub payload: &'a RawValue,
    layout: Layout<'a>,
}

/// A JSON string, or `None` for anything else.
fn text(raw: &RawValue) -> Option<Cow<'_, str>> {
    serde_json::from_str::<Text>(raw.get()).ok().map(|t| t.0)
}

/// `null` or a JSON string; `Err` for anything else.
fn optional_text(raw: &RawValue) -> Result<Option<Cow<'_, str>>, ()> {
    serde_json::from_str::<Option<Text>>(raw.get())
        .map(|t| t.map(|t| t.0))
        .map_err(drop)
}

impl<'a> Frame<'a> {
    /// Reads a message in either serializer; `None` when `text` is not one.
    pub fn parse(text: &'a str) -> Option<Frame<'a>> {
        match text.trim_start().as_bytes().first()? {
            b'[' => Self::parse_array(text),
            b'{' => Self::parse_object(text),
            _ => None,
        }
    }

    fn parse_array(json: &'a str) -> Option<Frame<'a>> {
        let parts: [&'a RawValue; 5] = serde_json::from_str(json).ok()?;
        let [join_ref, msg_ref, topic, event, payload] = parts;
        Some(Frame {
            join_ref: optional_text(join_ref).ok()?,
            msg_ref: optional_text(msg_ref).ok()?,
            topic: text(topic)?,
            event: text(event)?,
            payload,
            layout: Layout::Array(parts),
        })
    }

    fn parse_object(json: &'a str) -> Option<Frame<'a>> {
        let entries = Entries::parse(json)?;
        let optional = |key: &str| -> Result<Option<Cow<'a, str>>, ()> {
            let count = entries.0.iter().filter(|(k, _)| k == key).count();
            match (count, entries.unique(key)) {
                (0, _) => Ok(None),
                (_, Some(raw)) => optional_text(raw),
                (_, None) => Err(()),
            }
        };
        Some(Frame {
            join_ref: optional("join_ref").ok()?,
            msg_ref: optional("ref").ok()?,
            topic: text(entries.unique("topic")?)?,
            event: text(entries.unique("event")?)?,
            payload: entries.unique("payload")?,
            layout: Layout::Object(entries),
        })
    }

    pub fn serializer(&self) -> Serializer {
        match self.layout {
            Layout::Array(_) => Serializer::Arrays,
            Layout::Object(_) => Serializer::Objects,
        }
    }

    /// The same message with `payload` (raw JSON) as its payload; every
    /// other part keeps the client's text.
    pub fn with_payload(&self, payload: &str) -> String {
        match &self.layout {
            Layout::Array([join_ref, msg_ref, topic, event, _]) => format!(
                "[{},{},{},{},{payload}]",
                join_ref.get(),
                msg_ref.get(),
                topic.get(),
                event.get()
            ),
            Layout::Object(entries) => entries.with("payload", payload),
        }
    }
}

/// Writes a message in `serializer`; `payload` is raw JSON.
pub fn encode(
    serializer: Serializer,
    join_ref: Option<&str>,
    msg_ref: &str,
    topic: &str,
    event: &str,
    payload: &str,
) -> String {
    let join_ref = join_ref.map_or_else(|| "null".to_string(), json_string);
    let (msg_ref, topic, event) = (json_string(msg_ref), json_string(topic), json_string(event));
    match serializer {
        Serializer::Arrays => format!("[{join_ref},{msg_ref},{topic},{event},{payload}]"),
        Serializer::Objects => format!(
            r#"{{"topic":{topic},"event":{event},"payload":{payload},"ref":{msg_ref},"join_ref":{join_ref}}}"#
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_serializers() {
        let v2 = r#"["10","11","realtime:room1","phx_join",{"config":{}}]"#;
        let frame = Frame::parse(v2).unwrap();
        assert_eq!(frame.serializer(), Serializer::Arrays);
        assert_eq!(frame.join_ref.as_deref(), Some("10"));
        assert_eq!(frame.msg_ref.as_deref(), Some("11"));
        assert_eq!(
            (&*frame.topic, &*frame.event),
            ("realtime:room1", "phx_join")
        );
        assert_eq!(frame.payload.get(), r#"{"config":{}}"#);

        let v1 = r#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"3"}"#;
        let frame = Frame::parse(v1).unwrap();
        assert_eq!(frame.serializer(), Serializer::Objects);
        assert_eq!(frame.join_ref, None);
        assert_eq!(frame.msg_ref.as_deref(), Some("3"));
        assert_eq!(frame.event, "heartbeat");

        let nulls = r#"[null,null,"realtime:r","system",{"status":"ok"}]"#;
        let frame = Frame::parse(nulls).unwrap();
        assert_eq!((frame.join_ref, frame.msg_ref), (None, None));
    }

    #[test]
    fn unexpected_shapes_are_not_messages() {
        for bad in [
            "",
            "   ",
            "not json",
            "[",
            "[]",
            r#"["1","1","t","e"]"#,
            r#"["1","1","t","e",{},"extra"]"#,
            r#"[1,"1","t","e",{}]"#,
            r#"["1",2,"t","e",{}]"#,
            r#"["1","1",3,"e",{}]"#,
            r#"["1","1","t",null,{}]"#,
            r#"{"topic":"t","event":"e"}"#,
            r#"{"topic":"t","payload":{}}"#,
            r#"{"topic":1,"event":"e","payload":{}}"#,
            r#"{"topic":"t","event":"e","payload":{},"ref":5}"#,
            r#"{"topic":"t","event":"e","payload":{},"payload":{}}"#,
            r#"{"topic":"t","event":"e","payload":{},"ref":"1","ref":"2"}"#,
            r#"{"topic":"t","event":"e","payload":{}} trailing"#,
            "42",
            "\"phx_join\"",
            "null",
        ] {
            assert!(Frame::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn payload_is_replaced_and_the_rest_kept() {
        let v2 = r#"[ "1" , null , "realtime:a\u0062" , "phx_join" , {"a":1} ]"#;
        let frame = Frame::parse(v2).unwrap();
        assert_eq!(frame.topic, "realtime:ab");
        assert_eq!(
            frame.with_payload("{}"),
            r#"["1",null,"realtime:a\u0062","phx_join",{}]"#
        );
        let v1 = r#"{"ref":"2","payload":{"a":1},"topic":"t","event":"e","x":[1]}"#;
        assert_eq!(
            Frame::parse(v1).unwrap().with_payload("{}"),
            r#"{"ref":"2","payload":{},"topic":"t","event":"e","x":[1]}"#
        );
    }

    #[test]
    fn encodes_both_serializers() {
        let payload = r#"{"access_token":"t"}"#;
        let v2 = encode(
            Serializer::Arrays,
            Some("10"),
            "sbp-1",
            "realtime:r",
            "access_token",
            payload,
        );
        assert_eq!(
            v2,
            r#"["10","sbp-1","realtime:r","access_token",{"access_token":"t"}]"#
        );
        let v1 = encode(
            Serializer::Objects,
            None,
            "sbp-2",
            "realtime:\"q\"",
            "access_token",
            payload,
        );
        let value: serde_json::Value = serde_json::from_str(&v1).unwrap();
        assert_eq!(value["topic"], "realtime:\"q\"");
        assert_eq!(value["ref"], "sbp-2");
        assert_eq!(value["join_ref"], serde_json::Value::Null);
        assert_eq!(value["payload"]["access_token"], "t");
        let back = Frame::parse(&v1).unwrap();
        assert_eq!(
            (&*back.event, back.msg_ref.as_deref()),
            ("access_token", Some("sbp-2"))
        );
    }
}
