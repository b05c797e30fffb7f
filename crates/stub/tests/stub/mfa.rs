//! MFA with TOTP as supabase-js's `auth.mfa` calls it: enrol, challenge,
//! verify (aal2 tokens for the same session, swapped refresh token), and
//! unenrol; passkey sign-in.

use http::StatusCode;
use serde_json::{Value, json};

use crate::client::{Client, claims, now, start_default};
use crate::conformance::assert_conforms;
use sbp_stub::Stub;

/// Enrols a TOTP factor; returns `(factor id, secret)`.
async fn enroll(client: &Client, access: &str) -> (String, String) {
    let reply = client
        .auth(
            "POST",
            "/factors",
            Some(access),
            &json!({"factor_type": "totp", "friendly_name": "phone", "issuer": "app.test"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let factor = reply.json();
    assert_eq!(factor["type"], "totp");
    assert_eq!(factor["friendly_name"], "phone");
    let uri = factor["totp"]["uri"].as_str().expect("uri");
    assert!(uri.starts_with("otpauth://totp/app.test:"), "{uri}");
    assert!(
        factor["totp"]["qr_code"]
            .as_str()
            .expect("qr")
            .contains("<svg")
    );
    (
        factor["id"].as_str().expect("id").to_owned(),
        factor["totp"]["secret"]
            .as_str()
            .expect("secret")
            .to_owned(),
    )
}

/// A challenge id for the factor.
async fn challenge(client: &Client, access: &str, factor: &str) -> String {
    let reply = client
        .auth(
            "POST",
            &format!("/factors/{factor}/challenge"),
            Some(access),
            &json!({}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let challenge = reply.json();
    assert_eq!(challenge["type"], "totp");
    assert!(challenge["expires_at"].as_u64().expect("expires_at") > now());
    challenge["id"].as_str().expect("id").to_owned()
}

async fn verify(client: &Client, access: &str, factor: &str, challenge: &str, code: &str) -> Value {
    let reply = client
        .auth(
            "POST",
            &format!("/factors/{factor}/verify"),
            Some(access),
            &json!({"challenge_id": challenge, "code": code}),
        )
        .await;
    let mut body = reply.json();
    body["status"] = json!(reply.status.as_u16());
    body
}

/// A code that is not the current one (nor, by a digit shift, a neighbour's by chance).
fn wrong_code(secret: &str) -> String {
    let right = Stub::totp_code(secret).expect("code");
    right
        .chars()
        .map(|c| char::from(b'0' + (c as u8 - b'0' + 1) % 10))
        .collect()
}

#[tokio::test]
async fn totp_verify_raises_the_same_session_to_aal2_and_swaps_the_refresh_token() {
    let (stub, client) = start_default().await;
    let first = client.sign_up("nia@example.com").await;
    let access = first["access_token"].as_str().expect("jwt");
    let old_refresh = first["refresh_token"].as_str().expect("rt");
    let session_id = claims(access)["session_id"].clone();
    let other_device = client
        .auth(
            "POST",
            "/token?grant_type=password",
            None,
            &json!({"email": "nia@example.com", "password": "pw123456"}),
        )
        .await
        .json();

    let (factor, secret) = enroll(&client, access).await;
    let user = client
        .auth("GET", "/user", Some(access), &json!({}))
        .await
        .json();
    assert_eq!(user["factors"][0]["id"], factor.as_str());
    assert_eq!(user["factors"][0]["status"], "unverified");

    let challenge_id = challenge(&client, access, &factor).await;
    let refused = verify(
        &client,
        access,
        &factor,
        &challenge_id,
        &wrong_code(&secret),
    )
    .await;
    assert_eq!(refused["status"], 422);
    assert_eq!(refused["code"], "mfa_verification_failed");

    let code = Stub::totp_code(&secret).expect("code");
    let tokens = verify(&client, access, &factor, &challenge_id, &code).await;
    assert_eq!(tokens["status"], 200, "{tokens}");
    let aal2 = tokens["access_token"].as_str().expect("jwt");
    let c = claims(aal2);
    assert_eq!(c["aal"], "aal2");
    assert_eq!(c["amr"][0]["method"], "totp");
    assert_eq!(c["amr"][1]["method"], "password");
    assert_eq!(c["session_id"], session_id, "the same session");
    let new_refresh = tokens["refresh_token"].as_str().expect("rt");
    assert_ne!(new_refresh, old_refresh);
    assert_eq!(tokens["user"]["factors"][0]["status"], "verified");
    let mut body = tokens.clone();
    body.as_object_mut().expect("object").remove("status");
    assert_conforms("AccessTokenResponseSchema", &body);
    let user_id = tokens["user"]["id"].as_str().expect("id");
    assert_eq!(
        stub.auth_session_ids(user_id),
        vec![session_id.as_str().expect("sid").to_owned()]
    );

    let user = client.auth("GET", "/user", Some(aal2), &json!({})).await;
    assert_eq!(user.status, StatusCode::OK);
    let dead = client
        .auth(
            "GET",
            "/user",
            Some(other_device["access_token"].as_str().expect("jwt")),
            &json!({}),
        )
        .await;
    assert_eq!(
        dead.json()["code"],
        "session_not_found",
        "aal1 sessions end"
    );
    let used = verify(&client, aal2, &factor, &challenge_id, &code).await;
    assert_eq!(
        used["code"], "mfa_factor_not_found",
        "a challenge is used once"
    );

    let rotated = client.refresh(new_refresh).await;
    assert_eq!(rotated.status, StatusCode::OK);
    assert_eq!(
        claims(rotated.json()["access_token"].as_str().expect("jwt"))["aal"],
        "aal2"
    );
    let replay = client.refresh(old_refresh).await;
    assert_eq!(replay.json()["code"], "refresh_token_already_used");
}

#[tokio::test]
async fn unenrolling_a_verified_factor_needs_aal2() {
    let (_stub, client) = start_default().await;
    let first = client.sign_up("oli@example.com").await;
    let access = first["access_token"].as_str().expect("jwt");
    let (factor, secret) = enroll(&client, access).await;
    let challenge_id = challenge(&client, access, &factor).await;
    let code = Stub::totp_code(&secret).expect("code");
    let tokens = verify(&client, access, &factor, &challenge_id, &code).await;
    let aal2 = tokens["access_token"].as_str().expect("jwt").to_owned();

    let aal1 = client
        .auth(
            "POST",
            "/token?grant_type=password",
            None,
            &json!({"email": "oli@example.com", "password": "pw123456"}),
        )
        .await
        .json();
    let aal1 = aal1["access_token"].as_str().expect("jwt");
    let path = format!("/factors/{factor}/");
    let refused = client.auth("DELETE", &path, Some(aal1), &json!({})).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.json()["code"], "insufficient_aal");

    let removed = client.auth("DELETE", &path, Some(&aal2), &json!({})).await;
    assert_eq!(removed.status, StatusCode::OK);
    assert_eq!(removed.json()["id"], factor.as_str());
    let user = client
        .auth("GET", "/user", Some(&aal2), &json!({}))
        .await
        .json();
    assert!(user.get("factors").is_none());
}

#[tokio::test]
async fn factors_belong_to_their_user_and_anonymous_users_have_none() {
    let (_stub, client) = start_default().await;
    let owner = client.sign_up("pat@example.com").await;
    let (factor, _) = enroll(&client, owner["access_token"].as_str().expect("jwt")).await;
    let stranger = client.sign_up("quin@example.com").await;
    let stranger = stranger["access_token"].as_str().expect("jwt");
    let path = format!("/factors/{factor}/challenge");
    let reply = client.auth("POST", &path, Some(stranger), &json!({})).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json()["code"], "mfa_factor_not_found");

    let anonymous = client
        .auth("POST", "/signup", None, &json!({}))
        .await
        .json();
    let reply = client
        .auth(
            "POST",
            "/factors",
            anonymous["access_token"].as_str(),
            &json!({"factor_type": "totp"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_control_endpoint_gives_codes_that_verify() {
    let (stub, client) = start_default().await;
    let first = client.sign_up("rae@example.com").await;
    let access = first["access_token"].as_str().expect("jwt");
    let (factor, secret) = enroll(&client, access).await;
    let challenge_id = challenge(&client, access, &factor).await;
    let reply = client
        .send("GET", &format!("/__stub/totp?secret={secret}"), &[], "")
        .await;
    let code = reply.json()["code"].as_str().expect("code").to_owned();
    assert_eq!(code.len(), 6);
    let tokens = verify(&client, access, &factor, &challenge_id, &code).await;
    assert_eq!(tokens["status"], 200);
    let bad = client
        .send("GET", "/__stub/totp?secret=nope!", &[], "")
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        stub.recorded()
            .iter()
            .all(|r| !r.path.starts_with("/__stub/"))
    );
}

#[tokio::test]
async fn passkey_sign_in_opens_a_new_session() {
    let (stub, client) = start_default().await;
    let user_id = stub.create_user("sam@example.com", "pw123456");
    let options = client
        .auth("POST", "/passkeys/authentication/options", None, &json!({}))
        .await
        .json();
    let challenge_id = options["challenge_id"].as_str().expect("challenge id");
    assert!(options["options"]["challenge"].is_string());
    let credential = json!({
        "id": "stub:sam@example.com", "rawId": "stub", "type": "public-key",
        "response": {"clientDataJSON": "", "authenticatorData": "", "signature": "", "userHandle": user_id},
    });
    let body = json!({"challenge_id": challenge_id, "credential": credential});
    let reply = client
        .auth("POST", "/passkeys/authentication/verify", None, &body)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let tokens = reply.json();
    assert_conforms("AccessTokenResponseSchema", &tokens);
    let c = claims(tokens["access_token"].as_str().expect("jwt"));
    assert_eq!(c["amr"][0]["method"], "passkey");
    assert_eq!(c["aal"], "aal1");
    assert_eq!(stub.auth_session_ids(&user_id).len(), 1);

    let replay = client
        .auth("POST", "/passkeys/authentication/verify", None, &body)
        .await;
    assert_eq!(replay.json()["code"], "webauthn_challenge_not_found");

    let options = client
        .auth("POST", "/passkeys/authentication/options", None, &json!({}))
        .await
        .json();
    let unknown =
        json!({"challenge_id": options["challenge_id"], "credential": {"id": "someone-else"}});
    let refused = client
        .auth("POST", "/passkeys/authentication/verify", None, &unknown)
        .await;
    assert_eq!(refused.json()["code"], "webauthn_verification_failed");
}
