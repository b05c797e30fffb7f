//! The admin listener (`PROXY_ADMIN_LISTEN`): metrics, liveness and
//! readiness on their own address, never on the public one; the counters
//! move by exactly the requests sent; readiness follows the store and the
//! drain after the stop signal.

use crate::support::http::{full, http_client};
use crate::support::websocket::session_socket;
use crate::support::{Env, RedisServer, Setup, eventually};
use bytes::Bytes;
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// A proxy with the admin listener on a free port (and `extra` settings).
async fn with_admin(extra: Vec<(&'static str, String)>) -> Env {
    let mut settings = vec![("PROXY_ADMIN_LISTEN", "127.0.0.1:0".to_string())];
    settings.extend(extra);
    Env::with(Setup {
        settings,
        ..Setup::default()
    })
    .await
}

fn admin(env: &Env) -> SocketAddr {
    env.proxy.admin_addr.expect("the admin listener is on")
}

/// `GET path` on `addr`: the status, the `Content-Type` and the body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let request = http::Request::get(format!("http://{addr}{path}"))
        .body(full(Bytes::new()))
        .unwrap();
    let response = http_client().request(request).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// The value of the sample named exactly `series` (name and labels).
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
        .parse()
        .unwrap()
}

/// The labels of `sbp_sessions_ended_total{reason}`.
const END_REASONS: [&str; 7] = [
    "sign_out",
    "replaced",
    "revoked",
    "admin",
    "auth_ended",
    "hook",
    "expired",
];

fn ended(reason: &str) -> String {
    format!("sbp_sessions_ended_total{{reason=\"{reason}\"}}")
}

/// Operations of the test environment's (memory) store.
fn store_ops(operation: &str) -> String {
    format!("sbp_store_operations_total{{backend=\"memory\",operation=\"{operation}\"}}")
}

