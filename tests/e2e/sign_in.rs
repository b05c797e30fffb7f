//! Sign-in becomes a cookie session; the browser only ever sees placeholders.

use crate::support;

use http::Method;
use serde_json::json;
use support::{Env, jwt_claims};

#[tokio::test]
async fn password_sign_in_sets_an_http_only_cookie_and_hides_tokens() {
    let env = Env::start().await;
    env.stub.create_user("alice@example.com", "pw123456");
    let mut browser = env.browser();
    let reply = browser.sign_in("alice@example.com", "pw123456").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    env.assert_no_stub_tokens(&reply);

    let set_cookie = reply.set_cookies().join("\n");
    for flag in [
        "sb-session=",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=2592000",
    ] {
        assert!(set_cookie.contains(flag), "{set_cookie} lacks {flag}");
    }
    assert!(
        !set_cookie.contains("Secure"),
        "http public URL: no Secure flag"
    );
    assert_eq!(reply.header("cache-control"), Some("no-store"));

    let body = reply.json();
    let now = body["expires_at"].as_i64().unwrap() - body["expires_in"].as_i64().unwrap();
    assert!(
        (now - unix_now()).abs() <= 2,
        "expires_in and expires_at agree"
    );
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["user"]["email"], "alice@example.com");
    let claims = sbp_core::token::read_claims(body["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(
        claims.all["email"], "alice@example.com",
        "placeholder carries public claims"
    );
    assert!(!body["refresh_token"].as_str().unwrap().is_empty());

    // The placeholder is worthless against Supabase.
    let placeholder = body["access_token"].as_str().unwrap().to_string();
    let direct = hyper_get(
        &format!("{}/rest/v1/echo", env.stub.url()),
        &placeholder,
        &env.stub.anon_key(),
    )
    .await;
    assert_eq!(direct, 401, "Supabase rejects the placeholder");

    let session = browser.get("/edge/v1/session").await;
    assert_eq!(session.status, 200);
    assert_eq!(session.json()["user"]["email"], "alice@example.com");
    env.assert_no_stub_tokens(&session);
}

