//! Unit tests of the session service, on paused time with a fake Auth.

use super::Refreshed;
use super::testing::{
    FakeAuth, SharedStore, answer, mint_settings, refresh_settings, service, signed_in,
    token_answer,
};
use crate::metrics::StoreOp;
use crate::store::CachedStore;
use sbp_core::session::EndReason;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::TryRecvError;

/// A session whose token is within the 60 s margin.
const NEAR_EXPIRY: i64 = 30;

#[tokio::test(start_paused = true)]
async fn concurrent_refreshes_of_one_session_make_one_auth_call() {
    let auth = Arc::new(FakeAuth::default());
    let sessions = service(SharedStore::default(), auth.clone(), refresh_settings());
    let key = signed_in(&sessions, sessions.now() + NEAR_EXPIRY).await;
    auth.answer_refresh(Duration::from_secs(1), token_answer(sessions.now(), "r2"));
    let waiters: Vec<_> = (0..8)
        .map(|_| {
            let (sessions, key) = (sessions.clone(), key.clone());
            tokio::spawn(async move { sessions.refresh(&key).await })
        })
        .collect();
    for waiter in waiters {
        match waiter.await.unwrap() {
            Refreshed::Fresh(session) => assert_eq!(session.tokens.refresh_token, "r2"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(*auth.refreshed.lock().unwrap(), ["r1"], "one call to Auth");
    let stored = sessions.store().get(&key).await.unwrap().unwrap();
    assert_eq!(stored.tokens.refresh_token, "r2");
}

#[tokio::test(start_paused = true)]
async fn a_session_ending_answer_deletes_the_session_and_announces_its_end() {
    let auth = Arc::new(FakeAuth::default());
    let sessions = service(SharedStore::default(), auth.clone(), refresh_settings());
    let mut ended = sessions.ended();
    let key = signed_in(&sessions, sessions.now() + NEAR_EXPIRY).await;
    auth.answer_refresh(
        Duration::ZERO,
        answer(
            400,
            r#"{"code":"refresh_token_already_used","message":"x"}"#,
        ),
    );
    assert!(matches!(sessions.refresh(&key).await, Refreshed::Revoked));
    assert!(sessions.store().get(&key).await.unwrap().is_none());
    assert!(sessions.get(&key).await.unwrap().is_none());
    assert_eq!(ended.try_recv().unwrap(), key);
}

#[tokio::test(start_paused = true)]
async fn other_failures_keep_the_session() {
    let auth = Arc::new(FakeAuth::default());
    let sessions = service(SharedStore::default(), auth.clone(), refresh_settings());
    let mut ended = sessions.ended();
    let key = signed_in(&sessions, sessions.now() + NEAR_EXPIRY).await;
    auth.answer_refresh(
        Duration::ZERO,
        answer(500, r#"{"code":"session_not_found"}"#),
    );
    auth.answer_refresh(
        Duration::ZERO,
        answer(401, r#"{"message":"Invalid API key"}"#),
    );
    auth.answer_refresh(Duration::ZERO, answer(200, "<html>"));
    auth.answer_refresh(Duration::ZERO, Err("connection refused".into()));
    // Auth does not answer within the refresh's time limit.
    auth.answer_refresh(Duration::from_secs(60), token_answer(0, "late"));
    for _ in 0..5 {
        assert!(matches!(sessions.refresh(&key).await, Refreshed::Failed));
        let kept = sessions.store().get(&key).await.unwrap().unwrap();
        assert_eq!(kept.tokens.refresh_token, "r1");
    }
    assert_eq!(auth.refresh_calls(), 5);
    assert_eq!(ended.try_recv(), Err(TryRecvError::Empty));
}

#[tokio::test(start_paused = true)]
async fn a_second_service_over_the_store_waits_for_the_lock_and_uses_the_result() {
    let store = SharedStore::default();
    let (first_auth, second_auth) = (Arc::new(FakeAuth::default()), Arc::new(FakeAuth::default()));
    let first = service(store.clone(), first_auth.clone(), refresh_settings());
    let second = service(store.clone(), second_auth.clone(), refresh_settings());
    let key = signed_in(&first, first.now() + NEAR_EXPIRY).await;
    assert!(second.get(&key).await.unwrap().is_some(), "one store");
    first_auth.answer_refresh(Duration::from_secs(2), token_answer(first.now(), "r2"));
    let holder = {
        let (first, key) = (first.clone(), key.clone());
        tokio::spawn(async move { first.refresh(&key).await })
    };
    // The first service holds the lock and waits for Auth.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(first_auth.refresh_calls(), 1);
    match second.refresh(&key).await {
        Refreshed::Fresh(session) => assert_eq!(session.tokens.refresh_token, "r2"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(holder.await.unwrap(), Refreshed::Fresh(_)));
    assert_eq!(
        second_auth.refresh_calls(),
        0,
        "the second never asked Auth"
    );
    assert!(
        store.lock_refresh(&key, "someone", 1000).await.unwrap(),
        "the lock was released"
    );
}

#[tokio::test(start_paused = true)]
async fn mint_mode_re_mints_a_token_near_expiry_without_asking_auth_for_tokens() {
    let auth = Arc::new(FakeAuth::default());
    let sessions = service(SharedStore::default(), auth.clone(), mint_settings());
    let key = signed_in(&sessions, sessions.now() + NEAR_EXPIRY).await;
    let before = sessions.get(&key).await.unwrap().unwrap();
    auth.answer_user(answer(200, r#"{"id":"u"}"#));
    let Refreshed::Fresh(minted) = sessions.refresh(&key).await else {
        panic!("not re-minted");
    };
    assert_ne!(minted.tokens.access_token, before.tokens.access_token);
    assert_eq!(
        minted.tokens.expires_at,
        sessions.now() + 300,
        "PROXY_MINT_TTL"
    );
    assert_eq!(
        minted.tokens.refresh_token, "r1",
        "Auth's refresh token is kept"
    );
    let claims = sbp_core::token::read_claims(&minted.tokens.access_token).unwrap();
    assert_eq!(
        claims.all["session_id"], "auth-s",
        "minted from the session's claims"
    );
    assert_eq!(auth.refresh_calls(), 0);
    tokio::task::yield_now().await;
    assert_eq!(
        *auth.checked.lock().unwrap(),
        [minted.tokens.access_token.as_str()],
        "the first use starts a check with the minted token"
    );
}

#[tokio::test(start_paused = true)]
async fn a_mint_check_is_due_once_per_interval_and_ends_a_session_auth_ended() {
    let auth = Arc::new(FakeAuth::default());
    let sessions = service(SharedStore::default(), auth.clone(), mint_settings());
    let mut ended = sessions.ended();
    let key = signed_in(&sessions, sessions.now() + 3600).await;
    let session = sessions.get(&key).await.unwrap().unwrap();
    auth.answer_user(answer(200, r#"{"id":"u"}"#));
    sessions.check_if_due(&key, &session);
    sessions.check_if_due(&key, &session);
    tokio::time::sleep(Duration::from_secs(59)).await;
    sessions.check_if_due(&key, &session);
    tokio::task::yield_now().await;
    assert_eq!(auth.user_calls(), 1, "one check per interval");
    assert!(
        sessions.get(&key).await.unwrap().is_some(),
        "a 200 keeps it"
    );

    tokio::time::sleep(Duration::from_secs(2)).await;
    auth.answer_user(answer(500, r#"{"code":"session_not_found"}"#));
    sessions.check_if_due(&key, &session);
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(auth.user_calls(), 2, "due again after the interval");
    assert!(
        sessions.get(&key).await.unwrap().is_some(),
        "a 5xx keeps it"
    );

    tokio::time::sleep(Duration::from_secs(61)).await;
    auth.answer_user(answer(403, r#"{"code":"session_not_found","message":"x"}"#));
    sessions.check_if_due(&key, &session);
    assert_eq!(ended.recv().await.unwrap(), key);
    assert_eq!(auth.user_calls(), 3);
    assert!(sessions.store().get(&key).await.unwrap().is_none());
}

#[tokio::test(start_paused = true)]
async fn ending_a_session_deletes_it_and_announces_its_end() {
    let sessions = service(
        SharedStore::default(),
        Arc::new(FakeAuth::default()),
        refresh_settings(),
    );
    let mut ended = sessions.ended();
    let key = signed_in(&sessions, sessions.now() + 3600).await;
    let removed = sessions.end(&key, EndReason::SignOut).await.unwrap();
    assert_eq!(removed.unwrap().user_id, "u");
    assert!(sessions.get(&key).await.unwrap().is_none());
    assert_eq!(ended.try_recv().unwrap(), key);
}

#[tokio::test(start_paused = true)]
async fn use_is_recorded_off_the_request_path_when_due() {
    let sessions = service(
        SharedStore::default(),
        Arc::new(FakeAuth::default()),
        refresh_settings(),
    );
    let key = signed_in(&sessions, sessions.now() + 3600).await;
    let session = sessions.get(&key).await.unwrap().unwrap();
    let same = sessions.touch_in_background(&key, session.clone(), sessions.now() + 1);
    assert!(Arc::ptr_eq(&same, &session), "not due a second later");

    tokio::time::sleep(Duration::from_secs(120)).await;
    let now = sessions.now();
    let touched = sessions.touch_in_background(&key, session.clone(), now);
    assert_eq!(
        touched.last_seen_at, now,
        "the request goes on with the use recorded"
    );
    tokio::task::yield_now().await;
    let stored = sessions.store().get(&key).await.unwrap().unwrap();
    assert_eq!(stored.last_seen_at, now);
    assert_eq!(stored.idle_expires_at, touched.idle_expires_at);
}

#[tokio::test(start_paused = true)]
async fn each_refresh_flight_is_counted_once_by_outcome_and_an_end_once() {
    let auth = Arc::new(FakeAuth::default());
    let sessions = service(SharedStore::default(), auth.clone(), refresh_settings());
    let key = signed_in(&sessions, sessions.now() + NEAR_EXPIRY).await;
    assert_eq!(sessions.metrics().created.get(), 1);
    auth.answer_refresh(Duration::from_secs(1), token_answer(sessions.now(), "r2"));
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let (sessions, key) = (sessions.clone(), key.clone());
            tokio::spawn(async move { sessions.refresh(&key).await })
        })
        .collect();
    for waiter in waiters {
        waiter.await.unwrap();
    }
    assert_eq!(sessions.metrics().refreshes(), [1, 0, 0]);
    // One flight took the shared store's lock once and let it go once.
    let ops = sessions.cache.ops();
    assert_eq!(ops.count(StoreOp::Lock), (1, 0));
    assert_eq!(ops.count(StoreOp::Unlock), (1, 0));
    assert_eq!(ops.count(StoreOp::UpdateTokens), (1, 0));
    sessions.end(&key, EndReason::SignOut).await.unwrap();
    sessions.end(&key, EndReason::SignOut).await.unwrap();
    assert_eq!(
        sessions.metrics().ended_for(EndReason::SignOut),
        1,
        "a session ends once"
    );
    assert_eq!(sessions.cache.ops().count(StoreOp::Remove), (2, 0));
}
