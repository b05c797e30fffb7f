//! The redirect flows with no code in the app: OAuth through
//! `/edge/v1/authorize` and `/edge/v1/callback` (server-side PKCE), and
//! email links through `/edge/v1/confirm`, each followed hop by hop as a
//! browser follows them, with the flow cookie kept like a browser keeps it;
//! SAML SSO in `redirect_flows/sso.rs`.

use crate::support::{Browser, Env, Reply, Setup};
use serde_json::{Value, json};

mod sso;

/// `PROXY_PUBLIC_URL` in the tests' environment (the proxy itself listens
/// on a free port): every redirect the proxy writes starts with it.
const PUBLIC: &str = "http://127.0.0.1:8787";

/// The path and query of a `Location` on the public URL.
fn on_proxy(location: &str) -> String {
    location
        .strip_prefix(PUBLIC)
        .unwrap_or_else(|| panic!("{location} is not on the proxy"))
        .to_string()
}

fn location(reply: &Reply) -> String {
    assert_eq!(reply.status, 303, "{}", reply.text());
    reply.header("location").expect("a Location").to_string()
}

fn query_of(url: &str) -> Vec<(String, String)> {
    let url = url::Url::parse(url).expect("a URL");
    url.query_pairs()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
}

fn param(url: &str, name: &str) -> Option<String> {
    query_of(url)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// The flow cookie a reply sets, as `name=value` for the `Cookie` header.
fn flow_cookie(reply: &Reply) -> String {
    reply
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("sb-flow="))
        .map(|c| c.split(';').next().unwrap().to_string())
        .expect("the flow cookie")
}

/// `/edge/v1/authorize` with `query`, then Auth's `/authorize` through the
/// proxy: the callback URL Auth sends the browser to (path and query), and
/// the flow cookie the browser now holds.
async fn start(browser: &mut Browser, query: &str) -> (String, String) {
    let reply = browser.get(&format!("/edge/v1/authorize?{query}")).await;
    let to_auth = location(&reply);
    let cookie = flow_cookie(&reply);
    let from_auth = browser.get(&on_proxy(&to_auth)).await;
    assert_eq!(from_auth.status, 302, "{}", from_auth.text());
    let callback = from_auth.header("location").expect("Location").to_string();
    (on_proxy(&callback), cookie)
}

/// The callback with `flow` as the browser's flow cookie.
async fn callback(browser: &mut Browser, path: &str, flow: Option<&str>) -> Reply {
    browser.other_cookies = flow.map(str::to_string);
    let reply = browser.get(path).await;
    browser.other_cookies = None;
    reply
}

#[tokio::test]
async fn oauth_through_the_proxy_ends_at_next_signed_in() {
    let env = Env::start().await;
    let mut browser = env.browser();
    let reply = browser
        .get("/edge/v1/authorize?provider=github&next=%2Fafter%3Fx%3D1&scopes=repo%20gist&prompt=consent")
        .await;
    let to_auth = location(&reply);
    assert!(
        to_auth.starts_with(&format!(
            "{PUBLIC}/auth/v1/authorize?provider=github&redirect_to=http%3A%2F%2F127.0.0.1%3A8787%2Fedge%2Fv1%2Fcallback&scopes=repo+gist&code_challenge="
        )),
        "{to_auth}"
    );
    assert!(
        to_auth.ends_with("&code_challenge_method=s256&prompt=consent"),
        "{to_auth}"
    );
    let set = reply.set_cookies().join("\n");
    for part in [
        "sb-flow=",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/edge/v1/callback",
        "Max-Age=600",
    ] {
        assert!(set.contains(part), "{set} has {part}");
    }
    assert!(!set.contains("sb-session="), "no session yet");
    let cookie = flow_cookie(&reply);
    let from_auth = browser.get(&on_proxy(&to_auth)).await;
    let back = from_auth.header("location").unwrap().to_string();
    assert!(
        back.starts_with(&format!("{PUBLIC}/edge/v1/callback?code=")),
        "{back}"
    );
    let seen = env
        .stub
        .recorded()
        .into_iter()
        .find(|r| r.path == "/auth/v1/authorize")
        .expect("Auth's /authorize was called");
    let query = seen.query.unwrap_or_default();
    assert!(
        query.contains("prompt=consent") && query.contains("scopes=repo+gist"),
        "{query}"
    );

    let done = callback(&mut browser, &on_proxy(&back), Some(&cookie)).await;
    assert_eq!(location(&done), format!("{PUBLIC}/after?x=1"));
    let cookies = done.set_cookies().join("\n");
    assert!(
        cookies.contains("sb-flow=;") && cookies.contains("Max-Age=0"),
        "{cookies}"
    );
    assert!(
        browser.cookie.is_some(),
        "the session cookie is set: {cookies}"
    );
    assert_eq!(done.header("cache-control"), Some("no-store"));
    env.assert_no_stub_tokens(&done);
    let session = browser.get("/edge/v1/session").await;
    assert_eq!(session.status, 200, "{}", session.text());
    assert_eq!(session.json()["user"]["email"], "github-user@example.com");
    let exchange = env
        .stub
        .recorded()
        .into_iter()
        .find(|r| r.path == "/auth/v1/token")
        .expect("the code was exchanged");
    assert_eq!(exchange.query.as_deref(), Some("grant_type=pkce"));
}

