//! The proxy's metrics, served as Prometheus text on the admin listener.
//!
//! Every counter a request touches is made at start for every label
//! combination (route class × status class), so counting is one relaxed
//! atomic addition: no lock, no allocation, no label formatting on the
//! request path. Latencies go to [`Histogram`], lock-free too. The
//! registry (prometheus-client) only walks them when `/metrics` is scraped.
//! `App` holds the [`Metrics`]; the upstream client and its pool hold the
//! parts they count themselves ([`UpstreamMetrics`]).

mod histogram;
mod open_sockets;
mod realtime;
mod route_class;
mod sessions;
mod store;

pub use histogram::Histogram;
pub use realtime::FrameMetrics;
pub use route_class::{RouteClass, STATUS_CLASSES, status_index};
pub use sessions::SessionMetrics;
pub use store::{StoreFamilies, StoreMetrics, StoreOp};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

type Labels = [(&'static str, &'static str); 2];
type Label = [(&'static str, &'static str); 1];

const ROUTES: usize = RouteClass::ALL.len();
const STATUSES: usize = STATUS_CLASSES.len();

/// What the upstream client counts: connections opened and reused by its
/// pool, and how long Supabase took to answer (until the response head).
#[derive(Clone, Debug, Default)]
pub struct UpstreamMetrics {
    pub duration: Histogram,
    pub new_connections: Counter,
    pub reused_connections: Counter,
}

/// What the session cache counts: reads answered from memory, and reads
/// that went to the store (not cached, or cached too long ago with a
/// shared store).
#[derive(Clone, Debug, Default)]
pub struct CacheMetrics {
    pub hits: Counter,
    pub misses: Counter,
}

pub struct Metrics {
    registry: Registry,
    /// The upstream client's counters, registered here.
    pub upstream: UpstreamMetrics,
    /// The session service's counters, registered here.
    pub sessions: SessionMetrics,
    /// The session cache's counters, registered here.
    pub cache: CacheMetrics,
    /// The store operations' counters; [`StoreFamilies::of`] a backend.
    pub store: StoreFamilies,
    /// Realtime's frame counters, registered here.
    pub frames: FrameMetrics,
    requests: [[Counter; STATUSES]; ROUTES],
    durations: [Histogram; ROUTES],
    csrf_refused: Counter,
    rate_limited: Counter,
}

