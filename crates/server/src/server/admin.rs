//! The admin listener (`PROXY_ADMIN_LISTEN`), on its own address and task,
//! never on the public listener: `GET /metrics` (Prometheus text),
//! `GET /livez` (200 while the process answers) and `GET /readyz` (200
//! once Auth answered its health check at start-up, while the store
//! answers a ping and the proxy is not draining; 503 with the reason
//! otherwise). Anything else is 404.
//!
//! It holds the app weakly: a worker's drain waits for everything else to
//! let go of the app, and the admin listener lives on until the workers are
//! done (it reports the drain), so a strong hold would make every drain
//! wait for its timeout.

use crate::app::App;
use crate::body::empty;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header::CONTENT_TYPE};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The first wait between Auth health checks, doubled after each failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between Auth health checks.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long a scraper may take to send a request's head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of Auth's health answer is read.
const HEALTH_ANSWER_LIMIT: usize = 16 * 1024;

/// What readiness depends on besides the store.
struct Readiness {
    /// Auth answered `GET /auth/v1/health` once since start.
    auth_reached: AtomicBool,
    /// The public listeners' stop signal: set, the proxy is draining.
    draining: watch::Receiver<bool>,
}

/// Serves `listener` until `stop` fires, with a background check of Auth;
/// `draining` is the public listeners' stop signal.
pub fn start(
    listener: TcpListener,
    app: Arc<App>,
    draining: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let readiness = Arc::new(Readiness {
        auth_reached: AtomicBool::new(false),
        draining,
    });
    let app = Arc::downgrade(&app);
    tokio::spawn(probe_auth(app.clone(), readiness.clone(), stop.clone()));
    tokio::spawn(serve(listener, app, readiness, stop))
}

async fn serve(
    listener: TcpListener,
    app: Weak<App>,
    readiness: Arc<Readiness>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "admin listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let (app, readiness, mut stop) = (app.clone(), readiness.clone(), stop.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let (app, readiness) = (app.clone(), readiness.clone());
                async move {
                    let response = match app.upgrade() {
                        Some(app) => answer(&app, &readiness, request).await,
                        None => text(StatusCode::SERVICE_UNAVAILABLE, "not ready: stopped\n"),
                    };
                    Ok::<_, std::convert::Infallible>(response)
                }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let mut connection = pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "admin connection ended with an error");
            }
        });
    }
}

async fn answer<B>(app: &App, readiness: &Readiness, request: Request<B>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET {
        return text(StatusCode::NOT_FOUND, "not found\n");
    }
    match request.uri().path() {
        "/metrics" => {
            let mut response = text(StatusCode::OK, app.metrics.render());
            response.headers_mut().insert(
                CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        "/livez" => text(StatusCode::OK, "ok\n"),
        "/readyz" => match not_ready(app, readiness).await {
            None => text(StatusCode::OK, "ready\n"),
            Some(why) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {why}\n"),
            ),
        },
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// Why the proxy is not ready, if it is not.
async fn not_ready(app: &App, readiness: &Readiness) -> Option<&'static str> {
    if *readiness.draining.borrow() {
        return Some("draining");
    }
    if !readiness.auth_reached.load(Ordering::Acquire) {
        return Some("Auth not reached yet");
    }
    match app.sessions.ping().await {
        Ok(()) => None,
        Err(e) => {
            tracing::warn!(error = %e, "readiness: store unavailable");
            Some("store unavailable")
        }
    }
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Asks Auth's health endpoint until it answers 2xx once, backing off.
async fn probe_auth(app: Weak<App>, readiness: Arc<Readiness>, mut stop: watch::Receiver<bool>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let Some(app) = app.upgrade() else { return };
        let request = Request::get("/auth/v1/health")
            .body(empty())
            .expect("a constant request is valid");
        let answered = tokio::select! {
            answered = app.upstream.call(request, HEALTH_ANSWER_LIMIT) => answered,
            _ = stop.changed() => return,
        };
        match answered {
            Ok((parts, _)) if parts.status.is_success() => {
                readiness.auth_reached.store(true, Ordering::Release);
                tracing::info!("Auth is reachable");
                return;
            }
            Ok((parts, _)) => tracing::warn!(status = %parts.status, "Auth health check failed"),
            Err(e) => tracing::warn!(error = %e, "Auth health check failed"),
        }
        drop(app);
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
