//! Auth's wire habits the proxy must cope with: Go's HTML redirect bodies
//! (fragment tokens included), `/callback`, the legacy token cookies, the
//! trailing-slash spellings GoTrue's router accepts, and `grant_type` read
//! from a form body.

use http::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha224};

use crate::client::{Client, Reply, start, start_default};
use sbp_stub::StubConfig;

/// The body Go's `http.Redirect` writes for a GET.
fn go_redirect_body(location: &str, status_text: &str) -> String {
    let escaped = location
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;");
    format!("<a href=\"{escaped}\">{status_text}</a>.\n\n")
}

fn set_cookies(reply: &Reply) -> Vec<String> {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}

/// Asks for a magic link and returns the `GET /verify` link of its token hash.
async fn magic_link(client: &Client, email: &str) -> String {
    client
        .auth("POST", "/magiclink", None, &json!({"email": email}))
        .await;
    let hash: String = Sha224::digest(format!("{email}123456").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("/auth/v1/verify?token={hash}&type=magiclink&redirect_to=http://app.test/done")
}

#[tokio::test]
async fn verify_link_redirect_body_repeats_the_fragment_tokens() {
    let (_stub, client) = start_default().await;
    let link = magic_link(&client, "ivy@example.com").await;
    let reply = client.send("GET", &link, &[], "").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(
        reply.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let location = reply.header("location").expect("location");
    assert!(location.contains("#access_token="), "{location}");
    let body = std::str::from_utf8(&reply.body).expect("text");
    assert_eq!(body, go_redirect_body(location, "See Other"));
    assert!(body.contains("refresh_token="));
}

#[tokio::test]
async fn callback_redirects_with_fragment_tokens_or_a_code() {
    let (_stub, client) = start_default().await;
    let implicit = client
        .send(
            "GET",
            "/auth/v1/callback?provider=github&redirect_to=http%3A%2F%2Fapp.test%2Fcb",
            &[],
            "",
        )
        .await;
    assert_eq!(implicit.status, StatusCode::FOUND);
    let location = implicit.header("location").expect("location").to_owned();
    assert!(location.starts_with("http://app.test/cb#access_token="));
    assert!(location.contains("&refresh_token=") && location.contains("provider_token="));
    assert_eq!(
        std::str::from_utf8(&implicit.body).expect("text"),
        go_redirect_body(&location, "Found")
    );

    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let pkce = client
        .send(
            "GET",
            &format!("/auth/v1/callback/?provider=github&redirect_to=http%3A%2F%2Fapp.test%2Fcb&code_challenge={challenge}&code_challenge_method=s256"),
            &[],
            "",
        )
        .await;
    assert_eq!(pkce.status, StatusCode::FOUND);
    let location = pkce.header("location").expect("location").to_owned();
    let code = location
        .strip_prefix("http://app.test/cb?code=")
        .expect("code in the query");
    let exchange =
        json!({"auth_code": code, "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"});
    let tokens = client
        .auth("POST", "/token?grant_type=pkce", None, &exchange)
        .await;
    assert_eq!(tokens.status, StatusCode::OK);

    // Go writes no body (and no content type) for a POST.
    let posted = client
        .send(
            "POST",
            "/auth/v1/callback?provider=apple&redirect_to=http%3A%2F%2Fapp.test%2Fcb",
            &[],
            "",
        )
        .await;
    assert_eq!(posted.status, StatusCode::FOUND);
    assert!(posted.body.is_empty());
    assert!(posted.header("content-type").is_none());
    assert!(
        posted
            .header("location")
            .expect("location")
            .contains("#access_token=")
    );
}

#[tokio::test]
async fn authorize_redirect_has_a_go_body_too() {
    let (_stub, client) = start_default().await;
    let reply = client
        .send(
            "GET",
            "/auth/v1/authorize?provider=google&redirect_to=http%3A%2F%2Fapp.test%2Fcb",
            &[],
            "",
        )
        .await;
    let location = reply.header("location").expect("location").to_owned();
    assert_eq!(
        std::str::from_utf8(&reply.body).expect("text"),
        go_redirect_body(&location, "Found")
    );
}

#[tokio::test]
async fn legacy_cookies_carry_the_tokens_of_password_and_refresh_grants() {
    let (stub, client) = start_default().await;
    stub.create_user("jay@example.com", "pw123456");
    let body = json!({"email": "jay@example.com", "password": "pw123456"});
    let reply = client
        .auth("POST", "/token?grant_type=password", None, &body)
        .await;
    let tokens = reply.json();
    let cookies = set_cookies(&reply);
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    let access = tokens["access_token"].as_str().expect("jwt");
    let refresh = tokens["refresh_token"].as_str().expect("rt");
    assert!(cookies[0].starts_with(&format!("sb-access-token={access};")));
    assert!(cookies[1].starts_with(&format!("sb-refresh-token={refresh};")));
    for cookie in &cookies {
        for attribute in ["HttpOnly", "Secure", "Path=/", "Max-Age=86400"] {
            assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
        }
    }
    let refreshed = client.refresh(refresh).await;
    let new_refresh = refreshed.json()["refresh_token"]
        .as_str()
        .expect("rt")
        .to_owned();
    assert!(
        set_cookies(&refreshed)
            .iter()
            .any(|c| c.starts_with(&format!("sb-refresh-token={new_refresh};")))
    );
    let signup = client
        .auth(
            "POST",
            "/signup",
            None,
            &json!({"email": "kim@example.com", "password": "pw123456"}),
        )
        .await;
    assert_eq!(set_cookies(&signup).len(), 2);
}

#[tokio::test]
async fn legacy_cookies_can_be_switched_off() {
    let (stub, client) = start(StubConfig {
        legacy_cookies: false,
        ..StubConfig::default()
    })
    .await;
    stub.create_user("lou@example.com", "pw123456");
    let body = json!({"email": "lou@example.com", "password": "pw123456"});
    let reply = client
        .auth("POST", "/token?grant_type=password", None, &body)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(set_cookies(&reply).is_empty());
}

#[tokio::test]
async fn trailing_slashes_reach_signup_and_verify_but_not_token() {
    let (_stub, client) = start_default().await;
    let signup = client
        .auth(
            "POST",
            "/signup/",
            None,
            &json!({"email": "max@example.com", "password": "pw123456"}),
        )
        .await;
    assert_eq!(signup.status, StatusCode::OK);
    assert!(signup.json()["access_token"].is_string());

    client
        .auth("POST", "/otp", None, &json!({"email": "max@example.com"}))
        .await;
    let verify = json!({"type": "email", "email": "max@example.com", "token": "123456"});
    let verified = client.auth("POST", "/verify/", None, &verify).await;
    assert_eq!(verified.status, StatusCode::OK);
    assert!(verified.json()["refresh_token"].is_string());

    let link = magic_link(&client, "max@example.com").await;
    let link = link.replacen("/verify?", "/verify/?", 1);
    let redirect = client.send("GET", &link, &[], "").await;
    assert_eq!(redirect.status, StatusCode::SEE_OTHER);

    let body = json!({"email": "max@example.com", "password": "pw123456"});
    let token = client
        .auth("POST", "/token/?grant_type=password", None, &body)
        .await;
    assert_eq!(token.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn grant_type_is_read_from_a_form_body_before_the_query() {
    let (stub, client) = start_default().await;
    stub.create_user("ned@example.com", "pw123456");
    // Valid JSON whose form reading has a `grant_type=password` pair.
    let body = r#"{"email":"ned@example.com","password":"pw123456","x":"&grant_type=password&"}"#;
    let headers = [
        ("apikey", client.anon_key.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    for path in ["/auth/v1/token", "/auth/v1/token?grant_type=refresh_token"] {
        let reply = client.send("POST", path, &headers, body).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {:?}", reply.body);
        assert!(reply.json()["access_token"].is_string());
    }
    let as_json = [
        ("apikey", client.anon_key.as_str()),
        ("content-type", "application/json"),
    ];
    let reply = client.send("POST", "/auth/v1/token", &as_json, body).await;
    assert_eq!(
        reply.status,
        StatusCode::BAD_REQUEST,
        "no grant_type in the query"
    );
}

#[tokio::test]
async fn resend_and_reauthenticate_send_a_code() {
    let (_stub, client) = start_default().await;
    let tokens = client.sign_up("ora@example.com").await;
    let access = tokens["access_token"].as_str().expect("jwt");
    let resent = client
        .auth(
            "POST",
            "/resend",
            None,
            &json!({"type": "signup", "email": "ora@example.com"}),
        )
        .await;
    assert_eq!(resent.status, StatusCode::OK);
    assert_eq!(resent.json(), json!({}));
    let verify = json!({"type": "signup", "email": "ora@example.com", "token": "123456"});
    assert_eq!(
        client.auth("POST", "/verify", None, &verify).await.status,
        StatusCode::OK
    );
    let bad = client
        .auth(
            "POST",
            "/resend",
            None,
            &json!({"type": "magic", "email": "ora@example.com"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let reauth = client
        .auth("GET", "/reauthenticate/", Some(access), &json!({}))
        .await;
    assert_eq!(reauth.status, StatusCode::OK);
    assert_eq!(
        client.auth("POST", "/verify", None, &verify).await.status,
        StatusCode::OK,
        "the reauthentication code"
    );
    let anonymous = client
        .auth("GET", "/reauthenticate", None, &json!({}))
        .await;
    assert_eq!(anonymous.status, StatusCode::FORBIDDEN);
}
