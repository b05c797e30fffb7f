//! Server-side refresh of the upstream token: once per session, even under
//! concurrency; Auth's session-ending answers end the session; anything
//! else (the gateway, a firewall, a 404, a 5xx, a timeout, an unreadable
//! answer) keeps it: the current token while it is valid, then 503.

use crate::support;

use sbp_stub::{CannedAnswer, ErrorShape};
use std::sync::atomic::Ordering;
use support::clock::{expired, inside_refresh_margin, last_access_token_exp};
use support::{Browser, Env, Setup};

/// Lifetime of [`short_lived`]'s tokens, seconds.
const SHORT_TTL: u64 = 8;

/// Stub tokens live 8 s, so the refresh margin (a quarter: 2 s) starts at 6 s.
async fn short_lived() -> Env {
    Env::with(Setup {
        token_ttl: SHORT_TTL,
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
    expired(last_access_token_exp(&env.stub)).await;
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
    inside_refresh_margin(last_access_token_exp(&env.stub), SHORT_TTL).await;
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
    let exp = last_access_token_exp(&env.stub);
    inside_refresh_margin(exp, SHORT_TTL).await;
    let reply = browser.get("/rest/v1/echo").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["sub"], user_id.as_str());
    expired(exp).await;
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

/// Stub tokens live 16 s: the refresh margin (a quarter: 4 s) starts at
/// 12 s, which leaves room for a round of refreshes that Auth fails.
const LONGER_TTL: u64 = 16;

/// `count` browsers signed in with [`LONGER_TTL`] tokens, each with its
/// user id and the `exp` of the token its first request carried.
async fn signed_in_many(env: &Env, count: usize) -> Vec<(Browser, String, i64)> {
    let mut browsers = Vec::new();
    for i in 0..count {
        let (mut browser, user_id) = env.signed_in(&format!("user{i}@example.com")).await;
        let echo = browser.get("/rest/v1/echo").await.json();
        let exp = echo["claims"]["exp"].as_i64().expect("a verified token");
        browsers.push((browser, user_id, exp));
    }
    browsers
}

/// What stands between the proxy and a refresh, and how it fails.
enum Failure {
    Answer(CannedAnswer),
    /// No answer within the proxy's upstream timeout (1 s here); the late
    /// one is a gateway timeout page, so the refresh token is not rotated.
    Timeout,
}

fn set_failure(env: &Env, failure: Option<&Failure>) {
    let faults = env.stub.faults();
    let (answer, delay) = match failure {
        Some(Failure::Answer(answer)) => (Some(answer.clone()), 0),
        Some(Failure::Timeout) => (Some(CannedAnswer::html_page(504)), 3000),
        None => (None, 0),
    };
    faults.set_refresh_answer(answer);
    faults.refresh_delay_ms.store(delay, Ordering::SeqCst);
}

/// For each failure: the session is kept and its current token forwarded
/// while valid; after expiry 503 `refresh_unavailable`, the cookie kept;
/// once Auth answers again, a refreshed token.
async fn each_failure_keeps_the_session(failures: Vec<(&str, Failure)>) {
    let env = Env::with(Setup {
        token_ttl: LONGER_TTL,
        settings: vec![("PROXY_UPSTREAM_TIMEOUT", "1s".to_string())],
        ..Setup::default()
    })
    .await;
    let mut browsers = signed_in_many(&env, failures.len()).await;
    for ((what, failure), (browser, user_id, exp)) in failures.iter().zip(&mut browsers) {
        inside_refresh_margin(*exp, LONGER_TTL).await;
        set_failure(&env, Some(failure));
        let refreshes = env.stub.refresh_count();
        let reply = browser.get("/rest/v1/echo").await;
        assert_eq!(
            env.stub.refresh_count(),
            refreshes + 1,
            "{what}: a refresh was tried"
        );
        assert_eq!(reply.status, 200, "{what}: {}", reply.text());
        assert_eq!(reply.json()["sub"], user_id.as_str(), "{what}");
        assert_eq!(
            reply.json()["claims"]["exp"],
            *exp,
            "{what}: the current token"
        );
        assert!(browser.cookie.is_some(), "{what}: the session is kept");
    }
    let last_exp = browsers.iter().map(|(_, _, exp)| *exp).max().unwrap();
    expired(last_exp).await; // every token has expired
    for ((what, failure), (browser, _, _)) in failures.iter().zip(&mut browsers) {
        set_failure(&env, Some(failure));
        let reply = browser.get("/rest/v1/echo").await;
        assert_eq!(reply.status, 503, "{what}: {}", reply.text());
        assert_eq!(reply.json()["error"], "refresh_unavailable", "{what}");
        assert!(browser.cookie.is_some(), "{what}: the session is kept");
    }
    set_failure(&env, None);
    for ((what, _), (browser, user_id, exp)) in failures.iter().zip(&mut browsers) {
        let reply = browser.get("/rest/v1/echo").await;
        assert_eq!(reply.status, 200, "{what}: {}", reply.text());
        assert_eq!(reply.json()["sub"], user_id.as_str(), "{what}");
        assert!(
            reply.json()["claims"]["exp"].as_i64() > Some(*exp),
            "{what}: refreshed"
        );
    }
}

#[tokio::test]
async fn the_gateway_or_a_firewall_refusing_a_refresh_keeps_the_session() {
    each_failure_keeps_the_session(vec![
        (
            "gateway 401 Invalid API key",
            Failure::Answer(CannedAnswer::gateway_invalid_api_key()),
        ),
        (
            "firewall 403 HTML",
            Failure::Answer(CannedAnswer::html_page(403)),
        ),
        (
            "CDN 502 HTML",
            Failure::Answer(CannedAnswer::html_page(502)),
        ),
    ])
    .await;
}

#[tokio::test]
async fn a_404_a_5xx_or_an_unreadable_answer_to_a_refresh_keeps_the_session() {
    let not_found =
        CannedAnswer::auth_error(404, "not_found", "Not Found", ErrorShape::Unversioned);
    let failure = CannedAnswer::auth_error(
        500,
        "unexpected_failure",
        "Unexpected failure",
        ErrorShape::Versioned,
    );
    each_failure_keeps_the_session(vec![
        ("404 from Auth", Failure::Answer(not_found)),
        ("404 HTML", Failure::Answer(CannedAnswer::html_page(404))),
        ("500 from Auth", Failure::Answer(failure)),
        (
            "200 unreadable",
            Failure::Answer(CannedAnswer::unreadable(200)),
        ),
        (
            "400 unreadable",
            Failure::Answer(CannedAnswer::unreadable(400)),
        ),
    ])
    .await;
}

#[tokio::test]
async fn a_refresh_that_times_out_keeps_the_session() {
    each_failure_keeps_the_session(vec![("timeout", Failure::Timeout)]).await;
}

#[tokio::test]
async fn each_session_ending_code_ends_the_session_in_every_shape() {
    let mut answers = Vec::new();
    for code in sbp_core::auth::SESSION_ENDING_CODES {
        for shape in [ErrorShape::Versioned, ErrorShape::Unversioned] {
            let answer = CannedAnswer::auth_error(400, code, "refused", shape);
            answers.push((format!("{code} {shape:?}"), answer));
        }
    }
    for description in [
        "Invalid Refresh Token: Refresh Token Not Found",
        "Invalid Refresh Token: Already Used",
        "Invalid Refresh Token: User Banned",
        "Invalid Refresh Token: Session Expired (Inactivity)",
    ] {
        let answer = CannedAnswer::auth_error(400, "", description, ErrorShape::InvalidGrant);
        answers.push((format!("invalid_grant {description}"), answer));
    }
    let env = Env::with(Setup {
        token_ttl: LONGER_TTL,
        ..Setup::default()
    })
    .await;
    let mut browsers = signed_in_many(&env, answers.len()).await;
    for ((what, answer), (browser, _, exp)) in answers.into_iter().zip(&mut browsers) {
        inside_refresh_margin(*exp, LONGER_TTL).await;
        env.stub.faults().set_refresh_answer(Some(answer));
        let reply = browser.get("/rest/v1/echo").await;
        assert_eq!(reply.status, 200, "{what}: {}", reply.text());
        assert_eq!(reply.json()["role"], "anon", "{what}: went on anonymous");
        assert!(browser.cookie.is_none(), "{what}: the cookie is cleared");
        assert_eq!(browser.get("/edge/v1/session").await.status, 401, "{what}");
    }
}

#[tokio::test]
async fn a_banned_or_deleted_users_refresh_ends_the_session() {
    let env = Env::with(Setup {
        token_ttl: LONGER_TTL,
        ..Setup::default()
    })
    .await;
    let mut browsers = signed_in_many(&env, 2).await;
    env.stub.ban_user(&browsers[0].1);
    env.stub.delete_user(&browsers[1].1);
    for (browser, _, exp) in &mut browsers {
        inside_refresh_margin(*exp, LONGER_TTL).await;
        let reply = browser.get("/rest/v1/echo").await;
        assert_eq!(reply.json()["role"], "anon");
        assert!(browser.cookie.is_none(), "the cookie is cleared");
    }
    assert_eq!(env.stub.refresh_count(), 2);
}
