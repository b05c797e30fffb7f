//! Test control of the stand-in Realtime for tests that cannot call Rust:
//!
//! - `GET /__stub/realtime/frames`: every frame the sockets received,
//!   `[{socket, text}]` or `[{socket, binary: <hex>}]`;
//! - `POST /__stub/realtime/broadcast` `{topic, event, payload, binary?}`:
//!   a broadcast to the topic's channels (binary: a kind-4 frame with the
//!   payload's JSON text), answered `{delivered: n}`;
//! - `POST /__stub/realtime/postgres_changes` `{schema?, table, type?, record}`:
//!   a change for the matching `postgres_changes` bindings, `{delivered: n}`.

use crate::services::hex;
use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::hub::FrameData;
use crate::request::Req;
use crate::response::{StubBody, json, not_found};
use crate::state::Shared;

const BODY_LIMIT: usize = 1 << 20;

pub(crate) async fn handle(shared: &Shared, req: &mut Req) -> Response<StubBody> {
    let hub = &shared.realtime;
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/__stub/realtime/frames") => {
            let frames: Vec<Value> = hub
                .received()
                .into_iter()
                .map(|frame| match frame.data {
                    FrameData::Text(text) => json!({"socket": frame.socket, "text": text}),
                    FrameData::Binary(bytes) => {
                        json!({"socket": frame.socket, "binary": hex(&bytes)})
                    }
                })
                .collect();
            json(StatusCode::OK, &Value::Array(frames))
        }
        ("POST", "/__stub/realtime/broadcast") => {
            let Some(body) = read_json(req).await else {
                return bad_request();
            };
            let (Some(topic), Some(event)) = (body["topic"].as_str(), body["event"].as_str())
            else {
                return bad_request();
            };
            let delivered = if body["binary"] == json!(true) {
                hub.binary_broadcast(topic, event, body["payload"].to_string().as_bytes())
            } else {
                Some(hub.broadcast(topic, event, &body["payload"]))
            };
            match delivered {
                Some(n) => json(StatusCode::OK, &json!({"delivered": n})),
                None => bad_request(),
            }
        }
        ("POST", "/__stub/realtime/postgres_changes") => {
            let Some(body) = read_json(req).await else {
                return bad_request();
            };
            let Some(table) = body["table"].as_str() else {
                return bad_request();
            };
            let schema = body["schema"].as_str().unwrap_or("public");
            let kind = body["type"].as_str().unwrap_or("INSERT");
            let delivered = hub.postgres_change(schema, table, kind, &body["record"]);
            json(StatusCode::OK, &json!({"delivered": delivered}))
        }
        _ => not_found(),
    }
}

async fn read_json(req: &mut Req) -> Option<Value> {
    let body = req.body.read_all(BODY_LIMIT).await.ok()?;
    serde_json::from_slice(&body).ok()
}

fn bad_request() -> Response<StubBody> {
    json(
        StatusCode::BAD_REQUEST,
        &json!({"message": "expected JSON with the fields this endpoint documents"}),
    )
}
