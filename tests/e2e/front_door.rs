//! The front door (`PROXY_APP_URL`): what is neither Supabase's nor
//! `/edge/v1` goes to an app behind the proxy ([`app`], recording what it
//! receives), streamed both ways and upgraded to WebSockets, without the
//! session cookie and with an `X-Supabase-Identity` the app verifies
//! against the proxy's JWKS.

mod app;

use crate::support::{self, Browser, Env, Setup, websocket};
use app::App;
use bytes::Bytes;
use futures_util::stream;
use http::{Method, Request};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const IDENTITY: &str = "x-supabase-identity";
const WAIT: Duration = Duration::from_secs(10);

async fn env_with(app: &App, extra: Vec<(&'static str, String)>) -> Env {
    let mut settings = vec![("PROXY_APP_URL", app.url())];
    settings.extend(extra);
    Env::with(Setup {
        settings,
        ..Setup::default()
    })
    .await
}

/// The claims of an identity, its signature checked against the key of its
/// `kid` in the proxy's JWKS (which must say ES256 and sig).
async fn verified(env: &Env, token: &str) -> Value {
    let jwks = env
        .browser()
        .get("/edge/v1/.well-known/jwks.json")
        .await
        .json();
    let header = decode_header(token).expect("a JWT");
    assert_eq!(header.alg, Algorithm::ES256);
    let kid = header.kid.expect("a kid");
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap_or_else(|| panic!("kid {kid} is not in the JWKS {jwks}"));
    assert_eq!(
        (jwk["alg"].as_str(), jwk["use"].as_str()),
        (Some("ES256"), Some("sig"))
    );
    let jwk: Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&["http://127.0.0.1:8787"]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
    let claims = decode::<Value>(token, &DecodingKey::from_jwk(&jwk).unwrap(), &validation)
        .expect("the identity verifies against the JWKS")
        .claims;
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!(
        exp > iat && exp - iat <= 60,
        "valid for at most 60 s: {claims}"
    );
    claims
}

fn identity_of(seen: &app::Seen) -> Option<String> {
    seen.headers
        .get(IDENTITY)
        .map(|v| v.to_str().unwrap().to_string())
}

/// The Auth session id the stand-in issued for `user_id`.
fn auth_session_of(env: &Env, user_id: &str) -> Value {
    env.stub
        .issued_tokens()
        .iter()
        .filter(|t| t.split('.').count() == 3)
        .map(|t| support::jwt_claims(t))
        .find(|claims| claims["sub"] == user_id)
        .expect("Auth issued a token for the user")["session_id"]
        .clone()
}

#[tokio::test]
async fn paths_at_the_root_and_under_the_base_path_go_to_the_app_and_supabase_paths_do_not() {
    let app = App::start().await;
    let base = (
        "PROXY_PUBLIC_URL",
        "http://127.0.0.1:8787/supabase".to_string(),
    );
    let env = env_with(&app, vec![base]).await;
    let mut browser = env.browser();
    for target in [
        "/",
        "/about?x=1",
        "/supabase",
        "/supabase/dashboard",
        "/_next/static/a.js",
        "/edge/v10",
    ] {
        let reply = browser.get(target).await;
        assert_eq!(reply.status, 200, "{target}: {}", reply.text());
        assert_eq!(reply.text(), format!("app page {target}"));
        app.last(target);
    }
    let reply = browser
        .send(Method::POST, "/supabase/form", &[], "a=1")
        .await;
    assert_eq!(reply.text(), "app page /supabase/form");
    let before = app.seen().len();
    for target in [
        "/rest/v1/todos",
        "/supabase/rest/v1/todos",
        "/auth/v1/settings",
        "/storage/v1/bucket",
        "/functions/v1/hello",
        "/graphql/v1",
        "/realtime/v1/api/tenants",
        "/edge/v1/health",
        "/supabase/edge/v1/session",
        "/edge/v1/nothing",
        "/edge/v1",
    ] {
        browser.get(target).await;
    }
    let reply = browser.get("/supabase/edge/v1/nothing").await;
    assert_eq!(reply.status, 404, "an unknown edge path is the proxy's 404");
    assert_eq!(
        app.seen().len(),
        before,
        "{:?}",
        app.seen()[before..].to_vec()
    );
}

#[tokio::test]
async fn the_app_gets_forwarding_headers_other_cookies_and_a_verifiable_identity() {
    let app = App::start().await;
    let env = env_with(&app, vec![]).await;
    let (mut browser, user_id) = env.signed_in("front@example.com").await;
    browser.other_cookies = Some("theme=dark".into());
    let reply = browser.get("/page").await;
    assert_eq!(reply.status, 200);
    let seen = app.last("/page");
    assert_eq!(
        seen.headers["cookie"], "theme=dark",
        "the session cookie is removed"
    );
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    assert_eq!(
        seen.headers["x-forwarded-host"],
        env.proxy.addr.to_string().as_str()
    );
    let claims = verified(&env, &identity_of(&seen).expect("an identity")).await;
    let session = browser.get("/edge/v1/session").await.json();
    assert_eq!(claims["sub"], user_id.as_str());
    assert_eq!(claims["email"], "front@example.com");
    assert_eq!(claims["role"], "authenticated");
    assert_eq!(claims["aal"], "aal1");
    assert_eq!(claims["is_anonymous"], false);
    assert!(claims["app_metadata"].is_object(), "{claims}");
    assert!(claims.get("phone").is_some(), "{claims}");
    assert_eq!(claims["sid"], session["id"]);
    let auth_session = auth_session_of(&env, &user_id);
    assert!(auth_session.is_string());
    assert_eq!(claims["session_id"], auth_session);

    browser.other_cookies = None;
    browser.get("/only-ours").await;
    assert!(app.last("/only-ours").headers.get("cookie").is_none());
}

#[tokio::test]
async fn a_forged_identity_never_reaches_the_app_and_anonymous_requests_carry_none() {
    let app = App::start().await;
    let env = env_with(&app, vec![]).await;
    let forged = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.";
    let mut anonymous = env.browser();
    anonymous
        .send(Method::GET, "/anon", &[(IDENTITY, forged)], Bytes::new())
        .await;
    assert!(identity_of(&app.last("/anon")).is_none());

    let (mut browser, user_id) = env.signed_in("forger@example.com").await;
    browser
        .send(Method::GET, "/signed", &[(IDENTITY, forged)], Bytes::new())
        .await;
    let seen = app.last("/signed");
    assert_eq!(seen.headers.get_all(IDENTITY).iter().count(), 1);
    let identity = identity_of(&seen).unwrap();
    assert_ne!(identity, forged);
    assert_eq!(verified(&env, &identity).await["sub"], user_id.as_str());

    // Signed out, the old cookie names a session that is gone: no identity,
    // and the cookie is cleared.
    let old = browser.cookie.clone();
    let reply = browser
        .send(Method::POST, "/auth/v1/logout", &[], Bytes::new())
        .await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    let mut stale = env.browser().with_cookie(old);
    let reply = stale
        .send(Method::GET, "/stale", &[(IDENTITY, forged)], Bytes::new())
        .await;
    assert_eq!(reply.status, 200);
    assert!(identity_of(&app.last("/stale")).is_none());
    assert!(
        reply
            .set_cookies()
            .iter()
            .any(|c| c.starts_with("sb-session=;") || c.contains("Max-Age=0")),
        "{:?}",
        reply.set_cookies()
    );
}

#[tokio::test]
async fn cross_site_writes_reach_the_app_without_the_identity() {
    let app = App::start().await;
    let env = env_with(&app, vec![]).await;
    let (mut browser, _) = env.signed_in("csrf@example.com").await;
    let evil = [("origin", "https://evil.example")];
    let reply = browser.send(Method::POST, "/cross", &evil, "x").await;
    assert_eq!(
        reply.status,
        200,
        "the app judges cross-site requests: {}",
        reply.text()
    );
    assert!(identity_of(&app.last("/cross")).is_none());
    assert!(app.last("/cross").headers.get("cookie").is_none());
    browser.send(Method::POST, "/same", &[], "x").await;
    assert!(
        identity_of(&app.last("/same")).is_some(),
        "same-origin writes carry it"
    );
    browser
        .send(Method::GET, "/cross-read", &evil, Bytes::new())
        .await;
    assert!(
        identity_of(&app.last("/cross-read")).is_some(),
        "safe requests carry it"
    );
}

#[tokio::test]
async fn the_apps_answer_passes_back_but_hop_by_hop_headers_and_the_proxys_cookie() {
    let app = App::start().await;
    let env = env_with(&app, vec![]).await;
    let (mut browser, _) = env.signed_in("cookies@example.com").await;
    let cookie = browser.cookie.clone();
    let allowed = [("origin", "http://127.0.0.1:8787")];
    let reply = browser
        .send(Method::GET, "/cookies", &allowed, Bytes::new())
        .await;
    assert_eq!(reply.status, 200);
    let cookies = reply.set_cookies();
    assert!(
        cookies.contains(&"theme=dark; Path=/".to_string()),
        "{cookies:?}"
    );
    assert!(cookies.contains(&"lang=en".to_string()), "{cookies:?}");
    assert!(
        !cookies.iter().any(|c| c.contains("from-the-app")),
        "{cookies:?}"
    );
    assert_eq!(reply.header("x-app"), Some("kept"));
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("https://partner.example")
    );
    assert!(
        reply.header("x-hop").is_none(),
        "a header Connection names is hop-by-hop"
    );
    assert_eq!(browser.cookie, cookie);
    assert_eq!(browser.get("/edge/v1/session").await.status, 200);
}