async fn metrics(env: &Env) -> String {
    let (status, _, body) = get(admin(env), "/metrics").await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn readiness(addr: SocketAddr) -> (u16, String) {
    let (status, _, body) = get(addr, "/readyz").await;
    (status, body)
}

async fn until_ready(addr: SocketAddr) {
    for _ in 0..500 {
        if readiness(addr).await.0 == 200 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("not ready: {:?}", readiness(addr).await);
}

#[tokio::test]
async fn the_admin_listener_answers_metrics_liveness_and_readiness_and_nothing_else() {
    let env = with_admin(vec![]).await;
    let addr = admin(&env);
    assert_ne!(addr, env.proxy.addr);
    assert_eq!(get(addr, "/livez").await.0, 200);
    until_ready(addr).await;
    assert!(
        env.stub.count("GET", "/auth/v1/health") >= 1,
        "Auth was asked"
    );
    let (status, content_type, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(
        body.contains("# TYPE sbp_requests_total counter\n"),
        "{body}"
    );
    assert!(
        body.contains("# TYPE sbp_upstream_duration_seconds histogram\n"),
        "{body}"
    );
    for path in ["/", "/edge/v1/health", "/metrics/", "/rest/v1/todos"] {
        assert_eq!(get(addr, path).await.0, 404, "{path}");
    }
}

#[tokio::test]
async fn the_public_listener_serves_no_metrics_nor_admin_health() {
    let env = with_admin(vec![]).await;
    for path in ["/metrics", "/livez", "/readyz"] {
        let (status, _, body) = get(env.proxy.addr, path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(!body.contains("sbp_"), "{path}: {body}");
    }
    // The public health check keeps its meaning.
    let (status, _, body) = get(env.proxy.addr, "/edge/v1/health").await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
}

#[tokio::test]
async fn without_the_setting_there_is_no_admin_listener() {
    let env = Env::start().await;
    assert_eq!(env.proxy.admin_addr, None);
}

#[tokio::test]
async fn the_counters_move_by_exactly_what_was_sent() {
    let env = with_admin(vec![]).await;
    until_ready(admin(&env)).await;
    let before = metrics(&env).await;
    let mut anonymous = env.browser();
    for _ in 0..3 {
        assert_eq!(anonymous.get("/rest/v1/todos").await.status, 200);
    }
    assert_eq!(anonymous.get("/edge/v1/nothing-here").await.status, 404);
    let (mut browser, _) = env.signed_in("metrics@example.com").await;
    assert_eq!(browser.get("/edge/v1/session").await.status, 200);
    let after = metrics(&env).await;
    let moved = |series: &str| sample(&after, series) - sample(&before, series);
    let requests = |route: &str, status: &str| {
        moved(&format!(
            "sbp_requests_total{{route=\"{route}\",status=\"{status}\"}}"
        ))
    };
    assert_eq!(requests("rest", "2xx"), 3.0);
    assert_eq!(requests("rest", "4xx"), 0.0);
    assert_eq!(requests("other", "4xx"), 1.0);
    assert_eq!(requests("sign_in", "2xx"), 1.0);
    assert_eq!(requests("edge", "2xx"), 1.0);
    assert_eq!(moved("sbp_sessions_created_total"), 1.0);
    for reason in END_REASONS {
        assert_eq!(moved(&ended(reason)), 0.0, "{reason}");
    }
    // The sign-in stored its session; /edge/v1/session read it from memory.
    assert_eq!(moved(&store_ops("insert")), 1.0);
    assert_eq!(moved(&store_ops("get")), 0.0);
    // The session was read once, for /edge/v1/session, from memory.
    assert_eq!(
        moved(r#"sbp_session_cache_reads_total{outcome="hit"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"sbp_session_cache_reads_total{outcome="miss"}"#),
        0.0
    );
    assert_eq!(
        moved(r#"sbp_request_duration_seconds_count{route="rest"}"#),
        3.0
    );
    assert_eq!(
        moved(r#"sbp_request_duration_seconds_count{route="sign_in"}"#),
        1.0
    );
    // Three REST calls and the sign-in went to Supabase, each on a new or
    // a reused connection.
    assert_eq!(moved("sbp_upstream_duration_seconds_count"), 4.0);
    let connections = moved(r#"sbp_upstream_connections_total{outcome="new"}"#)
        + moved(r#"sbp_upstream_connections_total{outcome="reused"}"#);
    assert_eq!(connections, 4.0);
    assert!(
        moved(r#"sbp_upstream_connections_total{outcome="reused"}"#) >= 2.0,
        "one browser connection's requests reuse its upstream connection"
    );
}

#[tokio::test]
async fn a_logout_ends_one_session_in_the_counters() {
    let env = with_admin(vec![]).await;
    let (mut browser, _) = env.signed_in("logout-metrics@example.com").await;
    let before = metrics(&env).await;
    let logout = browser
        .post_json("/auth/v1/logout?scope=local", serde_json::json!({}))
        .await;
    assert_eq!(logout.status, 204, "{}", logout.text());
    let after = metrics(&env).await;
    let moved = |series: &str| sample(&after, series) - sample(&before, series);
    for reason in END_REASONS {
        let expected = if reason == "sign_out" { 1.0 } else { 0.0 };
        assert_eq!(moved(&ended(reason)), expected, "{reason}");
    }
    assert_eq!(moved(&store_ops("remove")), 1.0);
    assert_eq!(
        moved(r#"sbp_requests_total{route="account",status="2xx"}"#),
        1.0
    );
}

#[tokio::test]
async fn readiness_is_503_while_the_store_is_down_and_200_after() {
    let mut redis = RedisServer::start();
    let env = with_admin(vec![("PROXY_SESSION_STORE", redis.url())]).await;
    let addr = admin(&env);
    until_ready(addr).await;
    redis.kill();
    let mut down = None;
    for _ in 0..200 {
        let (status, body) = readiness(addr).await;
        if status == 503 {
            down = Some(body);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(down.as_deref(), Some("not ready: store unavailable\n"));
    let text = metrics(&env).await;
    let ping = |family: &str| {
        sample(
            &text,
            &format!("{family}{{backend=\"redis\",operation=\"ping\"}}"),
        )
    };
    assert!(ping("sbp_store_errors_total") >= 1.0, "{text}");
    assert!(
        ping("sbp_store_operations_total") > ping("sbp_store_errors_total"),
        "{text}"
    );
    assert_eq!(get(addr, "/livez").await.0, 200, "alive all the same");
    redis.restart();
    until_ready(addr).await;
}

#[tokio::test]
async fn readiness_goes_503_at_the_stop_signal_while_requests_drain() {
    let env = with_admin(vec![]).await;
    let addr = admin(&env);
    until_ready(addr).await;
    env.stub
        .faults()
        .rest_delay_ms
        .store(1_000, Ordering::SeqCst);
    let stub = &env.stub;
    let send = || {
        let mut browser = env.browser();
        tokio::spawn(async move { browser.get("/rest/v1/todos").await.status })
    };
    let reached = |n: usize| {
        eventually("the request reached Supabase", move || {
            stub.count("GET", "/rest/v1/todos") == n
        })
    };
    let in_flight = send();
    reached(1).await;
    // A second request, answered 0.5 s after the first, keeps the drain
    // (and with it the admin listener) going past the first one's answer.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later = send();
    reached(2).await;
    let _ = env.proxy.stopper().send(true);
    assert_eq!(
        readiness(addr).await,
        (503, "not ready: draining\n".to_string())
    );
    assert!(!in_flight.is_finished(), "the request is still in flight");
    assert_eq!(
        in_flight.await.unwrap(),
        200,
        "the request in flight is served"
    );
    assert_eq!(
        readiness(addr).await.0,
        503,
        "still not ready once it is served"
    );
    assert_eq!(later.await.unwrap(), 200, "the later request is served too");
    // Nothing holds the drain beyond the request in flight (the admin
    // listener, which outlives it, once made every worker wait 10 s).
    let stopping = Instant::now();
    env.proxy.wait().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "the proxy took {:?} to stop once its requests were served",
        stopping.elapsed()
    );
}

#[tokio::test]
async fn realtime_frames_the_proxy_rewrites_are_counted() {
    let env = with_admin(vec![]).await;
    let (_browser, cookie) = env.signed_in("frames@example.com").await;
    let before = metrics(&env).await;
    let mut socket = session_socket(env.proxy.addr, &cookie, "realtime:frames").await;
    socket
        .send_text(r#"["1","2","realtime:frames","access_token",{"access_token":"client"}]"#)
        .await;
    let frames = |text: &str, kind: &str| {
        sample(
            text,
            &format!("sbp_realtime_frames_total{{kind=\"{kind}\"}}"),
        )
    };
    let before = frames(&before, "rewritten");
    let env = &env;
    let mut after = String::new();
    for _ in 0..100 {
        after = metrics(env).await;
        if frames(&after, "rewritten") - before >= 2.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        frames(&after, "rewritten") - before,
        2.0,
        "the join and the client's token push, each with the session's token: {after}"
    );
    assert_eq!(sample(&after, "sbp_open_sockets"), 1.0);
}
