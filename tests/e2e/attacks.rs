//! Attacks on the proxy, each of which must fail: forged and replayed
//! cookies, cross-site writes, login CSRF, header injection, path tricks,
//! oversized input, and Auth answers that carry tokens where none belong.

use crate::support;

use http::Method;
use serde_json::json;
use std::time::Duration;
use support::{Env, Setup};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const EVIL: &str = "https://evil.example";

#[tokio::test]
async fn a_cookie_replayed_after_logout_is_anonymous() {
    let env = Env::start().await;
    let (mut browser, _) = env.signed_in("replay@example.com").await;
    let stolen = browser.cookie.clone();
    assert_eq!(
        browser
            .post_json("/auth/v1/logout?scope=local", json!({}))
            .await
            .status,
        204
    );
    let mut attacker = env.browser().with_cookie(stolen);
    assert_eq!(attacker.get("/edge/v1/session").await.status, 401);
    assert_eq!(attacker.get("/rest/v1/echo").await.json()["role"], "anon");
}

#[tokio::test]
async fn cross_site_writes_with_the_cookie_are_refused_before_supabase() {
    let env = Env::start().await;
    let (mut browser, _) = env.signed_in("victim@example.com").await;
    // A form POST from another site: the browser attaches the cookie (SameSite=Lax
    // does not cover every case, e.g. a same-site attacker subdomain).
    let form = browser
        .send(
            Method::POST,
            "/rest/v1/todos",
            &[
                ("origin", EVIL),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            "title=pwned",
        )
        .await;
    assert_eq!(form.status, 403);
    assert_eq!(form.json()["error"], "cross_site_refused");
    // A credentialed cross-site fetch.
    let delete = browser
        .send(
            Method::DELETE,
            "/rest/v1/todos?id=eq.1",
            &[("origin", EVIL)],
            "",
        )
        .await;
    assert_eq!(delete.status, 403);
    // Sandboxed frames send `Origin: null`.
    let null = browser
        .send(Method::PATCH, "/rest/v1/todos", &[("origin", "null")], "{}")
        .await;
    assert_eq!(null.status, 403);
    // Without Origin, a foreign Referer is refused too; neither header at all as well.
    browser.origin = None;
    let referer = browser
        .send(
            Method::POST,
            "/rest/v1/todos",
            &[("referer", "https://evil.example/page")],
            "{}",
        )
        .await;
    assert_eq!(referer.status, 403);
    let bare = browser
        .send(Method::POST, "/rest/v1/todos", &[], "{}")
        .await;
    assert_eq!(bare.status, 403);
    let logout = browser
        .send(Method::POST, "/auth/v1/logout", &[("origin", EVIL)], "{}")
        .await;
    assert_eq!(logout.status, 403);
    assert_eq!(
        env.stub.count("POST", "/rest/v1/todos"),
        0,
        "nothing reached Supabase"
    );
    assert_eq!(env.stub.count("POST", "/auth/v1/logout"), 0);

    // The same requests from the app's own origin (or its Referer) pass.
    let ok = browser
        .send(
            Method::POST,
            "/rest/v1/todos",
            &[("referer", "http://127.0.0.1:8787/app")],
            "{}",
        )
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        browser.get("/edge/v1/session").await.status,
        200,
        "the session survived the attacks"
    );
}

#[tokio::test]
async fn login_csrf_is_refused() {
    let env = Env::start().await;
    env.stub.create_user("attacker@example.com", "pw123456");
    let mut victim = env.browser();
    let reply = victim
        .send(
            Method::POST,
            "/auth/v1/token?grant_type=password",
            &[("origin", EVIL), ("content-type", "application/json")],
            json!({"email": "attacker@example.com", "password": "pw123456"}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 403);
    assert!(
        victim.cookie.is_none(),
        "the victim is not signed in as the attacker"
    );
    assert_eq!(env.stub.count("POST", "/auth/v1/token"), 0);
}

#[tokio::test]
async fn secret_taking_auth_calls_are_rate_limited_per_client() {
    let env = Env::with(Setup {
        settings: vec![("PROXY_AUTH_RATE_LIMIT", "3/1m".into())],
        ..Setup::default()
    })
    .await;
    let mut browser = env.browser();
    for _ in 0..3 {
        let reply = browser
            .post_json("/auth/v1/otp", json!({"email": "spam@example.com"}))
            .await;
        assert_ne!(reply.status, 429);
    }
    let limited = browser
        .post_json("/auth/v1/otp", json!({"email": "spam@example.com"}))
        .await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.json()["error"], "rate_limited");
    assert_eq!(limited.header("retry-after"), Some("20"));
    assert_eq!(env.stub.count("POST", "/auth/v1/otp"), 3);
    // Calls that take no secret are not limited.
    assert_eq!(browser.get("/auth/v1/settings").await.status, 200);
}