#[tokio::test]
async fn the_apps_preflights_reach_the_app() {
    let app = App::start().await;
    let env = env_with(&app, vec![]).await;
    let preflight = [
        ("origin", "https://partner.example"),
        ("access-control-request-method", "PUT"),
    ];
    let reply = env
        .browser()
        .send(Method::OPTIONS, "/api/items", &preflight, Bytes::new())
        .await;
    assert_eq!(reply.text(), "app page /api/items", "not the proxy's 403");
    let seen = app.last("/api/items");
    assert_eq!(seen.headers["access-control-request-method"], "PUT");
    let reply = env
        .browser()
        .send(Method::OPTIONS, "/rest/v1/todos", &preflight, Bytes::new())
        .await;
    assert_eq!(
        reply.status, 403,
        "Supabase's preflights are still the proxy's"
    );
}

#[tokio::test]
async fn bodies_stream_both_ways() {
    let app = App::start().await;
    let env = env_with(&app, vec![]).await;
    let client = support::http::http_client();
    let base = env.base();

    // A large upload and download, whole and unchanged.
    const SIZE: usize = 32 << 20;
    let chunk = Bytes::from((0..1 << 20).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let mut expected = Sha256::new();
    for _ in 0..SIZE >> 20 {
        expected.update(&chunk);
    }
    let expected: String = expected
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let frames = stream::iter((0..SIZE >> 20).map(move |_| Ok(Frame::data(chunk.clone()))));
    let upload = Request::post(format!("{base}/upload"))
        .body(StreamBody::new(frames).boxed())
        .unwrap();
    let response = client.request(upload).await.unwrap();
    let answer: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(
        (answer["bytes"].as_u64(), answer["sha256"].as_str()),
        (Some(SIZE as u64), Some(expected.as_str()))
    );
    let download = Request::get(format!("{base}/download?n={SIZE}"))
        .body(support::http::full(Bytes::new()))
        .unwrap();
    let body = client
        .request(download)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(body.len(), SIZE);
    assert!(body.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));

    // A body that arrives in parts reaches the app part by part.
    let mut frames_at_app = app.upload_frames.lock().unwrap().take().unwrap();
    let (parts, received) = tokio::sync::mpsc::channel::<Bytes>(1);
    let body = stream::unfold(received, |mut rx| async move {
        rx.recv().await.map(|part| (Ok(Frame::data(part)), rx))
    });
    let request = Request::post(format!("{base}/parts"))
        .body(StreamBody::new(body).boxed())
        .unwrap();
    let client_for_upload = client.clone();
    let pending = tokio::spawn(async move { client_for_upload.request(request).await });
    parts.send(Bytes::from_static(b"first part")).await.unwrap();
    let first = tokio::time::timeout(WAIT, frames_at_app.recv()).await;
    assert_eq!(
        first.expect("the first part reaches the app before the rest is sent"),
        Some(10)
    );
    parts.send(Bytes::from_static(b"second")).await.unwrap();
    drop(parts);
    let response = pending.await.unwrap().unwrap();
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "16"
    );

    // An answer that comes in parts reaches the browser part by part.
    let download = Request::get(format!("{base}/download-parts"))
        .body(support::http::full(Bytes::new()))
        .unwrap();
    let mut body = client.request(download).await.unwrap().into_body();
    let first = tokio::time::timeout(WAIT, body.frame())
        .await
        .expect("the first part arrives before the app sends the rest");
    assert_eq!(first.unwrap().unwrap().into_data().unwrap(), "first,");
    app.release.notify_one();
    assert_eq!(body.collect().await.unwrap().to_bytes(), "second");
}

