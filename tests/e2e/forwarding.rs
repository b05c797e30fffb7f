//! Forwarding: the session's token upstream, the browser's credentials and
//! the proxy's cookie never; streaming; errors when Supabase is away.

use crate::support;

use http::Method;
use support::{Env, Setup};

#[tokio::test]
async fn requests_carry_the_sessions_token_or_the_anon_key() {
    let env = Env::start().await;
    let (mut browser, user_id) = env.signed_in("fwd@example.com").await;
    for path in [
        "/rest/v1/echo?select=*",
        "/storage/v1/object/bucket/file",
        "/functions/v1/hello",
        "/graphql/v1",
    ] {
        let reply = browser.get(path).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        let echo = reply.json();
        assert_eq!(echo["sub"], user_id.as_str(), "{path}");
        assert_eq!(echo["role"], "authenticated", "{path}");
        env.assert_no_stub_tokens(&reply);
    }
    let todos = browser.get("/rest/v1/todos").await.json();
    assert_eq!(todos[0]["user_id"], user_id.as_str());

    let mut anonymous = env.browser();
    let echo = anonymous.get("/rest/v1/echo").await.json();
    assert_eq!(echo["role"], "anon");
    assert!(echo["sub"].is_null());
}

#[tokio::test]
async fn the_browsers_authorization_is_ignored_and_its_cookie_stripped() {
    let env = Env::start().await;
    let (mut browser, user_id) = env.signed_in("strip@example.com").await;
    browser.other_cookies = Some("theme=dark".into());
    let service_key = env.stub.service_role_key();
    let bearer = format!("Bearer {service_key}");
    let reply = browser
        .send(
            Method::GET,
            "/rest/v1/echo",
            &[
                ("authorization", &bearer),
                ("host", "app.example.com"),
                ("prefer", "count=exact"),
            ],
            "",
        )
        .await;
    let echo = reply.json();
    assert_eq!(
        echo["role"], "authenticated",
        "the cookie decides, not the header"
    );
    assert_eq!(echo["sub"], user_id.as_str());
    assert_eq!(
        echo["cookie"], "theme=dark",
        "only the proxy's cookie is removed"
    );
    assert_eq!(echo["forwarded"]["for"], "127.0.0.1");
    assert_eq!(echo["forwarded"]["proto"], "http");
    assert_eq!(echo["forwarded"]["host"], "app.example.com");
    let seen = env
        .stub
        .recorded()
        .into_iter()
        .rfind(|r| r.path == "/rest/v1/echo")
        .unwrap();
    assert_eq!(seen.headers["apikey"], env.stub.anon_key().as_str());
    assert_eq!(seen.headers["prefer"], "count=exact");
    assert!(seen.headers.get("connection").is_none_or(|c| c != "x"));

    // Forged, truncated and tampered cookies are anonymous.
    let real = browser.cookie.clone().unwrap();
    let mut flipped = real.clone().into_bytes();
    flipped[5] = if flipped[5] == b'A' { b'B' } else { b'A' };
    let forgeries = [
        "forged".to_string(),
        real[..20].to_string(),
        String::from_utf8(flipped).unwrap(),
        format!("{real}x"),
        "A".repeat(43),
    ];
    for forged in forgeries {
        browser.cookie = Some(forged.clone());
        assert_eq!(
            browser.get("/rest/v1/echo").await.json()["role"],
            "anon",
            "{forged}"
        );
        browser.cookie = Some(forged.clone());
        assert_eq!(
            browser.get("/edge/v1/session").await.status,
            401,
            "{forged}"
        );
    }
}

#[tokio::test]
async fn paths_work_at_the_root_and_under_the_base_path() {
    let env = Env::with(Setup {
        settings: vec![("PROXY_PUBLIC_URL", "http://127.0.0.1:9/supabase".into())],
        ..Setup::default()
    })
    .await;
    let (mut browser, user_id) = env.signed_in("base@example.com").await;
    for path in ["/supabase/rest/v1/echo", "/rest/v1/echo"] {
        let echo = browser.get(path).await.json();
        assert_eq!(echo["path"], "/rest/v1/echo", "{path}");
        assert_eq!(echo["sub"], user_id.as_str(), "{path}");
    }
    assert_eq!(browser.get("/supabase/edge/v1/session").await.status, 200);
    let missing = browser.get("/nothing/here").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"], "not_found");
}