impl Metrics {
    /// The registry of every metric; [`Metrics::upstream`] goes to the upstream client.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests_family = Family::<Labels, Counter>::default();
        let requests = RouteClass::ALL.map(|route| {
            STATUS_CLASSES.map(|status| {
                requests_family.get_or_create_owned(&[("route", route.label()), ("status", status)])
            })
        });
        registry.register(
            "sbp_requests",
            "Requests answered, by route class and status class",
            requests_family,
        );
        let durations_family = Family::<Label, Histogram>::new_with_constructor(Histogram::default);
        let durations = RouteClass::ALL
            .map(|route| durations_family.get_or_create_owned(&[("route", route.label())]));
        registry.register(
            "sbp_request_duration_seconds",
            "Time from a request's head to its response's head, upstream included, by route class",
            durations_family,
        );
        let connections = Family::<Label, Counter>::default();
        let upstream = UpstreamMetrics {
            duration: Histogram::default(),
            new_connections: connections.get_or_create_owned(&[("outcome", "new")]),
            reused_connections: connections.get_or_create_owned(&[("outcome", "reused")]),
        };
        registry.register(
            "sbp_upstream_duration_seconds",
            "Time from sending a request to Supabase to its response's head",
            upstream.duration.clone(),
        );
        registry.register(
            "sbp_upstream_connections",
            "Requests sent to Supabase on a new connection or on a reused one",
            connections,
        );
        let sessions = SessionMetrics::registered(&mut registry);
        let store = StoreFamilies::registered(&mut registry);
        let frames = FrameMetrics::registered(&mut registry);
        let cache_reads = Family::<Label, Counter>::default();
        let cache = CacheMetrics {
            hits: cache_reads.get_or_create_owned(&[("outcome", "hit")]),
            misses: cache_reads.get_or_create_owned(&[("outcome", "miss")]),
        };
        registry.register(
            "sbp_session_cache_reads",
            "Session reads answered from memory (hit) or from the store (miss)",
            cache_reads,
        );
        let csrf_refused = Counter::default();
        registry.register(
            "sbp_csrf_refused",
            "Requests refused as cross-site (403 cross_site_refused)",
            csrf_refused.clone(),
        );
        let rate_limited = Counter::default();
        registry.register(
            "sbp_rate_limited",
            "Auth calls refused by the per-client rate limit (429)",
            rate_limited.clone(),
        );
        Metrics {
            registry,
            upstream,
            sessions,
            cache,
            store,
            frames,
            requests,
            durations,
            csrf_refused,
            rate_limited,
        }
    }

    /// Counts one answered request.
    #[inline]
    pub fn request(&self, route: RouteClass, status: http::StatusCode, elapsed: Duration) {
        self.requests[route.index()][status_index(status)].inc();
        self.durations[route.index()].observe(elapsed);
    }

    pub fn csrf_refused(&self) {
        self.csrf_refused.inc();
    }

    pub fn rate_limited(&self) {
        self.rate_limited.inc();
    }

    /// Reports `open` (read when scraped) as `sbp_open_sockets`.
    pub fn count_open_sockets(&mut self, open: Arc<AtomicUsize>) {
        self.registry.register(
            "sbp_open_sockets",
            "WebSockets relayed now (Realtime, and upgrades to the app), against PROXY_MAX_SOCKETS",
            open_sockets::OpenSockets(open),
        );
    }

    /// The Prometheus text format (version 0.0.4) of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
            .expect("writing to a String does not fail");
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
    }

    #[test]
    fn a_request_moves_only_its_own_route_and_status() {
        let metrics = Metrics::new();
        metrics.request(
            RouteClass::Rest,
            http::StatusCode::OK,
            Duration::from_millis(3),
        );
        metrics.request(
            RouteClass::Rest,
            http::StatusCode::OK,
            Duration::from_millis(3),
        );
        metrics.request(
            RouteClass::SignIn,
            http::StatusCode::BAD_REQUEST,
            Duration::ZERO,
        );
        let text = metrics.render();
        assert_eq!(
            line(&text, r#"sbp_requests_total{route="rest",status="2xx"}"#)
                .rsplit(' ')
                .next(),
            Some("2")
        );
        assert_eq!(
            line(&text, r#"sbp_requests_total{route="sign_in",status="4xx"}"#)
                .rsplit(' ')
                .next(),
            Some("1")
        );
        assert_eq!(
            line(&text, r#"sbp_requests_total{route="rest",status="5xx"}"#)
                .rsplit(' ')
                .next(),
            Some("0")
        );
        assert_eq!(
            line(&text, r#"sbp_request_duration_seconds_count{route="rest"}"#)
                .rsplit(' ')
                .next(),
            Some("2")
        );
        assert_eq!(
            line(
                &text,
                r#"sbp_request_duration_seconds_bucket{route="rest",le="0.005"}"#
            )
            .rsplit(' ')
            .next(),
            Some("2")
        );
        assert_eq!(
            line(
                &text,
                r#"sbp_request_duration_seconds_bucket{route="rest",le="0.0025"}"#
            )
            .rsplit(' ')
            .next(),
            Some("0")
        );
    }

    #[test]
    fn the_upstream_client_s_counters_are_the_registered_ones() {
        let metrics = Metrics::new();
        let upstream = metrics.upstream.clone();
        upstream.reused_connections.inc();
        upstream.reused_connections.inc();
        upstream.new_connections.inc();
        upstream.duration.observe(Duration::from_millis(20));
        metrics.csrf_refused();
        metrics.rate_limited();
        metrics.cache.hits.inc();
        let text = metrics.render();
        assert!(
            text.contains("sbp_upstream_connections_total{outcome=\"reused\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("sbp_upstream_connections_total{outcome=\"new\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("sbp_upstream_duration_seconds_count 1\n"),
            "{text}"
        );
        assert!(text.contains("sbp_csrf_refused_total 1\n"), "{text}");
        assert!(text.contains("sbp_rate_limited_total 1\n"), "{text}");
        assert!(
            text.contains("sbp_session_cache_reads_total{outcome=\"hit\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("sbp_session_cache_reads_total{outcome=\"miss\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE sbp_request_duration_seconds histogram\n"),
            "{text}"
        );
    }

    #[test]
    fn open_sockets_are_read_when_scraped() {
        let mut metrics = Metrics::new();
        let open = Arc::new(AtomicUsize::new(2));
        metrics.count_open_sockets(open.clone());
        assert!(metrics.render().contains("sbp_open_sockets 2\n"));
        open.store(5, std::sync::atomic::Ordering::Release);
        assert!(metrics.render().contains("sbp_open_sockets 5\n"));
    }

    #[test]
    fn refreshes_are_counted_by_outcome_and_sessions_by_fate() {
        use sbp_core::token::Refreshed;
        let metrics = Metrics::new();
        let sessions = metrics.sessions.clone();
        sessions.refreshed(&Refreshed::Failed);
        sessions.refreshed(&Refreshed::Failed);
        sessions.refreshed(&Refreshed::Revoked);
        sessions.created.inc();
        sessions.ended(sbp_core::session::EndReason::Expired, 3);
        sessions.ended(sbp_core::session::EndReason::SignOut, 1);
        let text = metrics.render();
        assert!(
            text.contains("sbp_refreshes_total{outcome=\"failed\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("sbp_refreshes_total{outcome=\"revoked\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("sbp_refreshes_total{outcome=\"fresh\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("sbp_sessions_created_total 1\n"), "{text}");
        assert!(
            text.contains("sbp_sessions_ended_total{reason=\"expired\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("sbp_sessions_ended_total{reason=\"sign_out\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("sbp_sessions_ended_total{reason=\"hook\"} 0\n"),
            "{text}"
        );
    }

    #[test]
    fn store_operations_and_errors_are_counted_by_backend_and_operation() {
        let metrics = Metrics::new();
        let redis = metrics.store.of("redis");
        let ok: Result<(), ()> = Ok(());
        let _ = redis.counted(StoreOp::Get, ok);
        let _ = redis.counted(StoreOp::Get, Err::<(), ()>(()));
        let _ = redis.counted(StoreOp::Touch, ok);
        metrics.frames.rewritten.inc();
        let text = metrics.render();
        for (series, value) in [
            (
                r#"sbp_store_operations_total{backend="redis",operation="get"}"#,
                2,
            ),
            (
                r#"sbp_store_errors_total{backend="redis",operation="get"}"#,
                1,
            ),
            (
                r#"sbp_store_operations_total{backend="redis",operation="touch"}"#,
                1,
            ),
            (
                r#"sbp_store_errors_total{backend="redis",operation="touch"}"#,
                0,
            ),
            (
                r#"sbp_store_operations_total{backend="redis",operation="insert"}"#,
                0,
            ),
            (r#"sbp_realtime_frames_total{kind="rewritten"}"#, 1),
            (r#"sbp_realtime_frames_total{kind="pushed"}"#, 0),
        ] {
            assert!(
                text.contains(&format!("{series} {value}\n")),
                "{series}: {text}"
            );
        }
        assert!(
            !text.contains(r#"backend="file""#),
            "only the backend in use: {text}"
        );
    }
}
