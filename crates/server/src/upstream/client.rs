//! The client to the Supabase project: a connection pool (TLS with the
//! shared client configuration of [`crate::tls`], through
//! [`crate::connect`]), the headers every upstream request carries, and the
//! response timeout.

use super::OnLane;
use crate::access_log::UpstreamTime;
use crate::body::{Body, read_decoded};
use crate::connect::{Connector, Origin};
use crate::metrics::{Histogram, UpstreamMetrics};
use crate::pool::{Pool, PooledBody, SendError, describe};
use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::Either;
use http::header::{ACCEPT_ENCODING, HOST, HeaderValue};
use http::{Request, Response};
use sbp_core::ProxyError;
use sbp_core::config::UpstreamUrl;
use sbp_core::token::ApiKeyKind;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A response from Supabase, its body streamed from a pooled connection.
pub type UpstreamResponse = Response<PooledBody<Body>>;

pub struct Upstream {
    pool: Arc<Pool<Body>>,
    url: UpstreamUrl,
    /// `Host` for every upstream request.
    host: HeaderValue,
    /// `apikey: <anon key>`.
    pub apikey: HeaderValue,
    /// `Authorization: Bearer <anon key>`.
    pub anon_bearer: HeaderValue,
    /// Which kind of key `SUPABASE_ANON_KEY` is: where `anon_bearer` goes.
    pub anon_key_kind: ApiKeyKind,
    /// How long Supabase may take to send response headers.
    response_timeout: Duration,
    /// How long it took (`sbp_upstream_duration_seconds`).
    duration: Histogram,
}

fn header_value(what: &str, value: &str) -> Result<HeaderValue, crate::Error> {
    HeaderValue::from_str(value)
        .map_err(|_| crate::Error::Upstream(format!("{what} is not a valid header value")))
}

impl Upstream {
    pub fn new(
        url: UpstreamUrl,
        anon_key: &str,
        response_timeout: Duration,
        tls: Arc<rustls::ClientConfig>,
        metrics: UpstreamMetrics,
    ) -> Result<Upstream, crate::Error> {
        let origin = Origin::of(&url, Connector::from(tls))?;
        Ok(Upstream {
            duration: metrics.duration.clone(),
            pool: Pool::new(origin, metrics),
            host: header_value("SUPABASE_URL's host", url.authority())?,
            apikey: header_value("SUPABASE_ANON_KEY", anon_key)?,
            anon_bearer: header_value("SUPABASE_ANON_KEY", &format!("Bearer {anon_key}"))?,
            anon_key_kind: ApiKeyKind::of(anon_key),
            url,
            response_timeout,
        })
    }

    pub fn authority(&self) -> &str {
        self.url.authority()
    }

    /// Closes upstream connections left idle past their expiry.
    pub fn close_expired(&self) {
        self.pool.close_expired();
    }

    /// Sends a request whose URI is a path and query, on a browser
    /// connection's `lane` when given (so awaited inside `Lane::drive`);
    /// an unreachable or silent upstream is a proxy error, never a hang.
    /// The time to the response's head is observed, and recorded in
    /// `took` when given (the access log's, timed by the same clock reads).
    /// Not an `async fn`: the future holds the request's future once,
    /// rather than beside a copy of its arguments.
    pub fn send<'a>(
        &'a self,
        lane: Option<OnLane<'a>>,
        mut request: Request<Body>,
        took: Option<&'a UpstreamTime>,
    ) -> impl Future<Output = Result<UpstreamResponse, ProxyError>> + Send + 'a {
        request.headers_mut().insert(HOST, self.host.clone());
        let started = Instant::now();
        let sent = self.pool.send(lane, request);
        let limit = self.response_timeout;
        let answered = match lane {
            Some(lane) => Either::Left(lane.within(limit, sent)),
            // The proxy's own calls: rare, boxed.
            None => Either::Right(Box::pin(async move {
                tokio::time::timeout(limit, sent).await.ok()
            })),
        };
        answered.map(move |answered| {
            let elapsed = started.elapsed();
            self.duration.observe(elapsed);
            if let Some(took) = took {
                took.record(elapsed);
            }
            match answered {
                Some(Ok(response)) => Ok(response),
                Some(Err(SendError::Connect(e))) => {
                    tracing::warn!(error = %e, "cannot connect to Supabase");
                    Err(ProxyError::UpstreamUnavailable(e))
                }
                Some(Err(SendError::Http(e))) => {
                    tracing::warn!(error = %describe(&e), "upstream request failed");
                    Err(ProxyError::UpstreamUnavailable(describe(&e)))
                }
                None => Err(ProxyError::UpstreamTimeout),
            }
        })
    }

    /// Sends a small JSON request the proxy makes itself (a refresh, a
    /// logout) with the anon `apikey`, asking for no content coding, and
    /// reads the answer (decoded if it came encoded anyway), at most `limit` bytes.
    pub async fn call(
        &self,
        mut request: Request<Body>,
        limit: usize,
    ) -> Result<(http::response::Parts, Bytes), ProxyError> {
        let headers = request.headers_mut();
        headers.insert("apikey", self.apikey.clone());
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
        let (mut parts, body) = self.send(None, request, None).await?.into_parts();
        let bytes = read_decoded(&mut parts, body, limit).await?;
        Ok((parts, bytes))
    }
}