#[tokio::test]
async fn a_callback_without_this_browsers_flow_cookie_is_refused() {
    let env = Env::start().await;
    let mut victim = env.browser();
    let (path, victims_cookie) = start(&mut victim, "provider=github&next=/after").await;

    // Another browser (an attacker's link) with no flow cookie.
    let mut other = env.browser();
    let refused = callback(&mut other, &path, None).await;
    let to = location(&refused);
    assert!(
        to.starts_with(&format!("{PUBLIC}/?error=invalid_request&")),
        "{to}"
    );
    assert!(other.cookie.is_none());

    // With a flow cookie of its own flow: Auth refuses the verifier.
    let (_, own_cookie) = start(&mut other, "provider=github&next=/mine").await;
    let wrong = callback(&mut other, &path, Some(&own_cookie)).await;
    let to = location(&wrong);
    assert!(to.starts_with(&format!("{PUBLIC}/mine?")), "{to}");
    assert_eq!(param(&to, "error").as_deref(), Some("bad_code_verifier"));
    assert!(param(&to, "error_description").is_some_and(|d| !d.is_empty()));
    assert!(other.cookie.is_none(), "no session for the wrong browser");

    // A forged flow cookie opens nothing.
    let forged = callback(&mut other, &path, Some("sb-flow=sbp-sealed:v1:AAAA")).await;
    assert_eq!(
        param(&location(&forged), "error").as_deref(),
        Some("invalid_request")
    );

    // The browser that started the flow still signs in with the code.
    let done = callback(&mut victim, &path, Some(&victims_cookie)).await;
    assert_eq!(location(&done), format!("{PUBLIC}/after"));
    assert!(victim.cookie.is_some());
}

#[tokio::test]
async fn a_replayed_code_signs_nobody_in() {
    let env = Env::start().await;
    let mut browser = env.browser();
    let (path, cookie) = start(&mut browser, "provider=github&next=/after").await;
    let done = callback(&mut browser, &path, Some(&cookie)).await;
    assert_eq!(location(&done), format!("{PUBLIC}/after"));
    let session = browser.cookie.clone();

    // The same URL and the same (captured) flow cookie, in a fresh browser.
    let mut replayer = env.browser();
    let replay = callback(&mut replayer, &path, Some(&cookie)).await;
    let to = location(&replay);
    assert_eq!(
        param(&to, "error").as_deref(),
        Some("flow_state_not_found"),
        "{to}"
    );
    assert!(replayer.cookie.is_none());
    assert_eq!(browser.cookie, session);
}

