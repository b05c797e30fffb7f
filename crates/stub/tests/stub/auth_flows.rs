//! Sign-up, sign-in, user and logout flows of the stand-in Auth.

use std::sync::atomic::Ordering;

use base64::Engine;
use http::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha224, Sha256};

use crate::client::{claims, start, start_default};
use sbp_stub::StubConfig;

#[tokio::test]
async fn signup_returns_a_token_response_with_auth_claims() {
    let (stub, client) = start_default().await;
    let tokens = client.sign_up("alice@example.com").await;
    assert_eq!(tokens["token_type"], "bearer");
    assert_eq!(tokens["expires_in"], 3600);
    let access = tokens["access_token"].as_str().expect("access token");
    let refresh = tokens["refresh_token"].as_str().expect("refresh token");
    assert_eq!(refresh.len(), 12);
    let c = claims(access);
    assert_eq!(c["iss"], format!("{}/auth/v1", stub.url()));
    assert_eq!(c["sub"], tokens["user"]["id"]);
    assert_eq!(c["aud"], "authenticated");
    assert_eq!(c["role"], "authenticated");
    assert_eq!(c["aal"], "aal1");
    assert_eq!(c["email"], "alice@example.com");
    assert_eq!(c["amr"][0]["method"], "password");
    assert_eq!(c["is_anonymous"], false);
    assert_eq!(
        c["exp"].as_u64().expect("exp") - c["iat"].as_u64().expect("iat"),
        3600
    );
    assert_eq!(tokens["expires_at"], c["exp"]);
    let user_id = tokens["user"]["id"].as_str().expect("id");
    assert_eq!(
        stub.auth_session_ids(user_id),
        vec![c["session_id"].as_str().expect("sid").to_owned()]
    );
    assert_eq!(
        stub.issued_tokens(),
        vec![refresh.to_owned(), access.to_owned()]
    );
}

