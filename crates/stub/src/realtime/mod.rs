//! Stand-in Realtime: the Phoenix WebSocket at
//! `/realtime/v1/websocket?apikey=..&vsn=..`, with both serializers, token
//! checks and expiry as Supabase Realtime does them (see `protocol`), and
//! ways for tests to publish: [`crate::Stub::realtime_broadcast`] and its
//! siblings in Rust, `POST /__stub/realtime/...` from Node (see `control`).
//! Every frame a socket receives is recorded.

mod control;
mod hub;
mod protocol;
mod socket;
mod wire;

pub(crate) use control::handle as control;
pub(crate) use hub::Hub;
pub use hub::{FrameData, ReceivedFrame};

use std::sync::Arc;

use http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderValue, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::request::Req;
use crate::response::{StubBody, empty, json};
use crate::state::Shared;
use wire::Vsn;

fn refuse(status: StatusCode, message: &str) -> Response<StubBody> {
    json(status, &json!({"message": message}))
}

/// The token that joins without one of their own run with, for a socket
/// opened with `apikey`: the key itself when it is a JWT the project signed,
/// the anon key when it is the project's publishable key (which stands for
/// the anon role); `None` for any other key.
fn tenant_token(shared: &Shared, apikey: String) -> Option<String> {
    if shared.config.publishable_key.as_deref() == Some(apikey.as_str()) {
        return Some(shared.anon_key.clone());
    }
    shared.keys.verify(&apikey, 0).ok().map(|_| apikey)
}

/// `GET /realtime/v1/websocket`: checks the upgrade and the `apikey`, then
/// serves the socket on its own task.
pub(crate) fn upgrade(shared: &Arc<Shared>, req: &mut Req) -> Response<StubBody> {
    let lists = |name, token: &str| {
        req.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if req.method != http::Method::GET
        || !lists(CONNECTION, "upgrade")
        || !lists(UPGRADE, "websocket")
    {
        return refuse(StatusCode::BAD_REQUEST, "expected a WebSocket upgrade");
    }
    let (Some(accept), Some("13")) = (
        req.header(SEC_WEBSOCKET_KEY.as_str())
            .and_then(|key| HeaderValue::from_str(&derive_accept_key(key.as_bytes())).ok()),
        req.header(SEC_WEBSOCKET_VERSION.as_str()),
    ) else {
        return refuse(StatusCode::BAD_REQUEST, "bad WebSocket key or version");
    };
    let Some(vsn) = Vsn::from_param(req.query_param("vsn").as_deref()) else {
        return refuse(StatusCode::BAD_REQUEST, "unsupported vsn");
    };
    let Some(apikey) = req
        .query_param("apikey")
        .or_else(|| req.header("apikey").map(str::to_owned))
    else {
        return refuse(StatusCode::UNAUTHORIZED, "apikey is required");
    };
    let Some(tenant_token) = tenant_token(shared, apikey) else {
        return refuse(StatusCode::FORBIDDEN, "invalid apikey");
    };
    let Some(on_upgrade) = req.upgrade.take() else {
        return refuse(StatusCode::BAD_REQUEST, "the connection cannot be upgraded");
    };
    let shared = shared.clone();
    tokio::spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            let socket =
                WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
            socket::serve(shared, socket, vsn, tenant_token).await;
        }
    });
    let mut response = empty(StatusCode::SWITCHING_PROTOCOLS);
    let headers = response.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    response
}