#[tokio::test]
async fn a_websocket_goes_through_the_front_door() {
    let app = App::start().await;
    let env = env_with(&app, vec![]).await;
    let (browser, _) = env.signed_in("ws@example.com").await;
    let cookie = format!("sb-session={}", browser.cookie.clone().unwrap());
    let page = ("origin", "http://127.0.0.1:8787");
    let mut socket = websocket::open(
        env.proxy.addr,
        "/ws",
        &[("cookie", &cookie), (IDENTITY, "forged"), page],
    )
    .await
    .expect("the app's upgrade is relayed");
    socket.send_text("hot reload").await;
    assert_eq!(
        socket.next(WAIT).await,
        Some(Message::Text("hot reload".into()))
    );
    socket
        .send(Message::Binary(Bytes::from_static(&[1, 2, 3])))
        .await;
    assert_eq!(
        socket.next(WAIT).await,
        Some(Message::Binary(Bytes::from_static(&[1, 2, 3])))
    );
    let seen = app.last("/ws");
    assert!(seen.headers.get("cookie").is_none());
    let identity = identity_of(&seen).unwrap();
    assert_ne!(identity, "forged");
    verified(&env, &identity).await;

    // A page elsewhere may open a socket that carries the cookie: it gets
    // the app's socket, without the identity.
    let elsewhere = ("origin", "https://evil.example");
    let mut socket = websocket::open(
        env.proxy.addr,
        "/ws?elsewhere",
        &[("cookie", &cookie), elsewhere],
    )
    .await
    .expect("the app decides about the socket");
    socket.send_text("hi").await;
    assert_eq!(socket.next(WAIT).await, Some(Message::Text("hi".into())));
    assert!(identity_of(&app.last("/ws?elsewhere")).is_none());
}