#[tokio::test]
async fn every_token_response_creates_a_session() {
    let env = Env::start().await;
    let cases: Vec<(&str, serde_json::Value)> = vec![
        (
            "/auth/v1/signup",
            json!({"email": "new@example.com", "password": "pw123456", "data": {"name": "N"}}),
        ),
        ("/auth/v1/signup", json!({"data": {}})),
        (
            "/auth/v1/token?grant_type=id_token",
            json!({"provider": "google", "id_token": "stub:idt@example.com"}),
        ),
    ];
    for (path, body) in cases {
        let mut browser = env.browser();
        let reply = browser.post_json(path, body.clone()).await;
        assert_eq!(reply.status, 200, "{path} {body}: {}", reply.text());
        env.assert_no_stub_tokens(&reply);
        assert!(browser.cookie.is_some(), "{path} {body} gave no cookie");
        assert_eq!(browser.get("/edge/v1/session").await.status, 200, "{path}");
    }

    // The spellings GoTrue routes to the same handler, and passkey sign-in.
    let mut browser = env.browser();
    let reply = browser
        .post_json(
            "/auth/v1/signup/",
            json!({"email": "slash@example.com", "password": "pw123456"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    env.assert_no_stub_tokens(&reply);
    assert!(browser.cookie.is_some(), "/signup/ made no session");
    let mut browser = env.browser();
    let options = browser
        .post_json("/auth/v1/passkeys/authentication/options", json!({}))
        .await;
    assert_eq!(options.status, 200, "{}", options.text());
    let passkey = browser
        .post_json(
            "/auth/v1/passkeys/authentication/verify",
            json!({"challenge_id": options.json()["challenge_id"],
                   "credential": {"id": "stub:new@example.com", "type": "public-key"}}),
        )
        .await;
    assert_eq!(passkey.status, 200, "{}", passkey.text());
    env.assert_no_stub_tokens(&passkey);
    assert_eq!(
        browser.get("/edge/v1/session").await.json()["user"]["email"],
        "new@example.com"
    );

    // OTP: request a code, then verify it.
    let mut browser = env.browser();
    env.stub.create_user("otp@example.com", "pw123456");
    let otp = browser
        .post_json("/auth/v1/otp", json!({"email": "otp@example.com"}))
        .await;
    assert_eq!(otp.status, 200);
    assert!(browser.cookie.is_none());
    let verify = browser
        .post_json(
            "/auth/v1/verify",
            json!({"type": "email", "email": "otp@example.com", "token": "123456"}),
        )
        .await;
    assert_eq!(verify.status, 200, "{}", verify.text());
    env.assert_no_stub_tokens(&verify);
    assert_eq!(
        browser.get("/edge/v1/session").await.json()["user"]["email"],
        "otp@example.com"
    );
}

#[tokio::test]
async fn pkce_code_exchange_creates_a_session() {
    let env = Env::start().await;
    let mut browser = env.browser();
    let verifier = "a-code-verifier-that-is-long-enough-to-be-valid-0123456789";
    let challenge = {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
    };
    let authorize = browser
        .get(&format!(
            "/auth/v1/authorize?provider=github&redirect_to=http%3A%2F%2Fapp.example%2Fcb&code_challenge={challenge}&code_challenge_method=s256"
        ))
        .await;
    assert_eq!(authorize.status, 302);
    let location = authorize.header("location").unwrap().to_string();
    let code = location
        .split("code=")
        .nth(1)
        .expect("code in redirect")
        .to_string();
    let reply = browser
        .post_json(
            "/auth/v1/token?grant_type=pkce",
            json!({"auth_code": code, "code_verifier": verifier}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    env.assert_no_stub_tokens(&reply);
    assert!(reply.json().get("provider_refresh_token").is_none());
    assert_eq!(browser.get("/edge/v1/session").await.status, 200);
}

#[tokio::test]
async fn sign_up_awaiting_confirmation_creates_no_session() {
    let env = Env::start().await;
    // An existing user: Auth answers 422, passed through untouched.
    env.stub.create_user("taken@example.com", "pw123456");
    let mut browser = env.browser();
    let reply = browser
        .post_json(
            "/auth/v1/signup",
            json!({"email": "taken@example.com", "password": "pw123456"}),
        )
        .await;
    assert_eq!(reply.status, 422);
    assert_eq!(reply.json()["code"], "user_already_exists");
    assert!(browser.cookie.is_none());
}

#[tokio::test]
async fn a_new_sign_in_replaces_the_browsers_old_session() {
    let env = Env::start().await;
    let (mut browser, _) = env.signed_in("first@example.com").await;
    let old_cookie = browser.cookie.clone().unwrap();
    env.stub.create_user("second@example.com", "pw123456");
    assert_eq!(
        browser
            .sign_in("second@example.com", "pw123456")
            .await
            .status,
        200
    );
    let new_cookie = browser.cookie.clone().unwrap();
    assert_ne!(old_cookie, new_cookie, "a new secret at every sign-in");
    assert_eq!(
        browser.get("/edge/v1/session").await.json()["user"]["email"],
        "second@example.com"
    );

    browser.cookie = Some(old_cookie);
    let stale = browser.get("/edge/v1/session").await;
    assert_eq!(stale.status, 401, "the replaced session is deleted");
    assert!(browser.cookie.is_none(), "a stale cookie is cleared");
}

#[tokio::test]
async fn the_browsers_refresh_grant_is_answered_from_the_session() {
    let env = Env::start().await;
    let (mut browser, _) = env.signed_in("refresh@example.com").await;
    let reply = browser
        .post_json(
            "/auth/v1/token?grant_type=refresh_token",
            json!({"refresh_token": "whatever"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    env.assert_no_stub_tokens(&reply);
    let body = reply.json();
    assert_eq!(body["user"]["email"], "refresh@example.com");
    assert!(body["expires_in"].as_i64().unwrap() > 3000);
    assert_eq!(env.stub.refresh_count(), 0, "no call to Auth");
    assert!(reply.set_cookies().is_empty(), "the session stays the same");
}

#[tokio::test]
async fn calls_that_need_a_user_answer_in_auths_error_shapes_without_a_session() {
    let env = Env::start().await;
    let mut browser = env.browser();
    let refresh = browser
        .post_json(
            "/auth/v1/token?grant_type=refresh_token",
            json!({"refresh_token": "x"}),
        )
        .await;
    assert_eq!(refresh.status, 400);
    assert_eq!(refresh.json()["code"], "refresh_token_not_found");
    assert_eq!(
        refresh.header("x-sb-error-code"),
        Some("refresh_token_not_found")
    );
    // supabase-js reads the error's code only when the version is echoed.
    assert_eq!(refresh.header("x-supabase-api-version"), Some("2024-01-01"));

    let user = browser.get("/auth/v1/user").await;
    assert_eq!(
        (user.status, user.json()["code"].clone()),
        (403, json!("session_not_found"))
    );
    let logout = browser.post_json("/auth/v1/logout", json!({})).await;
    assert_eq!(logout.status, 403);
    assert_eq!(
        env.stub.count("GET", "/auth/v1/user"),
        0,
        "nothing reached Auth"
    );
}

#[tokio::test]
async fn unreadable_json_from_auth_is_refused_without_a_session() {
    let env = Env::start().await;
    env.stub.create_user("bad@example.com", "pw123456");
    env.stub
        .faults()
        .signin_bad_json
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let mut browser = env.browser();
    let reply = browser.sign_in("bad@example.com", "pw123456").await;
    // A truncated token response still holds the start of the tokens: it
    // is refused, never relayed.
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert_eq!(reply.json()["error"], "upstream_unreadable");
    env.assert_no_stub_tokens(&reply);
    assert!(reply.set_cookies().is_empty());
    assert!(browser.cookie.is_none());
    assert_eq!(
        browser.get("/edge/v1/health").await.status,
        200,
        "the proxy is fine"
    );
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn hyper_get(url: &str, bearer: &str, apikey: &str) -> u16 {
    let mut browser = support::Browser::new(url.trim_end_matches("/rest/v1/echo"), apikey, "none");
    browser
        .send(
            Method::GET,
            "/rest/v1/echo",
            &[("authorization", &format!("Bearer {bearer}"))],
            "",
        )
        .await
        .status
}

/// Enrols and challenges a TOTP factor through the proxy; returns the
/// factor id, the challenge id and the factor's secret.
async fn totp_challenge(browser: &mut support::Browser) -> (String, String, String) {
    let enrolled = browser
        .post_json(
            "/auth/v1/factors",
            json!({"factor_type": "totp", "friendly_name": "phone"}),
        )
        .await;
    assert_eq!(enrolled.status, 200, "{}", enrolled.text());
    let factor = enrolled.json()["id"].as_str().unwrap().to_string();
    let secret = enrolled.json()["totp"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let challenge = browser
        .post_json(&format!("/auth/v1/factors/{factor}/challenge"), json!({}))
        .await;
    assert_eq!(challenge.status, 200, "{}", challenge.text());
    let id = challenge.json()["id"].as_str().unwrap().to_string();
    (factor, id, secret)
}

#[tokio::test]
async fn mfa_verification_raises_the_current_session_to_aal2_in_place() {
    let env = Env::start().await;
    let (mut browser, _) = env.signed_in("mfa@example.com").await;
    let mut other_device = env.browser();
    assert_eq!(
        other_device
            .sign_in("mfa@example.com", "pw123456")
            .await
            .status,
        200
    );
    let cookie = browser.cookie.clone();
    let before = browser.get("/edge/v1/session").await.json();
    let (factor, challenge, secret) = totp_challenge(&mut browser).await;

    let wrong = browser
        .post_json(
            &format!("/auth/v1/factors/{factor}/verify"),
            json!({"challenge_id": challenge, "code": "000000x"}),
        )
        .await;
    assert_eq!(wrong.status, 422, "{}", wrong.text());
    let code = sbp_stub::Stub::totp_code(&secret).unwrap();
    let verified = browser
        .post_json(
            &format!("/auth/v1/factors/{factor}/verify"),
            json!({"challenge_id": challenge, "code": code}),
        )
        .await;
    assert_eq!(verified.status, 200, "{}", verified.text());
    env.assert_no_stub_tokens(&verified);
    assert!(
        verified.set_cookies().is_empty(),
        "the cookie stays: {:?}",
        verified.set_cookies()
    );
    assert_eq!(browser.cookie, cookie);
    let placeholder = jwt_claims(verified.json()["access_token"].as_str().unwrap());
    assert_eq!(placeholder["aal"], "aal2");
    assert_eq!(placeholder["amr"][0]["method"], "totp");

    // The same session, now holding Auth's aal2 tokens.
    let after = browser.get("/edge/v1/session").await.json();
    assert_eq!(after["id"], before["id"]);
    assert_eq!(
        browser
            .get("/edge/v1/sessions")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let echo = browser.get("/rest/v1/echo").await.json();
    assert_eq!(echo["claims"]["aal"], "aal2", "{echo}");
    assert_eq!(echo["claims"]["session_id"], placeholder["session_id"]);
    // The browser's refresh grant is answered from the session: still aal2.
    let refreshed = browser
        .post_json(
            "/auth/v1/token?grant_type=refresh_token",
            json!({"refresh_token": "x"}),
        )
        .await;
    assert_eq!(
        jwt_claims(refreshed.json()["access_token"].as_str().unwrap())["aal"],
        "aal2"
    );
}

#[tokio::test]
async fn mfa_verification_needs_a_session_and_is_checked_like_a_sign_in() {
    let env = Env::start().await;
    let mut anonymous = env.browser();
    let reply = anonymous
        .post_json(
            "/auth/v1/factors/f1/verify",
            json!({"challenge_id": "c", "code": "1"}),
        )
        .await;
    assert_eq!(
        (reply.status, reply.json()["code"].clone()),
        (403, json!("session_not_found"))
    );
    let (mut browser, _) = env.signed_in("csrf-mfa@example.com").await;
    let cross_site = browser
        .send(
            Method::POST,
            "/auth/v1/factors/f1/verify",
            &[
                ("origin", "https://evil.example"),
                ("content-type", "application/json"),
            ],
            "{}",
        )
        .await;
    assert_eq!(cross_site.status, 403);
    assert_eq!(cross_site.json()["error"], "cross_site_refused");
    assert_eq!(env.stub.count("POST", "/auth/v1/factors/f1/verify"), 0);
}

/// The `session_id` claim of the bearer the proxy sent on its last REST call.
fn last_rest_auth_session(env: &Env) -> String {
    let rest = env
        .stub
        .recorded()
        .into_iter()
        .rfind(|r| r.path.starts_with("/rest/v1/"))
        .expect("a REST call reached the stub");
    let bearer = rest.headers["authorization"].to_str().unwrap().to_owned();
    let token = bearer.strip_prefix("Bearer ").unwrap();
    jwt_claims(token)["session_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_sign_in_of_the_same_user_continues_the_browsers_session() {
    let env = Env::start().await;
    let (mut browser, user_id) = env.signed_in("again@example.com").await;
    let cookie = browser.cookie.clone().unwrap();
    let public_id = browser.get("/edge/v1/session").await.json()["id"].clone();
    let first_auth_session = env.stub.auth_session_ids(&user_id);

    let again = browser.sign_in("again@example.com", "pw123456").await;
    assert_eq!(again.status, 200, "{}", again.text());
    env.assert_no_stub_tokens(&again);
    assert!(again.set_cookies().is_empty(), "{:?}", again.set_cookies());
    assert_eq!(browser.cookie.as_deref(), Some(cookie.as_str()));
    let session = browser.get("/edge/v1/session").await;
    assert_eq!(session.status, 200);
    assert_eq!(session.json()["id"], public_id, "the same proxy session");
    let sessions = browser.get("/edge/v1/sessions").await.json();
    assert_eq!(sessions.as_array().map(Vec::len), Some(1), "{sessions}");

    // The session now holds the second sign-in's Auth session, and the
    // one it held before is ended in Auth (nobody holds its tokens).
    let auth_sessions = env.stub.auth_session_ids(&user_id);
    assert_eq!(auth_sessions.len(), 1, "{auth_sessions:?}");
    assert_ne!(auth_sessions, first_auth_session);
    assert_eq!(browser.get("/rest/v1/echo").await.status, 200);
    assert_eq!(last_rest_auth_session(&env), auth_sessions[0]);
}

#[tokio::test]
async fn a_verified_email_change_continues_the_session_with_the_new_user() {
    let env = Env::start().await;
    let (mut browser, user_id) = env.signed_in("old@example.com").await;
    let cookie = browser.cookie.clone().unwrap();
    let public_id = browser.get("/edge/v1/session").await.json()["id"].clone();
    let first_auth_session = env.stub.auth_session_ids(&user_id);

    let change = browser
        .send(
            Method::PUT,
            "/auth/v1/user",
            &[("content-type", "application/json")],
            json!({"email": "new@example.com"}).to_string(),
        )
        .await;
    assert_eq!(change.status, 200, "{}", change.text());
    assert_eq!(change.json()["new_email"], "new@example.com");
    let mail = env.stub.messages("new@example.com").pop().expect("a mail");
    assert_eq!(mail.kind, "email_change");

    let verify = browser
        .post_json(
            "/auth/v1/verify",
            json!({"type": "email_change", "email": "new@example.com", "token": mail.otp}),
        )
        .await;
    assert_eq!(verify.status, 200, "{}", verify.text());
    env.assert_no_stub_tokens(&verify);
    assert_eq!(verify.json()["user"]["email"], "new@example.com");
    assert!(
        verify.set_cookies().is_empty(),
        "{:?}",
        verify.set_cookies()
    );
    assert_eq!(browser.cookie.as_deref(), Some(cookie.as_str()));

    let session = browser.get("/edge/v1/session").await.json();
    assert_eq!(session["id"], public_id, "the same proxy session");
    assert_eq!(session["user"]["id"], user_id.as_str());
    assert_eq!(session["user"]["email"], "new@example.com");
    assert_eq!(browser.get("/rest/v1/echo").await.status, 200);
    let auth_sessions = env.stub.auth_session_ids(&user_id);
    assert_eq!(auth_sessions.len(), 1, "the session held before is ended");
    assert_ne!(auth_sessions, first_auth_session);
    assert_eq!(
        last_rest_auth_session(&env),
        auth_sessions[0],
        "the verification's Auth session is used"
    );
}