#[tokio::test]
async fn every_spelling_of_a_secret_taking_call_counts_against_the_limit() {
    let env = Env::with(Setup {
        settings: vec![("PROXY_AUTH_RATE_LIMIT", "4/1m".into())],
        ..Setup::default()
    })
    .await;
    let (mut browser, _) = env.signed_in("limits@example.com").await;
    // The sign-in took one; each of these takes one more.
    for (path, body) in [
        (
            "/auth/v1/signup/",
            json!({"email": "s@example.com", "password": "pw123456"}),
        ),
        (
            "/auth/v1/resend",
            json!({"type": "signup", "email": "s@example.com"}),
        ),
        (
            "/auth/v1/factors/f1/verify",
            json!({"challenge_id": "c", "code": "1"}),
        ),
    ] {
        assert_ne!(browser.post_json(path, body).await.status, 429, "{path}");
    }
    for path in ["/auth/v1/reauthenticate/", "/auth/v1/factors/f1/challenge"] {
        let limited = browser.send(http::Method::GET, path, &[], "").await;
        let limited = if path.ends_with("challenge") {
            browser.post_json(path, json!({})).await
        } else {
            limited
        };
        assert_eq!(limited.status, 429, "{path}: {}", limited.text());
    }
    // A grant named only in a form body (GoTrue reads it there first) counts too.
    let form = browser
        .send(
            http::Method::POST,
            "/auth/v1/token",
            &[("content-type", "application/x-www-form-urlencoded")],
            "grant_type=password&email=limits%40example.com&password=guess",
        )
        .await;
    assert_eq!(form.status, 429);
}

#[tokio::test]
async fn dot_segments_cannot_reach_another_service() {
    let env = Env::start().await;
    let (mut browser, _) = env.signed_in("paths@example.com").await;
    for path in [
        "/rest/v1/../auth/v1/token?grant_type=password",
        "/rest/v1/%2e%2e/auth/v1/user",
        "/storage/v1/object/..%2f..%2fauth/v1/user",
        "/edge/v1/../rest/v1/echo",
    ] {
        let reply = browser.get(path).await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.text());
        assert_eq!(reply.json()["error"], "bad_request");
    }
    assert!(
        env.stub.recorded().iter().all(|r| !r.path.contains("..")),
        "nothing with dot segments reached Supabase"
    );
}

/// Sends raw bytes and returns the raw answer (or what arrived before close).
async fn raw(env: &Env, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(env.proxy.addr)
        .await
        .unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut answer),
    )
    .await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn header_injection_is_impossible() {
    let env = Env::start().await;
    // Encoded CR LF in the query stays encoded and data, never a header.
    let mut browser = env.browser();
    let reply = browser
        .get("/rest/v1/echo?x=%0d%0aSet-Cookie:%20injected=1")
        .await;
    assert_eq!(reply.status, 200);
    assert!(reply.set_cookies().is_empty());
    assert!(reply.json()["query"].as_str().unwrap().contains("%0d%0a"));
    // Raw CR or LF inside a cookie or the path is a malformed request: 400, no panic.
    for request in [
        &b"GET /rest/v1/echo HTTP/1.1\r\nHost: x\r\nCookie: sb-session=a\rSet-Cookie: x=1\r\n\r\n"
            [..],
        b"GET /rest/v1/echo\r\nSet-Cookie: x=1 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /rest/v1/e\x00cho HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        let answer = raw(&env, request).await;
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
            "{answer}"
        );
        assert!(!answer.to_ascii_lowercase().contains("set-cookie: x=1"));
    }
    // A hostile User-Agent ends up as JSON data in the session list, escaped.
    env.stub.create_user("ua@example.com", "pw123456");
    let hostile = "evil\"}, {\"current\": true} <script>";
    let mut signed = env.browser();
    let sign_in = signed
        .send(
            Method::POST,
            "/auth/v1/token?grant_type=password",
            &[
                ("user-agent", hostile),
                ("content-type", "application/json"),
            ],
            json!({"email": "ua@example.com", "password": "pw123456"}).to_string(),
        )
        .await;
    assert_eq!(sign_in.status, 200);
    let list = signed.get("/edge/v1/sessions").await.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["user_agent"], hostile);
    assert_eq!(
        browser.get("/edge/v1/health").await.status,
        200,
        "the proxy is still up"
    );
}