#[tokio::test]
async fn the_app_s_sockets_are_cut_when_the_proxy_stops() {
    let app = App::start().await;
    let env = env_with(&app, vec![]).await;
    let page = ("origin", "http://127.0.0.1:8787");
    let mut socket = websocket::open(env.proxy.addr, "/ws", &[page])
        .await
        .expect("the app's upgrade is relayed");
    socket.send_text("before").await;
    assert_eq!(
        socket.next(WAIT).await,
        Some(Message::Text("before".into()))
    );
    let stopping = std::time::Instant::now();
    env.proxy.shutdown().await;
    // The bytes are the app's protocol: no close frame, the connection ends.
    assert_eq!(socket.next(WAIT).await, None, "the socket ended");
    assert!(
        stopping.elapsed() < Duration::from_secs(3),
        "the open socket held the stop for {:?}",
        stopping.elapsed()
    );
}

#[tokio::test]
async fn an_unreachable_app_is_a_502() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let env = Env::with(Setup {
        settings: vec![("PROXY_APP_URL", url)],
        ..Setup::default()
    })
    .await;
    let reply = env.browser().get("/page").await;
    assert_eq!(reply.status, 502);
    assert_eq!(reply.json()["error"], "upstream_unavailable");
}

#[tokio::test]
async fn without_an_app_url_nothing_changes() {
    let env = Env::start().await;
    let mut browser = env.browser();
    let reply = browser.get("/about").await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"], "not_found");
    let jwks = browser.get("/edge/v1/.well-known/jwks.json").await.json();
    assert_eq!(jwks, serde_json::json!({"keys": []}));
    let (mut signed_in, _) = env.signed_in("nothing@example.com").await;
    let reply = signed_in
        .send(
            Method::POST,
            "/about",
            &[("origin", "https://evil.example")],
            "x",
        )
        .await;
    assert_eq!(
        reply.status,
        403,
        "the CSRF guard still runs: {}",
        reply.text()
    );
}

