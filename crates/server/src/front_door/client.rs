//! The HTTP/1.1 client to the app: hyper's pooled client over the proxy's
//! own connector ([`crate::connect`]: TCP, then TLS for an `https` app),
//! with connection upgrades (WebSockets) allowed.

use crate::body::Body;
use crate::connect::{Connector, OpenError, Origin, Stream};
use http::Uri;
use http::uri::{Authority, PathAndQuery, Scheme};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use sbp_core::config::UpstreamUrl;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// How long an idle connection to the app is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Opens connections to the app's one origin, whatever the URI says.
#[derive(Clone)]
struct AppConnector(Arc<Origin>);

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl tower_service::Service<Uri> for AppConnector {
    type Response = TokioIo<Stream>;
    type Error = OpenError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, OpenError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), OpenError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let origin = self.0.clone();
        Box::pin(async move {
            let stream = origin
                .connector
                .open(&origin.host, origin.port, origin.tls)
                .await?;
            Ok(TokioIo::new(stream))
        })
    }
}

/// The client to the app.
pub struct AppClient {
    client: Client<AppConnector, Body>,
    scheme: Scheme,
    authority: Authority,
}

impl AppClient {
    pub fn new(
        url: &UpstreamUrl,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<AppClient, crate::Error> {
        let invalid = || crate::Error::Upstream("PROXY_APP_URL is not a valid URL".into());
        let authority: Authority = url.authority().parse().map_err(|_| invalid())?;
        let tls_on = url.is_https();
        let origin = Origin {
            connector: Connector::from(tls),
            host: authority.host().to_string(),
            port: authority
                .port_u16()
                .unwrap_or(if tls_on { 443 } else { 80 }),
            tls: tls_on,
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .build(AppConnector(Arc::new(origin)));
        let scheme = if tls_on { Scheme::HTTPS } else { Scheme::HTTP };
        Ok(AppClient {
            client,
            scheme,
            authority,
        })
    }

    /// The app's URI for a browser's path and query.
    pub fn uri(&self, path_and_query: Option<&PathAndQuery>) -> Uri {
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(
            path_and_query
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
        );
        Uri::from_parts(parts).unwrap_or_else(|_| Uri::from_static("/"))
    }

    /// Sends `request` (its URI from [`AppClient::uri`]); the error says
    /// why the app gave no answer.
    pub async fn send(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<Incoming>, String> {
        self.client.request(request).await.map_err(|e| {
            use std::error::Error;
            let mut text = e.to_string();
            let mut source = e.source();
            while let Some(cause) = source {
                text = format!("{text}: {cause}");
                source = cause.source();
            }
            text
        })
    }
}