#[tokio::test]
async fn signup_variants_follow_auth() {
    let (_stub, client) = start(StubConfig {
        autoconfirm: false,
        ..StubConfig::default()
    })
    .await;
    let bare = client.sign_up("bob@example.com").await;
    assert!(bare.get("access_token").is_none());
    assert_eq!(bare["email"], "bob@example.com");
    assert!(bare.get("confirmation_sent_at").is_some());

    let unconfirmed = client
        .auth(
            "POST",
            "/token?grant_type=password",
            None,
            &json!({"email": "bob@example.com", "password": "pw123456"}),
        )
        .await;
    assert_eq!(unconfirmed.json()["code"], "email_not_confirmed");

    let again = client
        .auth(
            "POST",
            "/signup",
            None,
            &json!({"email": "bob@example.com", "password": "pw123456"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(again.json()["code"], "user_already_exists");

    let weak = client
        .auth(
            "POST",
            "/signup",
            None,
            &json!({"email": "c@example.com", "password": "123"}),
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(weak.json()["code"], "weak_password");
    assert_eq!(weak.json()["weak_password"]["reasons"], json!(["length"]));

    let anonymous = client
        .auth("POST", "/signup", None, &json!({"data": {}}))
        .await
        .json();
    assert_eq!(anonymous["user"]["is_anonymous"], true);
    assert_eq!(
        claims(anonymous["access_token"].as_str().expect("jwt"))["is_anonymous"],
        true
    );
}

#[tokio::test]
async fn password_grant_checks_credentials_and_honours_bad_json_fault() {
    let (stub, client) = start_default().await;
    let user_id = stub.create_user("carol@example.com", "secret-pw");
    let body = json!({"email": "carol@example.com", "password": "secret-pw"});
    let ok = client
        .auth("POST", "/token?grant_type=password", None, &body)
        .await;
    assert_eq!(ok.json()["user"]["id"], user_id.as_str());

    let wrong = json!({"email": "carol@example.com", "password": "nope-nope"});
    let refused = client
        .auth("POST", "/token?grant_type=password", None, &wrong)
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.json()["code"], "invalid_credentials");

    stub.faults().signin_bad_json.store(true, Ordering::SeqCst);
    let broken = client
        .auth("POST", "/token?grant_type=password", None, &body)
        .await;
    assert_eq!(broken.status, StatusCode::OK);
    assert!(serde_json::from_slice::<serde_json::Value>(&broken.body).is_err());
}

#[tokio::test]
async fn user_endpoints_read_and_update_the_user() {
    let (_stub, client) = start_default().await;
    let tokens = client.sign_up("dave@example.com").await;
    let access = tokens["access_token"].as_str().expect("jwt");
    let user = client.auth("GET", "/user", Some(access), &json!({})).await;
    assert_eq!(user.json()["email"], "dave@example.com");

    let update = json!({"data": {"name": "Dave"}, "password": "new-password"});
    let updated = client
        .auth("PUT", "/user", Some(access), &update)
        .await
        .json();
    assert_eq!(updated["user_metadata"]["name"], "Dave");
    let relogin = json!({"email": "dave@example.com", "password": "new-password"});
    let signed_in = client
        .auth("POST", "/token?grant_type=password", None, &relogin)
        .await;
    assert_eq!(signed_in.status, StatusCode::OK);
}

#[tokio::test]
async fn logout_scopes_end_the_right_sessions() {
    let (stub, client) = start_default().await;
    let user_id = stub.create_user("erin@example.com", "pw123456");
    let body = json!({"email": "erin@example.com", "password": "pw123456"});
    let mut tokens = Vec::new();
    for _ in 0..4 {
        let t = client
            .auth("POST", "/token?grant_type=password", None, &body)
            .await
            .json();
        tokens.push(t["access_token"].as_str().expect("jwt").to_owned());
    }
    let sid = |jwt: &str| claims(jwt)["session_id"].as_str().expect("sid").to_owned();
    assert_eq!(stub.auth_session_ids(&user_id).len(), 4);

    let local = client
        .auth("POST", "/logout?scope=local", Some(&tokens[0]), &json!({}))
        .await;
    assert_eq!(local.status, StatusCode::NO_CONTENT);
    assert!(!stub.auth_session_ids(&user_id).contains(&sid(&tokens[0])));
    assert_eq!(stub.auth_session_ids(&user_id).len(), 3);

    client
        .auth("POST", "/logout?scope=others", Some(&tokens[1]), &json!({}))
        .await;
    assert_eq!(stub.auth_session_ids(&user_id), vec![sid(&tokens[1])]);

    let dead = client
        .auth("GET", "/user", Some(&tokens[2]), &json!({}))
        .await;
    assert_eq!(dead.status, StatusCode::FORBIDDEN);
    assert_eq!(dead.json()["code"], "session_not_found");

    client
        .auth("POST", "/logout", Some(&tokens[1]), &json!({}))
        .await;
    assert!(stub.auth_session_ids(&user_id).is_empty());
}

#[tokio::test]
async fn logout_with_a_token_without_session_id_ends_all_sessions() {
    let (stub, client) = start_default().await;
    let user_id = stub.create_user("fay@example.com", "pw123456");
    let body = json!({"email": "fay@example.com", "password": "pw123456"});
    for _ in 0..2 {
        client
            .auth("POST", "/token?grant_type=password", None, &body)
            .await;
    }
    let minted = crate::client::sign(
        &stub,
        &json!({"sub": user_id, "role": "authenticated", "exp": crate::client::now() + 60}),
    );
    let reply = client
        .auth("POST", "/logout?scope=local", Some(&minted), &json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert!(stub.auth_session_ids(&user_id).is_empty());
}

#[tokio::test]
async fn revoking_a_user_kills_its_sessions_and_refresh_tokens() {
    let (stub, client) = start_default().await;
    let user_id = stub.create_user("gus@example.com", "pw123456");
    let body = json!({"email": "gus@example.com", "password": "pw123456"});
    let tokens = client
        .auth("POST", "/token?grant_type=password", None, &body)
        .await
        .json();
    assert_eq!(stub.auth_session_ids(&user_id).len(), 1);
    stub.revoke_user_sessions(&user_id);
    assert!(stub.auth_session_ids(&user_id).is_empty());
    let refresh = client
        .refresh(tokens["refresh_token"].as_str().expect("rt"))
        .await;
    assert_eq!(refresh.json()["code"], "refresh_token_not_found");
}

#[tokio::test]
async fn pkce_round_trip_through_authorize() {
    let (stub, client) = start_default().await;
    let verifier = "a-long-enough-code-verifier-for-pkce-0123456789abcdef";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    let path = format!(
        "/auth/v1/authorize?provider=github&redirect_to=http%3A%2F%2Fapp.test%2Fcb&code_challenge={challenge}&code_challenge_method=s256"
    );
    let redirect = client.send("GET", &path, &[], "").await;
    assert_eq!(redirect.status, StatusCode::FOUND);
    let location = redirect.header("location").expect("location");
    let code = location
        .strip_prefix("http://app.test/cb?code=")
        .expect("code in query");

    let wrong = json!({"auth_code": code, "code_verifier": "not-the-verifier"});
    let refused = client
        .auth("POST", "/token?grant_type=pkce", None, &wrong)
        .await;
    assert_eq!(refused.json()["code"], "bad_code_verifier");

    let exchange = json!({"auth_code": code, "code_verifier": verifier});
    let tokens = client
        .auth("POST", "/token?grant_type=pkce", None, &exchange)
        .await
        .json();
    assert_eq!(tokens["user"]["email"], "github-user@example.com");
    assert_eq!(tokens["user"]["app_metadata"]["provider"], "github");
    assert!(tokens["provider_token"].is_string());
    assert!(tokens["provider_refresh_token"].is_string());

    let replay = client
        .auth("POST", "/token?grant_type=pkce", None, &exchange)
        .await;
    assert_eq!(replay.json()["code"], "flow_state_not_found");
    assert_eq!(stub.count("GET", "/auth/v1/authorize"), 1);
}

#[tokio::test]
async fn id_token_grant_accepts_stub_tokens_only() {
    let (_stub, client) = start_default().await;
    let ok = json!({"provider": "google", "id_token": "stub:gina@example.com"});
    let tokens = client
        .auth("POST", "/token?grant_type=id_token", None, &ok)
        .await
        .json();
    assert_eq!(tokens["user"]["email"], "gina@example.com");
    let bad = json!({"provider": "google", "id_token": "eyJhbGciOi.real.token"});
    let refused = client
        .auth("POST", "/token?grant_type=id_token", None, &bad)
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.json()["code"], "bad_oauth_callback");
}

#[tokio::test]
async fn otp_and_email_links_sign_in() {
    let (_stub, client) = start_default().await;
    let sent = client
        .auth(
            "POST",
            "/otp",
            None,
            &json!({"email": "hal@example.com", "create_user": true}),
        )
        .await;
    assert_eq!(sent.json(), json!({}));
    let wrong = json!({"type": "email", "email": "hal@example.com", "token": "000000"});
    assert_eq!(
        client.auth("POST", "/verify", None, &wrong).await.json()["code"],
        "otp_expired"
    );
    let right = json!({"type": "email", "email": "hal@example.com", "token": "123456"});
    let tokens = client.auth("POST", "/verify", None, &right).await.json();
    assert_eq!(tokens["user"]["email"], "hal@example.com");
    assert_eq!(
        client.auth("POST", "/verify", None, &right).await.json()["code"],
        "otp_expired"
    );

    // Email link, implicit: tokens in the fragment.
    client
        .auth(
            "POST",
            "/magiclink",
            None,
            &json!({"email": "hal@example.com"}),
        )
        .await;
    let hash: String = Sha224::digest(b"hal@example.com123456")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let link =
        format!("/auth/v1/verify?token={hash}&type=magiclink&redirect_to=http://app.test/done");
    let redirect = client.send("GET", &link, &[], "").await;
    assert_eq!(redirect.status, StatusCode::SEE_OTHER);
    let location = redirect.header("location").expect("location");
    assert!(
        location.starts_with("http://app.test/done#access_token="),
        "{location}"
    );

    // Email link, PKCE: a code in the query, redeemed with the verifier.
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(b"verifier-verifier"));
    let with_pkce = json!({"email": "hal@example.com", "code_challenge": challenge, "code_challenge_method": "s256"});
    client.auth("POST", "/otp", None, &with_pkce).await;
    let link = format!(
        "/auth/v1/verify?token=pkce_{hash}&type=magiclink&redirect_to=http://app.test/done"
    );
    let location = client
        .send("GET", &link, &[], "")
        .await
        .header("location")
        .expect("location")
        .to_owned();
    let code = location
        .strip_prefix("http://app.test/done?code=")
        .expect("code");
    let exchange = json!({"auth_code": code, "code_verifier": "verifier-verifier"});
    let tokens = client
        .auth("POST", "/token?grant_type=pkce", None, &exchange)
        .await
        .json();
    assert_eq!(tokens["user"]["email"], "hal@example.com");
    assert!(tokens.get("provider_token").is_none());
}
