//! Sockets and their session: a channel outlives many token lifetimes
//! because the proxy pushes fresh tokens, and a socket is closed (4001) when
//! its session is revoked, signed out or expires.

use super::support::{Browser, Env, Setup};
use super::{SOCKET, open_as, stub_saw};
use crate::support::websocket::WAIT;
use http::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_channel_stays_subscribed_across_many_token_lifetimes() {
    let env = Env::with(Setup {
        token_ttl: 8,
        ..Setup::default()
    })
    .await;
    stays_subscribed(&env, "rt-long@example.com", Duration::from_secs(26)).await;
    assert!(env.stub.refresh_count() >= 3);
}

#[tokio::test]
async fn in_mint_mode_freshly_minted_tokens_keep_the_channel() {
    let env = Env::with(Setup {
        settings: vec![
            ("PROXY_TOKEN_MODE", "mint".into()),
            (
                "SUPABASE_JWT_SECRET",
                sbp_stub::StubConfig::default().jwt_secret,
            ),
            ("PROXY_MINT_TTL", "8s".into()),
        ],
        ..Setup::default()
    })
    .await;
    stays_subscribed(&env, "rt-mint@example.com", Duration::from_secs(20)).await;
    assert_eq!(
        env.stub.refresh_count(),
        0,
        "minted, never refreshed with Auth"
    );
}

/// Joins a channel and checks, every 2 s for `duration`, that broadcasts
/// still arrive and the channel never fails; then that the proxy pushed
/// fresh tokens with its own refs.
async fn stays_subscribed(env: &Env, email: &str, duration: Duration) {
    let (browser, _) = env.signed_in(email).await;
    let mut socket = open_as(env, &browser, SOCKET).await;
    socket
        .join("6", "realtime:long", json!({"config": {}}))
        .await;
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < duration {
        tokio::time::sleep(Duration::from_secs(2)).await;
        n += 1;
        let delivered = env
            .stub
            .realtime_broadcast("realtime:long", "tick", &json!({"n": n}));
        assert_eq!(
            delivered,
            1,
            "still subscribed after {:?}",
            started.elapsed()
        );
        loop {
            let message = socket.next_json().await;
            let bad = message[3] == "phx_close" || message[4]["status"] == "error";
            assert!(
                !bad,
                "the channel failed after {:?}: {message}",
                started.elapsed()
            );
            if message[3] == "broadcast" {
                assert_eq!(message[4]["payload"]["n"], n);
                break;
            }
        }
    }
    let pushed: Vec<Value> = stub_saw(env, "access_token");
    assert!(pushed.len() >= 2, "fresh tokens were pushed: {pushed:?}");
    for push in &pushed {
        assert_eq!(
            (push[0].as_str(), push[2].as_str()),
            (Some("6"), Some("realtime:long"))
        );
        assert!(push[1].as_str().unwrap().starts_with("sbp-"), "{push}");
    }
}

async fn session_id(browser: &mut Browser) -> String {
    browser.get("/edge/v1/session").await.json()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn revoking_a_session_closes_its_sockets_and_no_other() {
    let env = Env::start().await;
    let (mut laptop, _) = env.signed_in("rt-revoke@example.com").await;
    let mut phone = env.browser();
    assert_eq!(
        phone
            .sign_in("rt-revoke@example.com", "pw123456")
            .await
            .status,
        200
    );
    let mut phone_socket = open_as(&env, &phone, SOCKET).await;
    let mut laptop_socket = open_as(&env, &laptop, SOCKET).await;
    phone_socket
        .join("6", "realtime:r", json!({"config": {}}))
        .await;
    laptop_socket
        .join("6", "realtime:r", json!({"config": {}}))
        .await;

    let phone_id = session_id(&mut phone).await;
    let path = format!("/edge/v1/sessions/{phone_id}");
    assert_eq!(
        laptop.send(Method::DELETE, &path, &[], "").await.status,
        200
    );
    let revoked = Instant::now();
    let frame = phone_socket.closed(WAIT).await.expect("a close frame");
    assert!(revoked.elapsed() < Duration::from_secs(5));
    assert_eq!(
        (u16::from(frame.code), frame.reason.as_str()),
        (4001, "session ended")
    );

    laptop_socket
        .send_text(r#"[null,"9","phoenix","heartbeat",{}]"#)
        .await;
    let reply = laptop_socket.wait_for("phoenix", "phx_reply").await;
    assert_eq!(reply[1], "9", "the other session's socket lives on");
}

#[tokio::test]
async fn signing_out_closes_the_socket() {
    let env = Env::start().await;
    let (mut browser, _) = env.signed_in("rt-logout@example.com").await;
    let mut socket = open_as(&env, &browser, SOCKET).await;
    socket
        .join("6", "realtime:out", json!({"config": {}}))
        .await;
    let reply = browser
        .post_json("/auth/v1/logout?scope=local", json!({}))
        .await;
    assert_eq!(reply.status, 204);
    let frame = socket.closed(WAIT).await.expect("a close frame");
    assert_eq!(
        (u16::from(frame.code), frame.reason.as_str()),
        (4001, "session ended")
    );
}

#[tokio::test]
async fn an_idle_session_that_expires_closes_its_socket() {
    let env = Env::with(Setup {
        settings: vec![("PROXY_SESSION_IDLE_TTL", "3s".to_string())],
        ..Setup::default()
    })
    .await;
    let (browser, _) = env.signed_in("rt-idle@example.com").await;
    let mut socket = open_as(&env, &browser, SOCKET).await;
    let frame = socket
        .closed(Duration::from_secs(8))
        .await
        .expect("a close frame");
    assert_eq!(
        (u16::from(frame.code), frame.reason.as_str()),
        (4001, "session expired")
    );
}

#[tokio::test]
async fn in_mint_mode_a_revoked_auth_session_closes_a_socket_that_is_the_only_use() {
    let env = Env::with(Setup {
        settings: vec![
            ("PROXY_TOKEN_MODE", "mint".into()),
            (
                "SUPABASE_JWT_SECRET",
                sbp_stub::StubConfig::default().jwt_secret,
            ),
            ("PROXY_MINT_TTL", "8s".into()),
            ("PROXY_MINT_CHECK", "1s".into()),
        ],
        ..Setup::default()
    })
    .await;
    let (browser, user_id) = env.signed_in("rt-mint-revoked@example.com").await;
    let mut socket = open_as(&env, &browser, SOCKET).await;
    socket
        .join("6", "realtime:minted", json!({"config": {}}))
        .await;
    env.stub.revoke_user_sessions(&user_id);
    // No HTTP request: the check comes with the re-mint, 6 s after sign-in.
    let frame = socket
        .closed(Duration::from_secs(10))
        .await
        .expect("a close frame");
    assert_eq!(
        (u16::from(frame.code), frame.reason.as_str()),
        (4001, "session ended")
    );
    let mut browser = browser;
    assert_eq!(browser.get("/edge/v1/session").await.status, 401);
}
