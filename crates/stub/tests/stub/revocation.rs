//! Auth refusing a user's tokens once they are gone (a revoked session, a
//! ban, a deleted user) in Auth's order; the gateway with a publishable
//! key, and refusing a key that is not the project's; canned answers to
//! the refresh grant.

use http::StatusCode;
use sbp_stub::{CannedAnswer, ErrorShape, StubConfig};
use serde_json::json;

use crate::client::{claims, now, sign, start, start_default};

async fn signed_in(client: &crate::client::Client, email: &str) -> (String, String, String) {
    let tokens = client.sign_up(email).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let user_id = tokens["user"]["id"].as_str().unwrap().to_owned();
    (access, refresh, user_id)
}

#[tokio::test]
async fn get_user_refuses_a_revoked_session_a_banned_user_and_a_deleted_one() {
    let (stub, client) = start_default().await;

    let (access, _, user_id) = signed_in(&client, "revoked@example.com").await;
    assert_eq!(
        client
            .auth("GET", "/user", Some(&access), &json!({}))
            .await
            .status,
        StatusCode::OK
    );
    stub.revoke_user_sessions(&user_id);
    let reply = client.auth("GET", "/user", Some(&access), &json!({})).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.json()["code"], "session_not_found");

    let (access, refresh, user_id) = signed_in(&client, "banned@example.com").await;
    stub.ban_user(&user_id);
    let reply = client.auth("GET", "/user", Some(&access), &json!({})).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.header("x-sb-error-code"), Some("user_banned"));
    let refused = client.refresh(&refresh).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.json()["code"], "user_banned");
    // A token minted for the banned user without a session is refused too.
    let minted = sign(&stub, &json!({"sub": user_id, "exp": now() + 60}));
    let reply = client.auth("GET", "/user", Some(&minted), &json!({})).await;
    assert_eq!(reply.json()["code"], "user_banned");

    let (access, refresh, user_id) = signed_in(&client, "deleted@example.com").await;
    let session_id = claims(&access)["session_id"].clone();
    assert!(session_id.is_string());
    stub.delete_user(&user_id);
    let reply = client.auth("GET", "/user", Some(&access), &json!({})).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.json()["code"],
        "user_not_found",
        "the user is checked first"
    );
    assert_eq!(
        client.refresh(&refresh).await.json()["code"],
        "refresh_token_not_found"
    );
}

#[tokio::test]
async fn the_refresh_grant_gives_a_canned_answer_as_is() {
    let (stub, client) = start_default().await;
    let (_, refresh, _) = signed_in(&client, "canned@example.com").await;

    stub.faults()
        .set_refresh_answer(Some(CannedAnswer::gateway_invalid_api_key()));
    let reply = client.refresh(&refresh).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.json()["message"], "Invalid API key");
    assert_eq!(reply.header("x-sb-error-code"), None);

    stub.faults()
        .set_refresh_answer(Some(CannedAnswer::html_page(403)));
    let reply = client.refresh(&refresh).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );

    let older = CannedAnswer::auth_error(
        400,
        "session_expired",
        "Invalid Refresh Token: Session Expired",
        ErrorShape::InvalidGrant,
    );
    stub.faults().set_refresh_answer(Some(older));
    let reply = client.refresh(&refresh).await;
    assert_eq!(
        reply.json(),
        json!({"error": "invalid_grant", "error_description": "Invalid Refresh Token: Session Expired"})
    );
    assert_eq!(reply.header("x-sb-error-code"), None);

    let unversioned =
        CannedAnswer::auth_error(400, "user_banned", "banned", ErrorShape::Unversioned);
    stub.faults().set_refresh_answer(Some(unversioned));
    let reply = client.refresh(&refresh).await;
    assert_eq!(
        reply.json(),
        json!({"code": 400, "error_code": "user_banned", "msg": "banned"})
    );
    assert_eq!(reply.header("x-sb-error-code"), Some("user_banned"));

    stub.faults().set_refresh_answer(None);
    assert_eq!(client.refresh(&refresh).await.status, StatusCode::OK);
}

const PUBLISHABLE: &str = "sb_publishable_stubstubstubstubstubst_12345678";

#[tokio::test]
async fn the_gateway_takes_a_publishable_key_and_a_bearer_equal_to_it() {
    let (_stub, client) = start(StubConfig {
        publishable_key: Some(PUBLISHABLE.to_owned()),
        ..StubConfig::default()
    })
    .await;
    let as_bearer = format!("Bearer {PUBLISHABLE}");
    let key_twice = [
        ("apikey", PUBLISHABLE),
        ("authorization", as_bearer.as_str()),
    ];

    let rest = client.send("GET", "/rest/v1/echo", &key_twice, "").await;
    assert_eq!(rest.status, StatusCode::OK);
    assert_eq!(rest.json()["role"], "anon");
    let settings = client
        .send("GET", "/auth/v1/settings", &key_twice, "")
        .await;
    assert_eq!(settings.status, StatusCode::OK);

    let other = [
        ("apikey", PUBLISHABLE),
        ("authorization", "Bearer sb_publishable_other"),
    ];
    let refused = client.send("GET", "/rest/v1/echo", &other, "").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);

    // Edge Functions verify the bearer themselves: the key is no JWT.
    let function = client
        .send("GET", "/functions/v1/hello", &key_twice, "")
        .await;
    assert_eq!(function.status, StatusCode::UNAUTHORIZED);
    let function = client
        .send("GET", "/functions/v1/hello", &[("apikey", PUBLISHABLE)], "")
        .await;
    assert_eq!(function.status, StatusCode::OK);
}

#[tokio::test]
async fn the_gateway_refuses_an_api_key_that_is_not_the_projects_in_front_of_rest() {
    let (stub, client) = start_default().await;
    for (method, path) in [("GET", "/rest/v1/todos"), ("POST", "/graphql/v1")] {
        let refused = client
            .send(method, path, &[("apikey", "not-this-projects-key")], "{}")
            .await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(refused.json()["message"], "Invalid API key", "{path}");
        for key in [stub.anon_key(), stub.service_role_key()] {
            let admitted = client.send(method, path, &[("apikey", &key)], "{}").await;
            assert_eq!(admitted.status, StatusCode::OK, "{path}");
        }
        let bare = client.send(method, path, &[], "{}").await;
        assert_eq!(bare.status, StatusCode::OK, "{path}");
    }
}