#[tokio::test]
async fn oversized_input_is_refused_with_clear_errors() {
    let env = Env::with(Setup {
        settings: vec![
            ("PROXY_MAX_HEADER_BYTES", "8KiB".into()),
            ("PROXY_MAX_HEADERS", "20".into()),
            ("PROXY_MAX_URL_BYTES", "1KiB".into()),
            ("PROXY_MAX_AUTH_BODY", "1KiB".into()),
        ],
        ..Setup::default()
    })
    .await;
    let mut browser = env.browser();
    let big = "x".repeat(9000);
    let headers = browser
        .send(Method::GET, "/rest/v1/echo", &[("x-big", &big)], "")
        .await;
    assert_eq!(headers.status, 431);
    let many: Vec<(String, String)> = (0..30)
        .map(|i| (format!("x-h{i}"), "v".to_string()))
        .collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    assert_eq!(
        browser
            .send(Method::GET, "/rest/v1/echo", &many, "")
            .await
            .status,
        431
    );
    let url = browser
        .get(&format!("/rest/v1/echo?q={}", "y".repeat(2000)))
        .await;
    assert_eq!(url.status, 414);
    assert_eq!(url.json()["error"], "uri_too_long");
    let body = browser.post_json("/auth/v1/signup", json!({"email": "big@example.com", "password": "pw123456", "data": {"blob": "z".repeat(4000)}})).await;
    assert_eq!(body.status, 413);
    assert_eq!(body.json()["error"], "body_too_large");
    assert_eq!(env.stub.count("POST", "/auth/v1/signup"), 0);
    assert!(
        env.stub
            .recorded()
            .iter()
            .all(|r| r.path != "/rest/v1/echo"),
        "nothing oversized reached Supabase"
    );
}

#[tokio::test]
async fn tokens_in_auth_redirects_never_reach_the_browser() {
    let env = Env::start().await;
    env.stub.create_user("link@example.com", "pw123456");
    let mut browser = env.browser();
    assert_eq!(
        browser
            .post_json("/auth/v1/magiclink", json!({"email": "link@example.com"}))
            .await
            .status,
        200
    );
    let token_hash = {
        use sha2::Digest;
        sha2::Sha224::digest(b"link@example.com123456")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    // Implicit-flow links put tokens in the redirect's fragment.
    let link = browser
        .get(&format!("/auth/v1/verify?token={token_hash}&type=magiclink&redirect_to=http%3A%2F%2Fapp.example%2Fcb"))
        .await;
    assert!(
        matches!(link.status, 302 | 303),
        "{} {}",
        link.status,
        link.text()
    );
    assert!(
        link.body.is_empty(),
        "Go's redirect body repeats the Location: {}",
        link.text()
    );
    let location = link.header("location").unwrap_or_default().to_string();
    assert!(location.starts_with("http://app.example/cb"), "{location}");
    assert!(
        !location.contains("access_token") && !location.contains("refresh_token"),
        "{location}"
    );
    env.assert_no_stub_tokens(&link);

    let implicit = browser
        .get("/auth/v1/authorize?provider=github&redirect_to=http%3A%2F%2Fapp.example%2Fcb")
        .await;
    env.assert_no_stub_tokens(&implicit);
    let location = implicit.header("location").unwrap_or_default();
    assert!(!location.contains("access_token"), "{location}");
}

/// Reads until the proxy closes the connection, which it must do after a
/// 1 s limit: not before (the timer is coarse: within a quarter second),
/// nor much after. Returns what arrived.
async fn dropped_after_about_a_second(stream: &mut tokio::net::TcpStream) -> String {
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection was not closed");
    let waited = started.elapsed();
    assert!(
        waited > Duration::from_millis(600) && waited < Duration::from_secs(3),
        "dropped after {waited:?}"
    );
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_slow_loris_client_is_dropped() {
    let env = Env::with(Setup {
        settings: vec![("PROXY_HEADER_TIMEOUT", "1s".into())],
        ..Setup::default()
    })
    .await;
    let mut stream = tokio::net::TcpStream::connect(env.proxy.addr)
        .await
        .unwrap();
    stream
        .write_all(b"GET /rest/v1/echo HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    dropped_after_about_a_second(&mut stream).await;
    assert!(env.stub.recorded().is_empty(), "nothing reached Supabase");
    // An idle kept-alive connection is closed the same way.
    let mut idle = tokio::net::TcpStream::connect(env.proxy.addr)
        .await
        .unwrap();
    let mut nothing = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), idle.read_to_end(&mut nothing)).await;
    assert!(closed.is_ok(), "an idle connection stays open forever");
}

#[tokio::test]
async fn a_stalled_auth_request_body_is_dropped_after_the_idle_timeout() {
    let env = Env::with(Setup {
        settings: vec![("PROXY_IDLE_TIMEOUT", "1s".into())],
        ..Setup::default()
    })
    .await;
    let mut stream = tokio::net::TcpStream::connect(env.proxy.addr)
        .await
        .unwrap();
    // Announces 100 bytes of sign-in, sends 10, then nothing.
    stream
        .write_all(
            b"POST /auth/v1/token?grant_type=password HTTP/1.1\r\nHost: x\r\n\
              Origin: http://127.0.0.1:8787\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"email\":",
        )
        .await
        .unwrap();
    let answer = dropped_after_about_a_second(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(env.stub.recorded().is_empty(), "nothing reached Supabase");
}