#[tokio::test]
async fn an_unreachable_supabase_is_a_502_with_a_json_error() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let settings = [
        ("SUPABASE_URL", format!("http://127.0.0.1:{port}")),
        ("SUPABASE_ANON_KEY", "anon".to_string()),
        ("PROXY_LISTEN", "127.0.0.1:0".to_string()),
        ("PROXY_SESSION_STORE", "memory:".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let proxy = support::start_proxy(&settings).await;
    let mut browser =
        support::Browser::new(&format!("http://{}", proxy.addr), "anon", "sb-session");
    let started = std::time::Instant::now();
    let reply = browser.get("/rest/v1/todos").await;
    assert_eq!(reply.status, 502);
    assert_eq!(reply.json()["error"], "upstream_unavailable");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "no hang"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn cors_is_answered_for_allowed_origins_only() {
    let env = Env::with(Setup {
        settings: vec![("PROXY_ALLOWED_ORIGINS", "https://app.example.com".into())],
        ..Setup::default()
    })
    .await;
    let mut browser = env.browser();
    let preflight = browser
        .send(
            Method::OPTIONS,
            "/rest/v1/todos",
            &[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "apikey, content-type"),
            ],
            "",
        )
        .await;
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        preflight.header("access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(
        preflight.header("access-control-allow-headers"),
        Some("apikey, content-type")
    );
    assert_eq!(
        env.stub.count("OPTIONS", "/rest/v1/todos"),
        0,
        "answered by the proxy"
    );

    let refused = browser
        .send(
            Method::OPTIONS,
            "/rest/v1/todos",
            &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "POST"),
            ],
            "",
        )
        .await;
    assert_eq!(refused.status, 403);
    assert!(refused.header("access-control-allow-origin").is_none());

    let allowed = browser
        .send(
            Method::GET,
            "/rest/v1/todos",
            &[("origin", "https://app.example.com")],
            "",
        )
        .await;
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    let foreign = browser
        .send(
            Method::GET,
            "/rest/v1/todos",
            &[("origin", "https://evil.example")],
            "",
        )
        .await;
    assert!(
        foreign.header("access-control-allow-origin").is_none(),
        "Supabase's `*` is not passed on"
    );
}

#[tokio::test]
async fn a_publishable_key_goes_upstream_as_supabase_js_sends_it() {
    const KEY: &str = "sb_publishable_e2eE2eE2eE2eE2eE2eE2eE2_0a1b2c3d";
    let stub = sbp_stub::Stub::start(sbp_stub::StubConfig {
        publishable_key: Some(KEY.to_string()),
        ..sbp_stub::StubConfig::default()
    })
    .await
    .expect("stub starts");
    let settings = support::settings_for(&stub, vec![("SUPABASE_ANON_KEY", KEY.to_string())]);
    let proxy = support::start_proxy(&settings).await;
    let env = Env {
        stub,
        proxy,
        settings,
    };
    // What reached the stand-in for `path`: apikey and Authorization.
    let sent = |path: &str| {
        let request = env
            .stub
            .recorded()
            .into_iter()
            .rev()
            .find(|r| r.path == path)
            .expect("forwarded");
        let header = |name| {
            request
                .headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
        };
        (header("apikey"), header("authorization"))
    };
    let key_as_bearer = (Some(KEY.to_string()), Some(format!("Bearer {KEY}")));

    let mut anonymous = env.browser();
    for path in [
        "/rest/v1/echo",
        "/storage/v1/object/bucket/file",
        "/graphql/v1",
    ] {
        let reply = anonymous.get(path).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        assert_eq!(reply.json()["role"], "anon", "{path}");
        assert_eq!(sent(path), key_as_bearer, "{path}");
    }
    let reply = anonymous.get("/functions/v1/hello").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        sent("/functions/v1/hello"),
        (Some(KEY.to_string()), None),
        "no Authorization built from the key on Edge Functions"
    );

    let (mut browser, user_id) = env.signed_in("publishable@example.com").await;
    assert_eq!(
        sent("/auth/v1/token"),
        key_as_bearer,
        "Auth gets the key as bearer"
    );
    for path in ["/rest/v1/echo", "/functions/v1/hello"] {
        let reply = browser.get(path).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        assert_eq!(reply.json()["sub"], user_id.as_str(), "{path}");
        let (apikey, authorization) = sent(path);
        assert_eq!(apikey.as_deref(), Some(KEY), "{path}");
        let token = authorization
            .unwrap()
            .strip_prefix("Bearer ")
            .unwrap()
            .to_string();
        assert!(
            env.stub.issued_tokens().contains(&token),
            "{path}: the session's token"
        );
        env.assert_no_stub_tokens(&reply);
    }
}
