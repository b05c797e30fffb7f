//! The proxy never relays an Auth answer it has not read: in front of a
//! stand-in with the real edge's habits (a compressing CDN, undecodable and
//! oversized bodies, token cookies), sign-in still becomes a cookie session
//! and no token reaches the browser.

use crate::support;

use serde_json::json;
use std::sync::atomic::Ordering;
use support::{Env, Setup, jwt_claims};

async fn compressing() -> Env {
    Env::with(Setup {
        compress: true,
        ..Setup::default()
    })
    .await
}

fn header_of(recorded: &sbp_stub::Recorded, name: &str) -> String {
    recorded
        .headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::test]
async fn behind_a_compressing_cdn_sign_in_still_becomes_a_cookie_session() {
    let env = compressing().await;
    env.stub.create_user("cdn@example.com", "pw123456");
    let mut browser = env.browser();
    let reply = browser.sign_in("cdn@example.com", "pw123456").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    env.assert_no_stub_tokens(&reply);
    assert!(browser.cookie.is_some(), "a session cookie was set");
    assert_eq!(
        jwt_claims(reply.json()["access_token"].as_str().unwrap())["email"],
        "cdn@example.com"
    );
    let sign_in = env
        .stub
        .recorded()
        .into_iter()
        .find(|r| r.path == "/auth/v1/token")
        .expect("the sign-in reached Auth");
    assert_eq!(
        header_of(&sign_in, "accept-encoding"),
        "identity",
        "Auth is asked for no encoding"
    );

    let session = browser.get("/edge/v1/session").await;
    assert_eq!(session.status, 200, "{}", session.text());
    assert_eq!(session.json()["user"]["email"], "cdn@example.com");

    // Other services stream the CDN's encoding untouched, to a browser that asked for it.
    let echo = browser.get("/rest/v1/echo").await;
    assert_eq!(echo.status, 200);
    assert_eq!(echo.header("content-encoding"), Some("br"));
    assert_eq!(
        echo.json()["role"],
        "authenticated",
        "the session's token was used"
    );
    let rest = env
        .stub
        .recorded()
        .into_iter()
        .rfind(|r| r.path == "/rest/v1/echo")
        .unwrap();
    assert_eq!(
        header_of(&rest, "accept-encoding"),
        "gzip, deflate, br, zstd"
    );
}

#[tokio::test]
async fn an_auth_answer_encoded_unasked_is_decoded_before_it_is_read() {
    let env = Env::start().await;
    env.stub
        .faults()
        .auth_encode_unasked
        .store(true, Ordering::SeqCst);
    env.stub.create_user("unasked@example.com", "pw123456");
    let mut browser = env.browser();
    let reply = browser.sign_in("unasked@example.com", "pw123456").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.header("content-encoding"),
        None,
        "the browser gets it decoded"
    );
    env.assert_no_stub_tokens(&reply);
    assert!(browser.cookie.is_some());
    assert_eq!(browser.get("/edge/v1/session").await.status, 200);
    // Every other Auth answer is read the same way.
    let user = browser.get("/auth/v1/user").await;
    assert_eq!(user.status, 200, "{}", user.text());
    assert_eq!(user.json()["email"], "unasked@example.com");
}

#[tokio::test]
async fn the_proxys_own_refresh_reads_an_answer_encoded_unasked() {
    // Stub tokens live 8 s: the refresh margin (a quarter: 2 s) starts at 6 s.
    let env = Env::with(Setup {
        token_ttl: 8,
        ..Setup::default()
    })
    .await;
    let (mut browser, _) = env.signed_in("refresh-cdn@example.com").await;
    let first = browser.get("/rest/v1/echo").await.json()["claims"].clone();
    env.stub
        .faults()
        .auth_encode_unasked
        .store(true, Ordering::SeqCst);
    support::clock::inside_refresh_margin(support::clock::last_access_token_exp(&env.stub), 8)
        .await;
    let after = browser.get("/rest/v1/echo").await;
    assert_eq!(after.status, 200, "{}", after.text());
    let claims = after.json()["claims"].clone();
    assert!(
        claims["iat"].as_i64() > first["iat"].as_i64(),
        "a refreshed token was used: {claims}"
    );
    assert_eq!(claims["session_id"], first["session_id"]);
    let refresh = env
        .stub
        .recorded()
        .into_iter()
        .find(|r| r.is_refresh_grant())
        .unwrap();
    assert_eq!(header_of(&refresh, "accept-encoding"), "identity");
}

#[tokio::test]
async fn an_auth_answer_that_cannot_be_decoded_is_refused_not_relayed() {
    let env = Env::start().await;
    env.stub
        .faults()
        .auth_bad_gzip
        .store(true, Ordering::SeqCst);
    env.stub.create_user("corrupt@example.com", "pw123456");
    let mut browser = env.browser();
    let reply = browser
        .send(
            http::Method::POST,
            "/auth/v1/token?grant_type=password",
            &[
                ("content-type", "application/json"),
                ("accept-encoding", "identity"),
            ],
            json!({"email": "corrupt@example.com", "password": "pw123456"}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert_eq!(reply.json()["error"], "upstream_unreadable");
    env.assert_no_stub_tokens(&reply);
    assert!(reply.set_cookies().is_empty() && browser.cookie.is_none());
}

#[tokio::test]
async fn a_decompression_bomb_is_refused_not_expanded() {
    let env = Env::with(Setup {
        settings: vec![("PROXY_MAX_AUTH_RESPONSE", "1MiB".into())],
        ..Setup::default()
    })
    .await;
    env.stub
        .faults()
        .signin_gzip_bomb_mib
        .store(64, Ordering::SeqCst);
    env.stub.create_user("bomb@example.com", "pw123456");
    let mut browser = env.browser();
    let reply = browser.sign_in("bomb@example.com", "pw123456").await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert_eq!(reply.json()["error"], "upstream_unreadable");
    assert!(browser.cookie.is_none());
    env.assert_no_stub_tokens(&reply);
    // Under the limit, the same padding is read and the sign-in works.
    env.stub
        .faults()
        .signin_gzip_bomb_mib
        .store(0, Ordering::SeqCst);
    assert_eq!(
        browser.sign_in("bomb@example.com", "pw123456").await.status,
        200
    );
}

#[tokio::test]
async fn upstream_cookies_that_name_or_carry_tokens_never_reach_the_browser() {
    let env = Env::start().await;
    env.stub.create_user("cookies@example.com", "pw123456");
    let mut browser = env.browser();
    // The stand-in sets sb-access-token / sb-refresh-token on token
    // responses, as GoTrue did before v2.159.
    let reply = browser.sign_in("cookies@example.com", "pw123456").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    env.assert_no_stub_tokens(&reply);
    let names: Vec<String> = reply
        .set_cookies()
        .iter()
        .map(|c| c.split('=').next().unwrap().to_string())
        .collect();
    assert_eq!(names, ["sb-session"], "only the proxy's cookie");
    let cookie = browser.cookie.clone();

    *env.stub.faults().set_cookies.lock().unwrap() = vec![
        "sb-access-token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln; Path=/".into(),
        "sb-session=forged; Path=/".into(),
        "theme=dark; Path=/".into(),
    ];
    let rest = browser.get("/rest/v1/echo").await;
    assert_eq!(rest.set_cookies(), ["theme=dark; Path=/"]);
    assert_eq!(
        browser.cookie, cookie,
        "the session cookie cannot be replaced from upstream"
    );
    let auth = browser.get("/auth/v1/user").await;
    assert_eq!(auth.status, 200);
    assert_eq!(auth.set_cookies(), ["theme=dark; Path=/"]);
}
