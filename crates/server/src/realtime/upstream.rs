//! Opening the WebSocket to Supabase Realtime for one browser socket:
//! `ws://` or `wss://` from `SUPABASE_URL` (connected by [`crate::connect`],
//! as the HTTP pool's connections are), the browser's query string with `apikey`
//! set to the anon key, and a few of the browser's headers.

use crate::connect::Connector;
use crate::realtime::framing::socket_config;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use sbp_core::config::Config;
use sbp_core::realtime::handshake::upstream_query;
use std::net::IpAddr;
use std::time::Duration;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Response;

/// Path of Realtime's WebSocket endpoint.
const SOCKET_PATH: &str = "/realtime/v1/websocket";
/// Connecting, TLS and the WebSocket handshake together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The browser's headers that go on to Supabase (besides those the proxy
/// sets). Subprotocols are not among them: Phoenix uses none, and a socket
/// that offered some is answered without one.
const PASSED_ON: [&str; 3] = ["user-agent", "accept-language", "x-client-info"];

/// A byte stream to Supabase, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub type UpstreamSocket = WebSocketStream<Box<dyn Io>>;

#[derive(Debug, Error)]
pub enum ConnectError {
    #[error("Supabase refused the WebSocket with status {}", .0.status())]
    Refused(Box<Response>),
    #[error("{0}")]
    Unreachable(String),
    #[error("Supabase did not complete the WebSocket handshake in time")]
    Timeout,
}

/// Where the browser's socket came from, for the forwarding headers.
pub struct BrowserSide<'a> {
    pub headers: &'a HeaderMap,
    pub query: Option<&'a str>,
    pub client_ip: IpAddr,
}

/// Opens the socket to Supabase.
pub async fn connect(
    config: &Config,
    connector: &Connector,
    from: BrowserSide<'_>,
) -> Result<UpstreamSocket, ConnectError> {
    let upstream = &config.supabase_url;
    let scheme = if upstream.is_https() { "wss" } else { "ws" };
    let query = upstream_query(from.query, &config.anon_key);
    let url = format!("{scheme}://{}{SOCKET_PATH}?{query}", upstream.authority());
    let mut request = url
        .into_client_request()
        .map_err(|e| ConnectError::Unreachable(format!("bad upstream URL: {e}")))?;
    set_headers(request.headers_mut(), from.headers, config, from.client_ip);
    let uri = request.uri().clone();
    let host = uri.host().unwrap_or_default();
    let port = uri
        .port_u16()
        .unwrap_or(if upstream.is_https() { 443 } else { 80 });
    let handshake = async {
        let stream = connector
            .open(host, port, upstream.is_https())
            .await
            .map_err(|e| ConnectError::Unreachable(e.to_string()))?;
        let stream: Box<dyn Io> = Box::new(stream);
        let framing = socket_config(config.limits.max_socket_message);
        tokio_tungstenite::client_async_with_config(request, stream, Some(framing))
            .await
            .map(|(socket, _)| socket)
            .map_err(|e| match e {
                tokio_tungstenite::tungstenite::Error::Http(response) => {
                    ConnectError::Refused(response)
                }
                other => ConnectError::Unreachable(format!("WebSocket handshake failed: {other}")),
            })
    };
    tokio::time::timeout(CONNECT_TIMEOUT, handshake)
        .await
        .map_err(|_| ConnectError::Timeout)?
}

/// The handshake's headers: the browser's that go on, the anon key, and
/// where the browser's connection came from.
fn set_headers(out: &mut HeaderMap, browser: &HeaderMap, config: &Config, client_ip: IpAddr) {
    for name in PASSED_ON {
        for value in browser.get_all(name) {
            out.append(HeaderName::from_static(name), value.clone());
        }
    }
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            out.insert(HeaderName::from_static(name), value);
        }
    };
    set("apikey", &config.anon_key);
    set("x-forwarded-for", &client_ip.to_string());
    set("x-forwarded-proto", config.public_url.scheme());
    if let Some(host) = browser
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
    {
        set("x-forwarded-host", host);
    }
}