#[tokio::test]
async fn an_imported_identity_key_signs_with_its_kid() {
    let app = App::start().await;
    let jwk = r#"{"kty":"EC","crv":"P-256","kid":"app-identity-1","d":"CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk"}"#;
    let env = env_with(&app, vec![("PROXY_IDENTITY_KEY", jwk.to_string())]).await;
    let jwks = env
        .browser()
        .get("/edge/v1/.well-known/jwks.json")
        .await
        .json();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["kid"], "app-identity-1");
    assert!(jwks["keys"][0].get("d").is_none());
    let (mut browser, _) = env.signed_in("key@example.com").await;
    browser.get("/keyed").await;
    let identity = identity_of(&app.last("/keyed")).unwrap();
    assert_eq!(
        decode_header(&identity).unwrap().kid.as_deref(),
        Some("app-identity-1")
    );
    verified(&env, &identity).await;
}

/// Two browsers' requests in turn: each gets its own identity.
#[tokio::test]
async fn each_session_has_its_own_identity() {
    let app = App::start().await;
    let env = env_with(&app, vec![]).await;
    let (mut a, a_id): (Browser, String) = env.signed_in("a@example.com").await;
    let (mut b, b_id) = env.signed_in("b@example.com").await;
    a.get("/a").await;
    b.get("/b").await;
    assert_eq!(
        verified(&env, &identity_of(&app.last("/a")).unwrap()).await["sub"],
        a_id.as_str()
    );
    assert_eq!(
        verified(&env, &identity_of(&app.last("/b")).unwrap()).await["sub"],
        b_id.as_str()
    );
}

/// The identity needs only the cached user: an app request never refreshes
/// Auth's tokens, even expired ones, which a Supabase call refreshes.
#[tokio::test]
async fn app_requests_never_refresh_auths_tokens() {
    let app = App::start().await;
    let env = Env::with(Setup {
        token_ttl: 2,
        settings: vec![("PROXY_APP_URL", app.url())],
        ..Setup::default()
    })
    .await;
    let (mut browser, user_id) = env.signed_in("due@example.com").await;
    support::clock::expired(support::clock::last_access_token_exp(&env.stub)).await;
    for _ in 0..3 {
        assert_eq!(browser.get("/page").await.status, 200);
    }
    assert_eq!(env.stub.refresh_count(), 0);
    let identity = identity_of(&app.last("/page")).expect("an identity without a refresh");
    assert_eq!(verified(&env, &identity).await["sub"], user_id.as_str());
    browser.get("/rest/v1/echo").await;
    assert_eq!(env.stub.refresh_count(), 1, "a Supabase call refreshes");
}

/// The app's sockets count against `PROXY_MAX_SOCKETS`, as Realtime's do.
#[tokio::test]
async fn app_sockets_beyond_the_limit_are_refused_before_the_app() {
    let app = App::start().await;
    let env = env_with(&app, vec![("PROXY_MAX_SOCKETS", "1".to_string())]).await;
    let mut first = websocket::open(env.proxy.addr, "/ws?first", &[])
        .await
        .expect("one socket is allowed");
    let refused = websocket::open(env.proxy.addr, "/ws?second", &[])
        .await
        .err()
        .expect("a second socket is refused");
    assert_eq!(refused.status, 503);
    assert_eq!(refused.body["error"], "too_many_sockets");
    assert!(!app.seen().iter().any(|s| s.target == "/ws?second"));
    first.send_text("still open").await;
    assert_eq!(
        first.next(WAIT).await,
        Some(Message::Text("still open".into()))
    );
    drop(first);
    // Closed, the socket frees its place (once the proxy sees both ends go).
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match websocket::open(env.proxy.addr, "/ws?third", &[]).await {
            Ok(_) => break,
            Err(refused) => {
                assert_eq!(refused.status, 503);
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the slot is never freed"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}
