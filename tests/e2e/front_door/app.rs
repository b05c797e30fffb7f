//! A tiny app for the front door's tests: hyper on port 0, recording every
//! request it receives (path, headers), with a few pages that exercise
//! streaming, cookies, hop-by-hop headers and a WebSocket echo.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt, stream};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

type AppBody = BoxBody<Bytes, std::io::Error>;

/// One request as the app received it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// The path and query.
    pub target: String,
    pub headers: HeaderMap,
}

/// The running app and what it saw.
pub struct App {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Sizes of the frames of `/parts` uploads, as they arrive.
    pub upload_frames: Arc<Mutex<Option<mpsc::UnboundedReceiver<usize>>>>,
    /// Lets `/download-parts` send its second part.
    pub release: Arc<Notify>,
}

#[derive(Clone)]
struct State {
    seen: Arc<Mutex<Vec<Seen>>>,
    frames: mpsc::UnboundedSender<usize>,
    release: Arc<Notify>,
}

impl App {
    pub async fn start() -> App {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (frames, frames_rx) = mpsc::unbounded_channel();
        let state = State {
            seen: Arc::default(),
            frames,
            release: Arc::new(Notify::new()),
        };
        let app = App {
            addr,
            seen: state.seen.clone(),
            upload_frames: Arc::new(Mutex::new(Some(frames_rx))),
            release: state.release.clone(),
        };
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| answer(state.clone(), request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        app
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The last request received for `target`.
    pub fn last(&self, target: &str) -> Seen {
        self.seen()
            .into_iter()
            .rev()
            .find(|s| s.target == target)
            .unwrap_or_else(|| panic!("the app never received {target}"))
    }
}

fn whole(status: u16, body: impl Into<Bytes>) -> Response<AppBody> {
    let mut response = Response::new(
        Full::new(body.into())
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    response
}

/// `n` bytes of the pattern `i % 251`, in 64 KiB frames.
fn pattern(n: usize) -> AppBody {
    const FRAME: usize = 64 * 1024;
    let frames = stream::iter((0..n).step_by(FRAME).map(move |start| {
        let bytes: Vec<u8> = (start..(start + FRAME).min(n))
            .map(|i| (i % 251) as u8)
            .collect();
        Ok(Frame::data(Bytes::from(bytes)))
    }));
    BodyExt::boxed(StreamBody::new(frames))
}

async fn answer(
    state: State,
    request: Request<Incoming>,
) -> Result<Response<AppBody>, std::io::Error> {
    let target = request
        .uri()
        .path_and_query()
        .map_or("/".to_string(), |pq| pq.as_str().to_string());
    state.seen.lock().unwrap().push(Seen {
        target: target.clone(),
        headers: request.headers().clone(),
    });
    let path = request.uri().path().to_string();
    Ok(match path.as_str() {
        "/ws" => websocket_echo(request),
        "/upload" => {
            // Hashes the body as it arrives.
            let mut body = request.into_body();
            let (mut hash, mut bytes) = (Sha256::new(), 0usize);
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame.map_err(std::io::Error::other)?.into_data() {
                    hash.update(&data);
                    bytes += data.len();
                }
            }
            let sha: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
            whole(
                200,
                serde_json::json!({"bytes": bytes, "sha256": sha}).to_string(),
            )
        }
        "/parts" => {
            let mut body = request.into_body();
            let mut total = 0;
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame.map_err(std::io::Error::other)?.into_data() {
                    total += data.len();
                    let _ = state.frames.send(data.len());
                }
            }
            whole(200, total.to_string())
        }
        "/download" => {
            let n = request
                .uri()
                .query()
                .and_then(|q| q.strip_prefix("n="))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            Response::new(pattern(n))
        }
        "/download-parts" => {
            let release = state.release.clone();
            let parts = stream::unfold(0, move |step| {
                let release = release.clone();
                async move {
                    match step {
                        0 => Some((Ok(Frame::data(Bytes::from_static(b"first,"))), 1)),
                        1 => {
                            release.notified().await;
                            Some((Ok(Frame::data(Bytes::from_static(b"second"))), 2))
                        }
                        _ => None,
                    }
                }
            });
            Response::new(BodyExt::boxed(StreamBody::new(parts)))
        }
        "/cookies" => {
            let mut response = whole(200, "cookies");
            let headers = response.headers_mut();
            for cookie in [
                "theme=dark; Path=/",
                "sb-session=from-the-app; Path=/",
                "lang=en",
            ] {
                headers.append("set-cookie", cookie.parse().unwrap());
            }
            headers.insert("connection", "x-hop".parse().unwrap());
            headers.insert("x-hop", "1".parse().unwrap());
            headers.insert("x-app", "kept".parse().unwrap());
            headers.insert(
                "access-control-allow-origin",
                "https://partner.example".parse().unwrap(),
            );
            response
        }
        _ => whole(200, format!("app page {target}")),
    })
}

/// `101` and an echo of every frame, for `/ws`.
fn websocket_echo(request: Request<Incoming>) -> Response<AppBody> {
    let Some(key) = request.headers().get("sec-websocket-key") else {
        return whole(400, "not an upgrade");
    };
    let accept = derive_accept_key(key.as_bytes());
    tokio::spawn(async move {
        let Ok(upgraded) = hyper::upgrade::on(request).await else {
            return;
        };
        let mut ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        while let Some(Ok(message)) = ws.next().await {
            if message.is_close() || ws.send(message).await.is_err() {
                return;
            }
        }
    });
    let mut response = whole(101, Bytes::new());
    let headers = response.headers_mut();
    headers.insert("upgrade", "websocket".parse().unwrap());
    headers.insert("connection", "Upgrade".parse().unwrap());
    headers.insert("sec-websocket-accept", accept.parse().unwrap());
    response
}
