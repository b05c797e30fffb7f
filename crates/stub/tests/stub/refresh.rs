//! The refresh-token grant: rotation, reuse detection, the reuse interval,
//! serialised concurrent refreshes and injected faults.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::json;

use crate::client::{claims, start, start_default};
use sbp_stub::StubConfig;

#[tokio::test]
async fn rotation_keeps_the_session_and_replay_kills_it() {
    let (stub, client) = start_default().await;
    let first = client.sign_up("ivy@example.com").await;
    let user_id = first["user"]["id"].as_str().expect("id").to_owned();
    let session = claims(first["access_token"].as_str().expect("jwt"))["session_id"].clone();
    let rt1 = first["refresh_token"].as_str().expect("rt");

    let second = client.refresh(rt1).await.json();
    let rt2 = second["refresh_token"].as_str().expect("rt");
    assert_ne!(rt1, rt2);
    assert_eq!(
        claims(second["access_token"].as_str().expect("jwt"))["session_id"],
        session
    );
    assert_eq!(stub.refresh_count(), 1);

    let replay = client.refresh(rt1).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert_eq!(replay.json()["code"], "refresh_token_already_used");
    assert_eq!(
        replay.header("x-sb-error-code"),
        Some("refresh_token_already_used")
    );
    assert!(stub.auth_session_ids(&user_id).is_empty());

    // The whole family is gone, the child included.
    let child = client.refresh(rt2).await;
    assert_eq!(child.json()["code"], "refresh_token_not_found");
    assert_eq!(
        child.json()["message"],
        "Invalid Refresh Token: Refresh Token Not Found"
    );
    assert_eq!(stub.refresh_count(), 3);
}

#[tokio::test]
async fn replay_within_the_reuse_interval_gets_the_same_child() {
    let (stub, client) = start(StubConfig {
        refresh_reuse_interval: 10,
        ..StubConfig::default()
    })
    .await;
    let first = client.sign_up("jay@example.com").await;
    let rt1 = first["refresh_token"].as_str().expect("rt");
    let child = client.refresh(rt1).await.json();
    let again = client.refresh(rt1).await.json();
    assert_eq!(again["refresh_token"], child["refresh_token"]);
    let user_id = first["user"]["id"].as_str().expect("id");
    assert_eq!(stub.auth_session_ids(user_id).len(), 1);
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_are_serialised() {
    let (stub, client) = start_default().await;
    let first = client.sign_up("kim@example.com").await;
    let rt = first["refresh_token"].as_str().expect("rt").to_owned();
    stub.faults().refresh_delay_ms.store(50, Ordering::SeqCst);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (client, rt) = (client.clone(), rt.clone());
        tasks.spawn(async move { client.refresh(&rt).await });
    }
    let replies = tasks.join_all().await;
    // One rotation wins; the first replay then revokes the session, so the
    // rest find no token at all.
    let codes: Vec<String> = replies
        .iter()
        .filter(|r| r.status != StatusCode::OK)
        .map(|r| r.json()["code"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(codes.len(), 3, "exactly one refresh succeeds");
    assert!(codes.contains(&"refresh_token_already_used".to_owned()));
    assert!(
        codes
            .iter()
            .all(|c| c == "refresh_token_already_used" || c == "refresh_token_not_found")
    );
    let user_id = first["user"]["id"].as_str().expect("id");
    assert!(stub.auth_session_ids(user_id).is_empty());
    assert_eq!(stub.refresh_count(), 4);
}

#[tokio::test]
async fn faults_shape_refresh_failures_and_delay() {
    let (stub, client) = start_default().await;
    let rt = client.sign_up("lee@example.com").await["refresh_token"]
        .as_str()
        .expect("rt")
        .to_owned();

    stub.faults().refresh_status.store(403, Ordering::SeqCst);
    let gone = client.refresh(&rt).await;
    assert_eq!(gone.status, StatusCode::FORBIDDEN);
    assert_eq!(gone.json()["code"], "session_not_found");

    stub.faults().refresh_status.store(503, Ordering::SeqCst);
    let unversioned = client
        .send(
            "POST",
            "/auth/v1/token?grant_type=refresh_token",
            &[("apikey", client.anon_key.as_str())],
            json!({"refresh_token": rt}).to_string(),
        )
        .await;
    assert_eq!(unversioned.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(unversioned.json()["error_code"], "unexpected_failure");
    assert_eq!(unversioned.json()["code"], 503);

    stub.faults().refresh_status.store(0, Ordering::SeqCst);
    stub.faults().refresh_delay_ms.store(200, Ordering::SeqCst);
    let started = Instant::now();
    let ok = client.refresh(&rt).await;
    assert_eq!(
        ok.status,
        StatusCode::OK,
        "the token survived the injected failures"
    );
    assert!(started.elapsed() >= Duration::from_millis(200));
}
