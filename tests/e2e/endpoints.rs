//! The proxy's own endpoints: session, sessions, revoke, logout scopes, health.

use crate::support;

use http::Method;
use serde_json::json;
use support::Env;

#[tokio::test]
async fn session_listing_and_revocation() {
    let env = Env::start().await;
    let (mut laptop, user_id) = env.signed_in("multi@example.com").await;
    let mut phone = env.browser();
    assert_eq!(
        phone.sign_in("multi@example.com", "pw123456").await.status,
        200
    );
    let (mut stranger, _) = env.signed_in("stranger@example.com").await;

    let me = laptop.get("/edge/v1/session").await.json();
    let list = laptop.get("/edge/v1/sessions").await;
    assert_eq!(list.status, 200);
    env.assert_no_stub_tokens(&list);
    let list = list.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let current: Vec<_> = list.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], me["id"]);
    assert_eq!(current[0]["ip"], "127.0.0.1");
    assert_ne!(
        me["id"].as_str().unwrap(),
        laptop.cookie.as_deref().unwrap(),
        "the public id is not the cookie"
    );
    let phone_id = list.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Someone else's session is not found, and nothing changes.
    let foreign = stranger
        .send(
            Method::DELETE,
            &format!("/edge/v1/sessions/{phone_id}"),
            &[],
            "",
        )
        .await;
    assert_eq!(foreign.status, 404);
    assert_eq!(phone.get("/edge/v1/session").await.status, 200);

    let revoked = laptop
        .send(
            Method::DELETE,
            &format!("/edge/v1/sessions/{phone_id}"),
            &[],
            "",
        )
        .await;
    assert_eq!(revoked.status, 200);
    assert_eq!(revoked.json(), json!({"id": phone_id}));
    assert!(
        laptop.cookie.is_some(),
        "revoking another session keeps mine"
    );
    assert_eq!(phone.get("/edge/v1/session").await.status, 401);
    assert_eq!(phone.get("/rest/v1/echo").await.json()["role"], "anon");

    let my_id = me["id"].as_str().unwrap();
    let own = laptop
        .send(
            Method::DELETE,
            &format!("/edge/v1/sessions/{my_id}"),
            &[],
            "",
        )
        .await;
    assert_eq!(own.status, 200);
    assert!(
        laptop.cookie.is_none(),
        "revoking the current session clears the cookie"
    );
    assert_eq!(laptop.get("/edge/v1/session").await.status, 401);
    support::eventually("both Auth sessions ended as well", || {
        env.stub.auth_session_ids(&user_id).is_empty()
    })
    .await;
}

#[tokio::test]
async fn logout_scopes_end_the_matching_sessions() {
    let env = Env::start().await;
    let user_id = env.stub.create_user("scopes@example.com", "pw123456");
    let mut browsers = Vec::new();
    for _ in 0..3 {
        let mut b = env.browser();
        assert_eq!(
            b.sign_in("scopes@example.com", "pw123456").await.status,
            200
        );
        browsers.push(b);
    }
    assert_eq!(env.stub.auth_session_ids(&user_id).len(), 3);

    // local: only this browser, in Auth and in the proxy
    let out = browsers[0]
        .post_json("/auth/v1/logout?scope=local", json!({}))
        .await;
    assert_eq!(out.status, 204);
    assert!(browsers[0].cookie.is_none());
    assert_eq!(out.header("cache-control"), Some("no-store"));
    assert_eq!(browsers[0].get("/edge/v1/session").await.status, 401);
    assert_eq!(browsers[1].get("/edge/v1/session").await.status, 200);
    assert_eq!(env.stub.auth_session_ids(&user_id).len(), 2);

    // others: every other browser, this one stays
    let out = browsers[1]
        .post_json("/auth/v1/logout?scope=others", json!({}))
        .await;
    assert_eq!(out.status, 204);
    assert!(browsers[1].cookie.is_some());
    assert_eq!(browsers[1].get("/edge/v1/session").await.status, 200);
    assert_eq!(browsers[2].get("/edge/v1/session").await.status, 401);
    assert_eq!(env.stub.auth_session_ids(&user_id).len(), 1);

    // global (the default): everything
    let mut again = env.browser();
    assert_eq!(
        again.sign_in("scopes@example.com", "pw123456").await.status,
        200
    );
    let out = browsers[1].post_json("/auth/v1/logout", json!({})).await;
    assert_eq!(out.status, 204);
    assert!(browsers[1].cookie.is_none());
    assert_eq!(again.get("/edge/v1/session").await.status, 401);
    assert_eq!(env.stub.auth_session_ids(&user_id).len(), 0);
}

#[tokio::test]
async fn user_calls_use_the_sessions_token() {
    let env = Env::start().await;
    let (mut browser, user_id) = env.signed_in("me@example.com").await;
    let user = browser.get("/auth/v1/user").await;
    assert_eq!(user.status, 200, "{}", user.text());
    assert_eq!(user.json()["id"], user_id.as_str());
    let updated = browser
        .send(
            Method::PUT,
            "/auth/v1/user",
            &[("content-type", "application/json")],
            json!({"data": {"nick": "m"}}).to_string(),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text());
    assert_eq!(updated.json()["user_metadata"]["nick"], "m");
}

#[tokio::test]
async fn health_and_wrong_methods() {
    let env = Env::start().await;
    let mut browser = env.browser();
    let health = browser.get("/edge/v1/health").await;
    assert_eq!(
        (health.status, health.json()["status"].clone()),
        (200, json!("ok"))
    );
    let wrong = browser
        .send(Method::POST, "/edge/v1/session", &[], "")
        .await;
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.json()["error"], "method_not_allowed");
    let anonymous = browser.get("/edge/v1/session").await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.json()["message"], "Unauthenticated");
    assert_eq!(browser.get("/edge/v1/sessions").await.status, 401);
}

#[tokio::test]
async fn idle_and_absolute_lifetimes_end_sessions() {
    for (setting, wait_ms) in [
        ("PROXY_SESSION_IDLE_TTL", 2100),
        ("PROXY_SESSION_TTL", 2100),
    ] {
        let env = Env::with(support::Setup {
            settings: vec![(setting, "2s".into())],
            ..support::Setup::default()
        })
        .await;
        let (mut browser, user_id) = env.signed_in("short@example.com").await;
        assert_eq!(
            browser.get("/edge/v1/session").await.status,
            200,
            "{setting}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(wait_ms)).await;
        let reply = browser.get("/rest/v1/echo").await;
        assert_eq!(
            reply.json()["role"],
            "anon",
            "{setting}: the expired session is not used"
        );
        assert!(browser.cookie.is_none(), "{setting}: the cookie is cleared");
        let left = env.proxy.app.sessions.list_user(&user_id).await.unwrap();
        assert!(left.is_empty(), "{setting}: the expired session is deleted");
    }
}

#[tokio::test]
async fn shutdown_closes_idle_keep_alive_connections_at_once() {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::rt::TokioIo;
    use std::time::{Duration, Instant};
    let env = Env::start().await;
    let stream = tokio::net::TcpStream::connect(env.proxy.addr)
        .await
        .unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    let request = http::Request::get("/edge/v1/health")
        .header("host", "proxy")
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();

    // The connection is idle and kept alive; shutdown closes it rather
    // than waiting out the drain timeout (10 s).
    let started = Instant::now();
    env.proxy.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "shutdown took {:?}",
        started.elapsed()
    );
    let closed = tokio::time::timeout(Duration::from_secs(2), connection).await;
    assert!(
        matches!(closed, Ok(Ok(Ok(())))),
        "the proxy closed the connection"
    );
}