#[tokio::test]
async fn errors_from_auth_reach_next_as_query_parameters() {
    let env = Env::start().await;
    let mut browser = env.browser();
    // The provider refuses (nobody is signed in there for prompt=none).
    let (path, cookie) = start(&mut browser, "provider=github&next=/after&prompt=none").await;
    assert!(path.contains("error=login_required"), "{path}");
    let done = callback(&mut browser, &path, Some(&cookie)).await;
    let to = location(&done);
    assert!(
        to.starts_with(&format!("{PUBLIC}/after?error=login_required&")),
        "{to}"
    );
    assert_eq!(
        param(&to, "error_description").as_deref(),
        Some("Nobody is signed in at github")
    );
    assert!(browser.cookie.is_none());

    // Nothing to sign in with: the app is told, no blank page.
    let reply = browser.get("/edge/v1/authorize?next=/after").await;
    assert_eq!(
        param(&location(&reply), "error").as_deref(),
        Some("invalid_request")
    );
    assert!(reply.set_cookies().is_empty());

    // Both kinds of SSO provider at once, or a provider and SSO: refused here.
    for both in [
        "domain=example.org&provider_id=p1",
        "provider=github&domain=example.org",
    ] {
        let reply = browser
            .get(&format!("/edge/v1/authorize?{both}&next=/after"))
            .await;
        assert_eq!(
            param(&location(&reply), "error").as_deref(),
            Some("invalid_request")
        );
    }
    assert!(env.stub.recorded().iter().all(|r| r.path != "/auth/v1/sso"));

    // SSO: Auth's /sso error (SAML is off in this project) reaches next.
    let reply = browser
        .get("/edge/v1/authorize?domain=example.org&next=/after")
        .await;
    let to = location(&reply);
    assert!(to.starts_with(&format!("{PUBLIC}/after?")), "{to}");
    assert_eq!(
        param(&to, "error").as_deref(),
        Some("saml_provider_disabled")
    );
    assert_eq!(
        param(&to, "error_description").as_deref(),
        Some("SAML 2.0 is disabled")
    );
    assert!(
        reply.set_cookies().is_empty(),
        "no flow cookie for a flow that did not start"
    );
    let sso = env
        .stub
        .recorded()
        .into_iter()
        .find(|r| r.path == "/auth/v1/sso")
        .expect("POST /sso was called");
    let body: Value = serde_json::from_slice(&sso.body).unwrap();
    assert_eq!(body["domain"], "example.org");
    assert_eq!(body["skip_http_redirect"], true);
    assert_eq!(body["code_challenge_method"], "s256");
    assert_eq!(body["redirect_to"], format!("{PUBLIC}/edge/v1/callback"));
}

#[tokio::test]
async fn open_redirect_tricks_end_at_the_app_root() {
    // Each trick is a whole flow: more than the default per-client limit.
    let env = Env::with(Setup {
        settings: vec![("PROXY_AUTH_RATE_LIMIT", "off".to_string())],
        ..Setup::default()
    })
    .await;
    let mut browser = env.browser();
    let root = format!("{PUBLIC}/");
    let tricks = [
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "https:evil.example",
        "http://evil.example/after",
        "javascript:alert(1)",
        "/\t/evil.example",
        "/\n/evil.example",
        "https://127.0.0.1:8787@evil.example/",
        "http://127.0.0.1:9999/after",
        "%2f%2fevil.example",
    ];
    for trick in tricks {
        let next: String = url::form_urlencoded::byte_serialize(trick.as_bytes()).collect();
        // Through the whole OAuth flow.
        let (path, cookie) = start(&mut browser, &format!("provider=github&next={next}")).await;
        let done = callback(&mut browser, &path, Some(&cookie)).await;
        assert_eq!(location(&done), root, "{trick:?}");
        // And a confirm link that fails: the error still goes to the root.
        let reply = browser.get(&format!("/edge/v1/confirm?next={next}")).await;
        let to = location(&reply);
        assert!(
            to.starts_with(&format!("{root}?error=invalid_request")),
            "{trick:?}: {to}"
        );
    }
    let kept = browser.get("/edge/v1/confirm?next=%2Fapp%2Fpage").await;
    assert!(location(&kept).starts_with(&format!("{PUBLIC}/app/page?error=")));
}

