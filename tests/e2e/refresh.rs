//! Server-side refresh of the upstream token: once per session, even under
//! concurrency; Auth's refusal ends the session; Auth's failure degrades.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;
use support::{Env, Setup};

/// Stub tokens live 8 s, so the refresh margin (a quarter: 2 s) starts at 6 s.
async fn short_lived() -> Env {
    Env::with(Setup {
        token_ttl: 8,
        ..Setup::default()
    })
    .await
}

fn token_sub(reply: &support::Reply) -> (String, String) {
    let echo = reply.json();
    (
        echo["role"].as_str().unwrap_or("").to_string(),
        echo["claims"]["session_id"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    )
}

#[tokio::test]
async fn fifty_concurrent_requests_after_expiry_cause_one_refresh() {
    let env = short_lived().await;
    let (browser, _) = env.signed_in("many@example.com").await;
    let cookie = browser.cookie.clone().unwrap();
    let before = browser.cookie.clone();
    tokio::time::sleep(Duration::from_secs(8)).await; // the access token has expired
    env.stub
        .faults()
        .refresh_delay_ms
        .store(300, Ordering::SeqCst);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let mut b = env.browser();
            b.cookie = Some(cookie.clone());
            tokio::spawn(async move { b.get("/rest/v1/echo").await })
        })
        .collect();
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(
            token_sub(&reply).0,
            "authenticated",
            "a fresh, valid token was used"
        );
        env.assert_no_stub_tokens(&reply);
    }
    assert_eq!(env.stub.refresh_count(), 1);
    assert_eq!(before, browser.cookie, "refresh does not change the cookie");
}

#[tokio::test]
async fn a_refused_refresh_ends_the_session_and_the_request_goes_on_anonymous() {
    let env = short_lived().await;
    let (mut browser, user_id) = env.signed_in("revoked@example.com").await;
    env.stub.revoke_user_sessions(&user_id);
    tokio::time::sleep(Duration::from_millis(6500)).await; // inside the refresh margin
    let reply = browser.get("/rest/v1/echo").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["role"], "anon");
    assert!(browser.cookie.is_none(), "the cookie is cleared");
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(browser.get("/edge/v1/session").await.status, 401);
}

#[tokio::test]
async fn a_failing_auth_keeps_the_valid_token_then_answers_503() {
    let env = short_lived().await;
    let (mut browser, user_id) = env.signed_in("flaky@example.com").await;
    env.stub
        .faults()
        .refresh_status
        .store(500, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(6500)).await; // in the margin, still valid
    let reply = browser.get("/rest/v1/echo").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["sub"], user_id.as_str());
    tokio::time::sleep(Duration::from_millis(2000)).await; // now expired
    let reply = browser.get("/rest/v1/echo").await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json()["error"], "refresh_unavailable");
    assert!(
        browser.cookie.is_some(),
        "the session is kept for when Auth is back"
    );

    env.stub.faults().refresh_status.store(0, Ordering::SeqCst);
    let reply = browser.get("/rest/v1/echo").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["sub"], user_id.as_str());
}
