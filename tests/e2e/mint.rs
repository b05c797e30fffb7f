//! Mint mode: upstream tokens signed by the proxy, with Auth's exact claims,
//! reused within their lifetime, replaced before expiry, verifiable by
//! Supabase with the project secret or the imported key's public half; a
//! session in use is checked with Auth at most every `PROXY_MINT_CHECK`, and
//! ends once Auth says its session or user is gone.

use crate::support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::Method;
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};
use support::clock::{inside_refresh_margin, last_access_token_exp};
use support::{Env, Setup};

const SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";

fn mint_setup(extra: Vec<(&'static str, String)>) -> Setup {
    let mut settings = vec![
        ("PROXY_TOKEN_MODE", "mint".to_string()),
        ("SUPABASE_JWT_SECRET", SECRET.to_string()),
    ];
    settings.extend(extra);
    Setup {
        settings,
        ..Setup::default()
    }
}

/// The claims PostgREST saw (the stub verified the token first).
async fn upstream_claims(browser: &mut support::Browser) -> Map<String, Value> {
    let echo = browser.get("/rest/v1/echo").await;
    assert_eq!(echo.status, 200, "{}", echo.text());
    echo.json()["claims"]
        .as_object()
        .expect("verified claims")
        .clone()
}

/// Claims of the access token the stub issued last.
fn auth_claims(env: &Env) -> Map<String, Value> {
    let token = env
        .stub
        .issued_tokens()
        .into_iter()
        .rev()
        .find(|t| t.matches('.').count() == 2)
        .expect("an access token was issued");
    sbp_core::token::read_claims(&token).unwrap().all
}

fn without_times(mut claims: Map<String, Value>) -> Map<String, Value> {
    claims.remove("iat");
    claims.remove("exp");
    claims
}

#[tokio::test]
async fn minted_tokens_carry_auths_claims_and_work_with_auth() {
    let env = Env::with(mint_setup(vec![])).await;
    let (mut browser, user_id) = env.signed_in("mint@example.com").await;
    let auth = auth_claims(&env);
    let minted = upstream_claims(&mut browser).await;
    assert_eq!(
        without_times(minted.clone()),
        without_times(auth.clone()),
        "the same claims but iat/exp"
    );
    assert_eq!(
        minted["exp"].as_i64().unwrap() - minted["iat"].as_i64().unwrap(),
        300,
        "PROXY_MINT_TTL"
    );
    assert_ne!(
        minted["exp"], auth["exp"],
        "not Auth's token (that one lives an hour)"
    );

    // Auth accepts it and acts on the right session.
    let user = browser.get("/auth/v1/user").await;
    assert_eq!(user.status, 200, "{}", user.text());
    assert_eq!(user.json()["id"], user_id.as_str());
    let mut other = env.browser();
    assert_eq!(
        other.sign_in("mint@example.com", "pw123456").await.status,
        200
    );
    assert_eq!(env.stub.auth_session_ids(&user_id).len(), 2);
    assert_eq!(
        browser
            .post_json("/auth/v1/logout?scope=local", json!({}))
            .await
            .status,
        204
    );
    assert_eq!(
        env.stub.auth_session_ids(&user_id),
        vec![auth_session_of(&mut other).await]
    );
    assert_eq!(
        env.stub.refresh_count(),
        0,
        "mint mode never refreshes with Auth"
    );
}

async fn auth_session_of(browser: &mut support::Browser) -> String {
    upstream_claims(browser).await["session_id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_token_is_reused_within_its_lifetime_and_replaced_before_expiry() {
    let env = Env::with(mint_setup(vec![("PROXY_MINT_TTL", "8s".into())])).await;
    let (mut browser, _) = env.signed_in("reuse@example.com").await;
    let first = upstream_claims(&mut browser).await;
    let again = upstream_claims(&mut browser).await;
    assert_eq!(first["iat"], again["iat"], "signed once, reused");
    inside_refresh_margin(first["exp"].as_i64().unwrap(), 8).await; // the 2 s margin
    let renewed = upstream_claims(&mut browser).await;
    assert!(
        renewed["iat"].as_i64() > first["iat"].as_i64(),
        "re-minted before expiry"
    );
    assert!(renewed["exp"].as_i64().unwrap() - now() >= 5);
    assert_eq!(without_times(renewed), without_times(first));
    assert_eq!(env.stub.refresh_count(), 0);
}

#[tokio::test]
async fn updating_the_user_updates_the_minted_claims() {
    let env = Env::with(mint_setup(vec![])).await;
    let (mut browser, _) = env.signed_in("meta@example.com").await;
    let updated = browser
        .send(
            Method::PUT,
            "/auth/v1/user",
            &[("content-type", "application/json")],
            json!({"data": {"nick": "m"}}).to_string(),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text());
    env.assert_no_stub_tokens(&updated);
    assert_eq!(
        upstream_claims(&mut browser).await["user_metadata"]["nick"],
        "m"
    );
    assert_eq!(
        browser.get("/edge/v1/session").await.json()["user"]["user_metadata"]["nick"],
        "m"
    );
}

/// A P-256 private key as a JWK, and the public JWK Supabase would hold.
fn ec_key() -> (String, jsonwebtoken::jwk::Jwk) {
    let d = [42u8; 32];
    let private =
        json!({"kty": "EC", "crv": "P-256", "kid": "proxy-key-1", "d": URL_SAFE_NO_PAD.encode(d)});
    let key = sbp_core::token::MintKey::from_private_key(&private.to_string(), None).unwrap();
    let public = serde_json::from_value(key.jwks()["keys"][0].clone()).unwrap();
    (private.to_string(), public)
}

#[tokio::test]
async fn an_imported_asymmetric_key_signs_with_its_kid() {
    let (private, public) = ec_key();
    let env = Env::with(Setup {
        settings: vec![
            ("PROXY_TOKEN_MODE", "mint".into()),
            ("PROXY_JWT_PRIVATE_KEY", private),
        ],
        stub_keys: vec![public],
        ..Setup::default()
    })
    .await;
    let (mut browser, user_id) = env.signed_in("es256@example.com").await;
    let claims = upstream_claims(&mut browser).await;
    assert_eq!(
        claims["sub"],
        user_id.as_str(),
        "Supabase verified the ES256 token by its kid"
    );
    assert_eq!(browser.get("/auth/v1/user").await.status, 200);
    let jwks = browser.get("/edge/v1/.well-known/jwks.json").await.json();
    assert_eq!(jwks["keys"][0]["kid"], "proxy-key-1");
    assert_eq!(jwks["keys"][0]["alg"], "ES256");
    assert!(
        jwks["keys"][0].get("d").is_none(),
        "the private key is not published"
    );
}

#[tokio::test]
async fn sessions_survive_a_switch_between_modes() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("file:{}", dir.path().join("s.redb").display());
    let env = Env::with(Setup {
        token_ttl: 8,
        settings: vec![
            ("PROXY_SESSION_STORE", store),
            ("SUPABASE_JWT_SECRET", SECRET.into()),
            ("PROXY_MINT_TTL", "8s".into()),
        ],
        ..Setup::default()
    })
    .await;
    let (browser, user_id) = env.signed_in("switch@example.com").await;
    let cookie = browser.cookie.clone();

    // refresh -> mint: near its expiry, the session's Auth token is replaced
    // by one minted from its claims, without asking Auth.
    let auths_exp = last_access_token_exp(&env.stub);
    let env = env.restart_with(&[("PROXY_TOKEN_MODE", "mint")]).await;
    let mut browser = env.browser().with_cookie(cookie.clone());
    inside_refresh_margin(auths_exp, 8).await;
    let minted = upstream_claims(&mut browser).await;
    assert_eq!(minted["sub"], user_id.as_str());
    assert!(
        minted["exp"].as_i64().unwrap() - now() > 5,
        "a fresh minted token"
    );
    assert_eq!(env.stub.refresh_count(), 0);

    // mint -> refresh: once the minted token nears expiry, Auth's own refresh
    // token (kept by mint mode) refreshes the session.
    let minted_exp = minted["exp"].as_i64().unwrap();
    let env = env.restart_with(&[("PROXY_TOKEN_MODE", "refresh")]).await;
    let mut browser = env.browser().with_cookie(cookie);
    inside_refresh_margin(minted_exp, 8).await;
    let claims = upstream_claims(&mut browser).await;
    assert_eq!(claims["sub"], user_id.as_str());
    assert_eq!(env.stub.refresh_count(), 1, "refreshed with Auth");
    assert_eq!(browser.get("/edge/v1/session").await.status, 200);
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Mint mode, sessions checked with Auth at most every second.
fn checked_every_second() -> Setup {
    mint_setup(vec![("PROXY_MINT_CHECK", "1s".into())])
}

/// Sends a request every 100 ms until the session has ended (the cookie
/// cleared, the request anonymous); fails when that takes `bound`.
async fn ends_within(browser: &mut support::Browser, bound: Duration) {
    let start = Instant::now();
    loop {
        let reply = browser.get("/rest/v1/echo").await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        if browser.cookie.is_none() {
            assert_eq!(reply.json()["role"], "anon");
            assert_eq!(browser.get("/edge/v1/session").await.status, 401);
            return;
        }
        assert_eq!(reply.json()["role"], "authenticated");
        assert!(
            start.elapsed() < bound,
            "the session still works {:?} after Auth ended it",
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// PROXY_MINT_CHECK (1 s) and Auth's answer, with room for a slow machine.
const REVOCATION_BOUND: Duration = Duration::from_secs(3);

#[tokio::test]
async fn a_minted_session_ends_soon_after_its_auth_session_is_revoked() {
    let env = Env::with(checked_every_second()).await;
    let (mut browser, user_id) = env.signed_in("revoked-mint@example.com").await;
    assert_eq!(upstream_claims(&mut browser).await["sub"], user_id.as_str());
    env.stub.revoke_user_sessions(&user_id);
    ends_within(&mut browser, REVOCATION_BOUND).await;
}

#[tokio::test]
async fn a_minted_session_ends_soon_after_its_user_is_banned() {
    let env = Env::with(checked_every_second()).await;
    let (mut browser, user_id) = env.signed_in("banned-mint@example.com").await;
    assert_eq!(upstream_claims(&mut browser).await["sub"], user_id.as_str());
    env.stub.ban_user(&user_id);
    ends_within(&mut browser, REVOCATION_BOUND).await;
}

#[tokio::test]
async fn a_minted_session_ends_soon_after_its_user_is_deleted() {
    let env = Env::with(checked_every_second()).await;
    let (mut browser, user_id) = env.signed_in("deleted-mint@example.com").await;
    assert_eq!(upstream_claims(&mut browser).await["sub"], user_id.as_str());
    env.stub.delete_user(&user_id);
    ends_within(&mut browser, REVOCATION_BOUND).await;
}

#[tokio::test]
async fn a_minted_session_is_checked_at_most_once_per_interval() {
    let env = Env::with(mint_setup(vec![("PROXY_MINT_CHECK", "2s".into())])).await;
    let (browser, _) = env.signed_in("checked@example.com").await;
    let start = Instant::now();
    let burst: Vec<_> = (0..20)
        .map(|_| {
            let mut b = env.browser().with_cookie(browser.cookie.clone());
            tokio::spawn(async move { b.get("/rest/v1/echo").await.status })
        })
        .collect();
    for request in burst {
        assert_eq!(request.await.unwrap(), 200);
    }
    support::eventually("the burst caused one check", || {
        env.stub.count("GET", "/auth/v1/user") == 1
    })
    .await;
    let mut browser = browser;
    while start.elapsed() < Duration::from_millis(4500) {
        assert_eq!(browser.get("/rest/v1/echo").await.status, 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let checks: Vec<_> = env
        .stub
        .recorded()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == "/auth/v1/user")
        .collect();
    assert!(
        (2..=3).contains(&checks.len()),
        "checks at about 0, 2 and 4 s; saw {}",
        checks.len()
    );
    let issued = env.stub.issued_tokens();
    for check in checks {
        let bearer = check.headers["authorization"].to_str().unwrap();
        let token = bearer.strip_prefix("Bearer ").unwrap();
        assert!(
            !issued.iter().any(|t| t == token),
            "a minted token, not Auth's"
        );
        assert_eq!(read_claims_of(token)["role"], "authenticated");
    }
}

fn read_claims_of(token: &str) -> Map<String, Value> {
    sbp_core::token::read_claims(token).unwrap().all
}

#[tokio::test]
async fn a_minted_sessions_check_that_is_not_auths_answer_keeps_it() {
    let env = Env::with(checked_every_second()).await;
    let (mut browser, user_id) = env.signed_in("kept-mint@example.com").await;
    let gateway = sbp_stub::CannedAnswer::gateway_invalid_api_key();
    let firewall = sbp_stub::CannedAnswer::html_page(403);
    for answer in [gateway, firewall] {
        env.stub.faults().set_user_answer(Some(answer.clone()));
        let checks = env.stub.count("GET", "/auth/v1/user");
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(1500) {
            let reply = browser.get("/rest/v1/echo").await;
            assert_eq!(reply.json()["sub"], user_id.as_str(), "{answer:?}");
            assert!(browser.cookie.is_some(), "{answer:?}: the session is kept");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            env.stub.count("GET", "/auth/v1/user") > checks,
            "{answer:?}: checked"
        );
    }
    // Checks go on: once Auth answers again, a revocation is noticed.
    env.stub.faults().set_user_answer(None);
    env.stub.revoke_user_sessions(&user_id);
    ends_within(&mut browser, REVOCATION_BOUND).await;
}

#[tokio::test]
async fn a_check_that_falls_due_with_an_expired_token_uses_the_new_one() {
    let env = Env::with(mint_setup(vec![
        ("PROXY_MINT_TTL", "2s".into()),
        ("PROXY_MINT_CHECK", "1s".into()),
    ]))
    .await;
    let (mut browser, _) = env.signed_in("expired-mint@example.com").await;
    tokio::time::sleep(Duration::from_secs(3)).await; // the minted token has expired
    env.stub.clear_recorded();
    assert_eq!(browser.get("/rest/v1/echo").await.status, 200);
    support::eventually("one check", || env.stub.count("GET", "/auth/v1/user") == 1).await;
    let check = env
        .stub
        .recorded()
        .into_iter()
        .find(|r| r.path == "/auth/v1/user")
        .unwrap();
    let bearer = check.headers["authorization"].to_str().unwrap();
    let claims = read_claims_of(bearer.strip_prefix("Bearer ").unwrap());
    assert!(
        claims["exp"].as_i64().unwrap() > now(),
        "Auth is asked with a valid token (an expired one says nothing)"
    );
}
