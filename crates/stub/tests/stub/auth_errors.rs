//! Auth's error answers: the shape switch on `X-Supabase-Api-Version`, the
//! `x-sb-error-code` header, apikey and bearer checks, malformed bodies.

use http::StatusCode;
use serde_json::json;

use crate::client::{now, sign, start_default};

#[tokio::test]
async fn error_shape_follows_the_api_version_header() {
    let (_stub, client) = start_default().await;
    let body = json!({"refresh_token": "unknown-token"}).to_string();
    let path = "/auth/v1/token?grant_type=refresh_token";
    let apikey = client.anon_key.clone();

    let legacy = client
        .send("POST", path, &[("apikey", &apikey)], body.clone())
        .await;
    assert_eq!(legacy.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        legacy.json(),
        json!({"code": 400, "error_code": "refresh_token_not_found", "msg": "Invalid Refresh Token: Refresh Token Not Found"})
    );
    assert_eq!(
        legacy.header("x-sb-error-code"),
        Some("refresh_token_not_found")
    );

    let headers = [
        ("apikey", apikey.as_str()),
        ("x-supabase-api-version", "2024-01-01"),
    ];
    let versioned = client.send("POST", path, &headers, body).await;
    assert_eq!(
        versioned.json(),
        json!({"code": "refresh_token_not_found", "message": "Invalid Refresh Token: Refresh Token Not Found"})
    );
    assert_eq!(
        versioned.header("x-sb-error-code"),
        Some("refresh_token_not_found")
    );
}

#[tokio::test]
async fn apikey_is_required_and_checked() {
    let (stub, client) = start_default().await;
    let missing = client.send("GET", "/auth/v1/settings", &[], "").await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.json()["error_code"], "no_api_key");
    let wrong = client
        .send("GET", "/auth/v1/settings", &[("apikey", "nope")], "")
        .await;
    assert_eq!(wrong.json()["error_code"], "invalid_api_key");
    let service = stub.service_role_key();
    let ok = client
        .send("GET", "/auth/v1/settings", &[("apikey", &service)], "")
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.json()["mailer_autoconfirm"], true);
}

#[tokio::test]
async fn user_endpoint_checks_the_bearer() {
    let (stub, client) = start_default().await;
    let apikey = client.anon_key.clone();
    let none = client
        .send("GET", "/auth/v1/user", &[("apikey", &apikey)], "")
        .await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.json()["error_code"], "no_authorization");

    let user_id = stub.create_user("max@example.com", "pw123456");
    let expired = sign(&stub, &json!({"sub": user_id, "exp": now() - 5}));
    let reply = client
        .auth("GET", "/user", Some(&expired), &json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.json()["code"], "bad_jwt");

    let garbage = client
        .auth("GET", "/user", Some("not-a-jwt"), &json!({}))
        .await;
    assert_eq!(garbage.json()["code"], "bad_jwt");

    // A correctly signed token without session_id is accepted.
    let minted = sign(&stub, &json!({"sub": user_id, "exp": now() + 60}));
    let ok = client.auth("GET", "/user", Some(&minted), &json!({})).await;
    assert_eq!(ok.json()["id"], user_id.as_str());
}

#[tokio::test]
async fn malformed_bodies_and_unknown_routes_get_auth_errors() {
    let (_stub, client) = start_default().await;
    let apikey = client.anon_key.clone();
    let headers = [("apikey", apikey.as_str())];
    let truncated = client
        .send(
            "POST",
            "/auth/v1/token?grant_type=password",
            &headers,
            "{\"email\":",
        )
        .await;
    assert_eq!(truncated.status, StatusCode::BAD_REQUEST);
    assert_eq!(truncated.json()["error_code"], "bad_json");

    let wrong_type = client
        .send("POST", "/auth/v1/signup", &headers, "{\"email\": 5}")
        .await;
    assert_eq!(wrong_type.json()["error_code"], "bad_json");

    let grant = client
        .send("POST", "/auth/v1/token?grant_type=magic", &headers, "{}")
        .await;
    assert_eq!(grant.json()["error_code"], "validation_failed");

    let unknown = client.send("GET", "/auth/v1/nowhere", &headers, "").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let scope = client
        .send("POST", "/auth/v1/logout?scope=everyone", &headers, "")
        .await;
    assert_eq!(scope.json()["error_code"], "validation_failed");
}
