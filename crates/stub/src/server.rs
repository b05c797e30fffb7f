//! The HTTP/1.1 server: accepts connections (plain or TLS), records each
//! request, and routes it to the service that owns its path.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::record::Recorded;
use crate::request::{Req, RequestBody};
use crate::response::{StubBody, not_found};
use crate::state::Shared;
use crate::{auth, control, edge, realtime, services};

/// How much of a body a handler left unread is still read for the recorder.
const DRAIN_LIMIT: u64 = 1024 * 1024;

/// Serves until the task is aborted; aborting it also ends every connection.
/// With `tls`, every connection is TLS (https and wss).
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, tls: Option<TlsAcceptor>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let shared = shared.clone();
                    match tls.clone() {
                        None => connections.spawn(serve_connection(stream, shared)),
                        Some(tls) => connections.spawn(async move {
                            // A client that refuses the certificate just hangs up.
                            if let Ok(stream) = tls.accept(stream).await {
                                serve_connection(stream, shared).await;
                            }
                        }),
                    };
                }
                // Out of file descriptors or similar: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection<S>(stream: S, shared: Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(handle(request, &shared).await) }
    });
    // A client hanging up mid-request is no error of the stub's.
    let _ = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
}

async fn handle(request: Request<Incoming>, shared: &Arc<Shared>) -> Response<StubBody> {
    let (mut parts, incoming) = request.into_parts();
    let mut req = Req {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body: RequestBody::new(incoming),
        upgrade: parts.extensions.remove::<OnUpgrade>(),
    };
    if req.path.starts_with("/__stub/realtime/") {
        return realtime::control(shared, &mut req).await;
    }
    if req.path.starts_with("/__stub/") {
        return control::handle(shared, &mut req).await;
    }
    let seq = shared.recorder.start(Recorded {
        method: req.method.as_str().to_owned(),
        path: req.path.clone(),
        query: req.query.clone(),
        headers: req.headers.clone(),
        body: Bytes::new(),
        body_len: 0,
    });
    let response = route(shared, &mut req).await;
    let response = edge::pass(
        shared,
        under(&req.path, "/auth/v1"),
        req.header("accept-encoding"),
        response,
    )
    .await;
    req.body.drain(DRAIN_LIMIT).await;
    let (body, body_len) = req.body.captured();
    shared.recorder.finish(seq, body, body_len);
    response
}

async fn route(shared: &Arc<Shared>, req: &mut Req) -> Response<StubBody> {
    if let Err(refusal) = crate::gateway::admit(shared, req) {
        return refusal.into_response();
    }
    let path = req.path.as_str();
    if under(path, "/auth/v1") {
        auth::handle(shared, req).await
    } else if under(path, "/rest/v1") {
        services::rest::handle_with_faults(shared, req).await
    } else if under(path, "/storage/v1") {
        services::storage::handle(shared, req).await
    } else if under(path, "/functions/v1") {
        services::functions::handle(shared, req).await
    } else if under(path, "/graphql/v1") {
        services::graphql(shared, req)
    } else if req.method == http::Method::POST && under(path, "/realtime/v1/api/broadcast") {
        services::broadcast(shared, req)
    } else if path == "/realtime/v1/websocket" {
        realtime::upgrade(shared, req)
    } else if path == "/" {
        crate::response::json(
            StatusCode::OK,
            &serde_json::json!({"service": "supabase-stub"}),
        )
    } else {
        not_found()
    }
}

/// Whether `path` is `prefix` or below it.
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}