/// `POST /auth/v1/admin/generate_link` on the stub: the link's `hashed_token`.
async fn link(env: &Env, body: Value) -> String {
    let service = env.stub.service_role_key();
    let mut admin = Browser::new(&env.stub.url(), &service, "none");
    let reply = admin
        .send(
            http::Method::POST,
            "/auth/v1/admin/generate_link",
            &[
                ("authorization", &format!("Bearer {service}")),
                ("content-type", "application/json"),
            ],
            body.to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["hashed_token"].as_str().unwrap().to_string()
}

async fn confirm(browser: &mut Browser, hash: &str, kind: &str) -> String {
    let reply = browser
        .get(&format!(
            "/edge/v1/confirm?token_hash={hash}&type={kind}&next=/welcome"
        ))
        .await;
    location(&reply)
}

#[tokio::test]
async fn confirm_links_of_every_type_sign_in() {
    let env = Env::start().await;
    let welcome = format!("{PUBLIC}/welcome");
    let cases = [
        (
            "signup",
            "signup",
            json!({"type": "signup", "email": "s@example.com", "password": "pw123456"}),
        ),
        (
            "invite",
            "invite",
            json!({"type": "invite", "email": "i@example.com"}),
        ),
        (
            "magiclink",
            "magiclink",
            json!({"type": "magiclink", "email": "m@example.com"}),
        ),
        (
            "recovery",
            "recovery",
            json!({"type": "recovery", "email": "r@example.com"}),
        ),
        (
            "email",
            "magiclink",
            json!({"type": "magiclink", "email": "e@example.com"}),
        ),
    ];
    env.stub.create_user("r@example.com", "pw123456");
    for (kind, _, body) in cases {
        let email = body["email"].as_str().unwrap().to_string();
        let hash = link(&env, body).await;
        let mut browser = env.browser();
        assert_eq!(confirm(&mut browser, &hash, kind).await, welcome, "{kind}");
        let session = browser.get("/edge/v1/session").await;
        assert_eq!(session.status, 200, "{kind}: {}", session.text());
        assert_eq!(session.json()["user"]["email"], email.as_str());
        // Links are used once.
        let mut again = env.browser();
        let to = confirm(&mut again, &hash, kind).await;
        assert_eq!(
            param(&to, "error").as_deref(),
            Some("otp_expired"),
            "{kind}"
        );
        assert!(again.cookie.is_none());
    }
    // A link of one type is not good for another.
    let hash = link(&env, json!({"type": "invite", "email": "x@example.com"})).await;
    let mut browser = env.browser();
    let to = confirm(&mut browser, &hash, "recovery").await;
    assert!(
        to.starts_with(&format!("{welcome}?error=otp_expired&")),
        "{to}"
    );
    let to = confirm(&mut browser, &hash, "nonsense").await;
    assert_eq!(param(&to, "error").as_deref(), Some("invalid_request"));
    assert!(browser.cookie.is_none());
}

#[tokio::test]
async fn a_recovery_link_lets_the_user_set_a_new_password() {
    let env = Env::start().await;
    env.stub.create_user("forgot@example.com", "old-password");
    let hash = link(
        &env,
        json!({"type": "recovery", "email": "forgot@example.com"}),
    )
    .await;
    let mut browser = env.browser();
    assert_eq!(
        confirm(&mut browser, &hash, "recovery").await,
        format!("{PUBLIC}/welcome")
    );
    let updated = browser
        .send(
            http::Method::PUT,
            "/auth/v1/user",
            &[("content-type", "application/json")],
            json!({"password": "new-password-1"}).to_string(),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text());
    let mut fresh = env.browser();
    assert_eq!(
        fresh
            .sign_in("forgot@example.com", "new-password-1")
            .await
            .status,
        200
    );
    assert_eq!(
        env.browser()
            .sign_in("forgot@example.com", "old-password")
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn an_email_change_updates_the_current_session() {
    let env = Env::start().await;
    let (mut browser, user_id) = env.signed_in("before@example.com").await;
    let cookie = browser.cookie.clone();
    let change = |kind: &str| json!({"type": kind, "email": "before@example.com", "new_email": "after@example.com"});
    let current = link(&env, change("email_change_current")).await;
    let new = link(&env, change("email_change_new")).await;

    let first = confirm(&mut browser, &current, "email_change").await;
    assert!(
        param(&first, "message").is_some_and(|m| m.contains("other email")),
        "{first}"
    );
    assert_eq!(param(&first, "error"), None);
    let session = browser.get("/edge/v1/session").await.json();
    assert_eq!(session["user"]["email"], "before@example.com");

    let second = confirm(&mut browser, &new, "email_change").await;
    assert_eq!(second, format!("{PUBLIC}/welcome"));
    assert_eq!(browser.cookie, cookie, "the same session, the same cookie");
    let session = browser.get("/edge/v1/session").await.json();
    assert_eq!(session["user"]["email"], "after@example.com");
    let sessions = browser.get("/edge/v1/sessions").await.json();
    assert_eq!(sessions.as_array().unwrap().len(), 1, "{sessions}");
    // The Auth session the verification opened was ended again.
    crate::support::eventually("one Auth session left", || {
        env.stub.auth_session_ids(&user_id).len() == 1
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_auth_is_reported_to_the_app_not_a_blank_page() {
    // A port nobody listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let stub = sbp_stub::Stub::start(sbp_stub::StubConfig::default())
        .await
        .unwrap();
    let mut settings = crate::support::settings_for(&stub, vec![]);
    settings.insert("SUPABASE_URL".into(), url);
    let proxy = crate::support::start_proxy(&settings).await;
    let mut browser = Browser::new(
        &format!("http://{}", proxy.addr),
        &stub.anon_key(),
        "sb-session",
    );

    let reply = browser
        .get("/edge/v1/confirm?token_hash=abc&type=signup&next=/welcome")
        .await;
    let to = location(&reply);
    assert!(
        to.starts_with(&format!("{PUBLIC}/welcome?error=server_error&")),
        "{to}"
    );

    let started = browser
        .get("/edge/v1/authorize?provider=github&next=/after")
        .await;
    let cookie = flow_cookie(&started);
    let done = callback(&mut browser, "/edge/v1/callback?code=abc", Some(&cookie)).await;
    let to = location(&done);
    assert!(
        to.starts_with(&format!("{PUBLIC}/after?error=server_error&")),
        "{to}"
    );
    assert!(browser.cookie.is_none());
}

#[tokio::test]
async fn with_a_store_key_a_flow_started_on_one_instance_ends_on_another() {
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_string();
    let env = Env::with(Setup {
        settings: vec![("PROXY_STORE_KEY", key)],
        ..Setup::default()
    })
    .await;
    let second = crate::support::start_proxy(&env.settings).await;
    let mut first = env.browser();
    let (path, cookie) = start(&mut first, "provider=github&next=/after").await;
    let mut on_second = Browser::new(
        &format!("http://{}", second.addr),
        &env.stub.anon_key(),
        "sb-session",
    );
    let done = callback(&mut on_second, &path, Some(&cookie)).await;
    assert_eq!(location(&done), format!("{PUBLIC}/after"));
    assert!(on_second.cookie.is_some());

    // Without the key, each instance has its own: the other refuses.
    let plain = Env::start().await;
    let other = crate::support::start_proxy(&plain.settings).await;
    let mut first = plain.browser();
    let (path, cookie) = start(&mut first, "provider=github&next=/after").await;
    let mut elsewhere = Browser::new(
        &format!("http://{}", other.addr),
        &plain.stub.anon_key(),
        "sb-session",
    );
    let refused = callback(&mut elsewhere, &path, Some(&cookie)).await;
    assert_eq!(
        param(&location(&refused), "error").as_deref(),
        Some("invalid_request")
    );
}

#[tokio::test]
async fn under_a_base_path_the_callback_the_cookie_and_next_are_under_it() {
    let env = Env::with(Setup {
        settings: vec![("PROXY_PUBLIC_URL", format!("{PUBLIC}/supabase"))],
        ..Setup::default()
    })
    .await;
    let mut browser = env.browser();
    let reply = browser
        .get("/supabase/edge/v1/authorize?provider=github&next=/after")
        .await;
    let to_auth = location(&reply);
    assert!(
        to_auth.starts_with(&format!("{PUBLIC}/supabase/auth/v1/authorize?")),
        "{to_auth}"
    );
    assert_eq!(
        param(&to_auth, "redirect_to").as_deref(),
        Some("http://127.0.0.1:8787/supabase/edge/v1/callback")
    );
    assert!(
        reply
            .set_cookies()
            .join("\n")
            .contains("Path=/supabase/edge/v1/callback"),
        "{:?}",
        reply.set_cookies()
    );
    let cookie = flow_cookie(&reply);
    let back = browser.get(&on_proxy(&to_auth)).await;
    let path = on_proxy(back.header("location").unwrap());
    let done = callback(&mut browser, &path, Some(&cookie)).await;
    assert_eq!(location(&done), format!("{PUBLIC}/supabase/after"));
    assert!(browser.cookie.is_some());
    let fallback = browser
        .get("/supabase/edge/v1/confirm?next=//evil.example")
        .await;
    assert!(location(&fallback).starts_with(&format!("{PUBLIC}/supabase/?error=")));
}
