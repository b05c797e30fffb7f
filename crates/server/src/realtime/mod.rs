//! Realtime through the proxy: `GET /realtime/v1/websocket` relayed to
//! Supabase frame by frame, with the session's token written into the
//! frames, kept fresh while the socket is open, and the socket closed when
//! its session ends.
//!
//! [`Upgrade::check`] refuses bad upgrades, foreign origins and sockets
//! beyond `PROXY_MAX_SOCKETS` before any work; [`Upgrade::accept`] opens
//! the socket to Supabase first (so a refusal or an unreachable Supabase is
//! an HTTP answer), answers `101` and hands both sockets to the relay task.

mod framing;
mod keeper;
mod relay;
mod slots;
mod sockets;
mod state;
mod upstream;

pub use keeper::SessionLink;
use sockets::SessionSockets;

use crate::body::{Body, empty, full};
use crate::connect::Connector;
use crate::metrics::FrameMetrics;
use crate::session::{AuthApi, SessionService};
use crate::store::CachedStore;
use framing::socket_config;
use http::header::{CONNECTION, CONTENT_TYPE, COOKIE, ORIGIN, SEC_WEBSOCKET_ACCEPT, UPGRADE};
use http::{HeaderValue, Response, StatusCode, request};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use sbp_core::ProxyError;
use sbp_core::config::Config;
use sbp_core::http::has_cookie;
use sbp_core::realtime::anonymous_token;
use sbp_core::realtime::handshake::{check_origin, websocket_key};
use sbp_core::session::SessionKey;
pub use slots::SocketSlot;
use slots::SocketSlots;
use state::SocketState;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use upstream::{BrowserSide, ConnectError};

/// Realtime's share of the shared state.
pub struct Realtime {
    config: Arc<Config>,
    /// Sockets by session, to close them when the session ends.
    sockets: Arc<SessionSockets>,
    /// The count of relayed sockets, against `PROXY_MAX_SOCKETS`.
    slots: SocketSlots,
    /// For `wss://` upstreams.
    tls: Connector,
    frames: FrameMetrics,
}

impl Realtime {
    /// Realtime for `config`, closing the sockets of the sessions
    /// announced on `ended` (the session service's ended sessions).
    pub fn new(
        config: Arc<Config>,
        tls: Arc<rustls::ClientConfig>,
        ended: broadcast::Receiver<SessionKey>,
    ) -> Realtime {
        Realtime {
            config,
            sockets: Arc::new(SessionSockets::following(ended)),
            slots: SocketSlots::default(),
            tls: Connector::from(tls),
            frames: FrameMetrics::default(),
        }
    }

    /// Counts the frames its sockets change into `frames` (registered ones).
    pub fn counted(self, frames: FrameMetrics) -> Realtime {
        Realtime { frames, ..self }
    }
}

impl Realtime {
    /// A place among the `PROXY_MAX_SOCKETS` relayed sockets, for a socket
    /// relayed elsewhere (the front door's upgrades to the app).
    pub fn take_slot(&self) -> Option<SocketSlot> {
        self.slots.take(self.config.limits.max_sockets)
    }

    /// Closes every relayed socket, open or opened from now on: the proxy stops.
    pub fn close_all(&self) {
        self.slots.close_all();
    }

    /// The count of open relayed sockets (Realtime's and the app's upgrades).
    pub fn open_sockets(&self) -> Arc<std::sync::atomic::AtomicUsize> {
        self.slots.counter()
    }
}

/// An upgrade request that passed the checks, not answered yet.
pub struct Upgrade {
    accept_key: String,
    on_upgrade: OnUpgrade,
    slot: SocketSlot,
}

impl Upgrade {
    /// Refuses a foreign `Origin` (see `sbp_core::realtime::handshake`),
    /// malformed upgrades and a socket beyond `PROXY_MAX_SOCKETS`; takes the
    /// connection's upgrade handle and a socket slot.
    pub fn check(realtime: &Realtime, parts: &mut request::Parts) -> Result<Upgrade, ProxyError> {
        let config = &realtime.config;
        let headers = &parts.headers;
        let origin = headers.get(ORIGIN).map(|v| v.to_str().unwrap_or(""));
        let cookies = headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok());
        check_origin(config, origin, has_cookie(cookies, &config.cookie_name))?;
        let accept_key = derive_accept_key(websocket_key(headers)?.as_bytes());
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or_else(|| ProxyError::BadRequest("this connection cannot be upgraded".into()))?;
        let slot = realtime
            .slots
            .take(config.limits.max_sockets)
            .ok_or(ProxyError::TooManySockets)?;
        Ok(Upgrade {
            accept_key,
            on_upgrade,
            slot,
        })
    }

    /// Opens the socket to Supabase, answers `101` and relays in a task,
    /// keeping the session's token fresh through `sessions`. Without a
    /// session the socket carries the anon key (in joins too, when it is a
    /// JWT).
    pub async fn accept<S: CachedStore, A: AuthApi>(
        self,
        realtime: &Realtime,
        sessions: Arc<SessionService<S, A>>,
        parts: &request::Parts,
        client_ip: IpAddr,
        link: Option<SessionLink>,
    ) -> Result<Response<Body>, ProxyError> {
        let config = realtime.config.clone();
        let browser_side = BrowserSide {
            headers: &parts.headers,
            query: parts.uri.query(),
            client_ip,
        };
        let connected = upstream::connect(&config, &realtime.tls, browser_side).await;
        let upstream = match connected {
            Ok(connected) => connected,
            Err(e) => return refusal(e),
        };
        let mut response = Response::new(empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(accept) = HeaderValue::from_str(&self.accept_key) {
            headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
        }
        let token = match &link {
            Some(link) => Some(link.session.tokens.access_token.clone()),
            None => anonymous_token(&config.anon_key).map(str::to_string),
        };
        let Upgrade {
            on_upgrade, slot, ..
        } = self;
        let sockets = realtime.sockets.clone();
        let frames = realtime.frames.clone();
        tokio::spawn(async move {
            let mut slot = slot;
            match on_upgrade.await {
                Ok(upgraded) => {
                    let io = TokioIo::new(upgraded);
                    let framing = socket_config(config.limits.max_socket_message);
                    let browser =
                        WebSocketStream::from_raw_socket(io, Role::Server, Some(framing)).await;
                    let state = SocketState::new(token).counted(frames);
                    let ends = relay::Ends {
                        session_end: keeper::keep(&sessions, &sockets, link, &state),
                        stopping: slot.stopping(),
                        idle_timeout: Duration::from_secs(config.limits.socket_idle_timeout),
                    };
                    relay::run(browser, upstream, &state, ends).await;
                }
                Err(e) => tracing::debug!(error = %e, "realtime: the browser's upgrade failed"),
            }
        });
        Ok(response)
    }
}

/// The answer when Supabase's socket could not be opened.
fn refusal(error: ConnectError) -> Result<Response<Body>, ProxyError> {
    tracing::warn!(error = %error, "realtime: cannot open the socket to Supabase");
    match error {
        ConnectError::Refused(answer) => {
            let (parts, body) = answer.into_parts();
            let mut response = Response::new(full(body.unwrap_or_default()));
            *response.status_mut() = parts.status;
            if let Some(content_type) = parts.headers.get(CONTENT_TYPE) {
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, content_type.clone());
            }
            Ok(response)
        }
        ConnectError::Unreachable(cause) => Err(ProxyError::UpstreamUnavailable(cause)),
        ConnectError::Timeout => Err(ProxyError::UpstreamTimeout),
    }
}
