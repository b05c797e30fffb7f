//! PostgREST, Storage, Functions, GraphQL and Realtime REST stand-ins, the
//! request log and the `/__stub/` control endpoints.

use bytes::Bytes;
use http::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::client::{now, sign, start_default};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn rest_verifies_jwts_with_30_seconds_of_skew() {
    let (stub, client) = start_default().await;
    let anon = client.anon_key.clone();
    let rows = client.get_with("/rest/v1/todos", &anon).await;
    assert_eq!(
        rows.json(),
        json!([{"id": 1, "title": "hello", "user_id": null}])
    );

    let user = sign(
        &stub,
        &json!({"sub": "u-1", "role": "authenticated", "exp": now() - 10}),
    );
    let tolerated = client.get_with("/rest/v1/todos?select=id", &user).await;
    assert_eq!(tolerated.json()[0]["user_id"], "u-1");

    let expired = sign(
        &stub,
        &json!({"sub": "u-1", "role": "authenticated", "exp": now() - 100}),
    );
    let refused = client.get_with("/rest/v1/todos", &expired).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.json(),
        json!({"code": "PGRST303", "message": "JWT expired", "details": null, "hint": null})
    );
    assert_eq!(
        refused.header("www-authenticate"),
        Some("Bearer error=\"invalid_token\", error_description=\"JWT expired\"")
    );

    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"role": "service_role"}),
        &jsonwebtoken::EncodingKey::from_secret(b"some-other-secret-some-other-secret"),
    )
    .expect("sign");
    let refused = client.get_with("/rest/v1/things", &forged).await;
    assert_eq!(refused.json()["code"], "PGRST301");
    assert_eq!(stub.count("GET", "/rest/v1/todos"), 3);
}

#[tokio::test]
async fn echo_reports_identity_cookie_and_forwarding() {
    let (stub, client) = start_default().await;
    let user = sign(
        &stub,
        &json!({"sub": "u-2", "role": "authenticated", "exp": now() + 60}),
    );
    let authorization = format!("Bearer {user}");
    let headers = [
        ("authorization", authorization.as_str()),
        ("cookie", "a=1"),
        ("x-forwarded-for", "203.0.113.9"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "app.test"),
    ];
    let echo = client
        .send("POST", "/rest/v1/rpc/add?x=1", &headers, "{\"a\":1}")
        .await
        .json();
    assert_eq!(echo["service"], "rest");
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/rest/v1/rpc/add");
    assert_eq!(echo["query"], "x=1");
    assert_eq!(echo["role"], "authenticated");
    assert_eq!(echo["sub"], "u-2");
    assert_eq!(echo["claims"]["sub"], "u-2");
    assert_eq!(echo["cookie"], "a=1");
    assert_eq!(
        echo["forwarded"],
        json!({"for": "203.0.113.9", "proto": "https", "host": "app.test"})
    );

    let graphql = client
        .send("POST", "/graphql/v1", &headers, "{}")
        .await
        .json();
    assert_eq!(graphql["service"], "graphql");
    let broadcast = client
        .send("POST", "/realtime/v1/api/broadcast", &headers, "{}")
        .await;
    assert_eq!(broadcast.status, StatusCode::ACCEPTED);
    assert_eq!(broadcast.json()["service"], "realtime");
    let unknown = client.send("GET", "/nothing/here", &[], "").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn storage_checks_jwts_without_skew_and_hashes_uploads() {
    let (stub, client) = start_default().await;
    let barely_expired = sign(
        &stub,
        &json!({"sub": "u-3", "role": "authenticated", "exp": now() - 5}),
    );
    let refused = client
        .get_with("/storage/v1/object/avatars/a.png", &barely_expired)
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.json()["statusCode"], "403");
    assert_eq!(refused.json()["code"], "AccessDenied");

    let user = sign(
        &stub,
        &json!({"sub": "u-3", "role": "authenticated", "exp": now() + 60}),
    );
    let authorization = format!("Bearer {user}");
    let body = Bytes::from(vec![7u8; 200_000]);
    let uploaded = client
        .send(
            "PUT",
            "/storage/v1/object/avatars/dir/a.bin",
            &[("authorization", &authorization)],
            body.clone(),
        )
        .await
        .json();
    assert_eq!(uploaded["Key"], "avatars/dir/a.bin");
    assert_eq!(uploaded["bytes"], 200_000);
    assert_eq!(uploaded["sha256"], hex(&Sha256::digest(&body)));
    assert_eq!(uploaded["sub"], "u-3");

    let recorded = stub.recorded();
    let upload = recorded.last().expect("recorded");
    assert_eq!(upload.body_len, 200_000);
    assert_eq!(upload.body.len(), 64 * 1024);

    let read = client
        .get_with("/storage/v1/object/avatars/dir/a.bin", &user)
        .await
        .json();
    assert_eq!(read["service"], "storage");
}

#[tokio::test]
async fn functions_stream_generated_bytes_and_count_uploads() {
    let (stub, client) = start_default().await;
    let n = 200_003usize;
    let download = client
        .send("GET", &format!("/functions/v1/bytes?n={n}"), &[], "")
        .await;
    assert_eq!(
        download.header("content-length"),
        Some(n.to_string().as_str())
    );
    assert_eq!(download.body.len(), n);
    assert!(
        download
            .body
            .iter()
            .enumerate()
            .all(|(i, b)| *b == (i % 251) as u8)
    );

    let counted = client
        .send("POST", "/functions/v1/count", &[], download.body.clone())
        .await
        .json();
    assert_eq!(counted["bytes"], n);
    assert_eq!(counted["sha256"], hex(&Sha256::digest(&download.body)));

    let bad = sign(&stub, &json!({"exp": now() - 100}));
    let refused = client.get_with("/functions/v1/hello", &bad).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let echo = client
        .send("GET", "/functions/v1/hello", &[], "")
        .await
        .json();
    assert_eq!(
        (echo["service"].as_str(), echo["role"].is_null()),
        (Some("functions"), true)
    );
}

#[tokio::test]
async fn control_endpoints_expose_the_log_and_tokens() {
    let (stub, client) = start_default().await;
    let tokens = client.sign_up("nia@example.com").await;
    let recorded = client.send("GET", "/__stub/recorded", &[], "").await.json();
    assert_eq!(
        recorded.as_array().map(Vec::len),
        Some(1),
        "control calls are not recorded"
    );
    assert_eq!(recorded[0]["path"], "/auth/v1/signup");
    assert_eq!(
        recorded[0]["headers"]["x-supabase-api-version"],
        "2024-01-01"
    );
    assert!(
        recorded[0]["body"]
            .as_str()
            .expect("body")
            .contains("nia@example.com")
    );

    let issued = client
        .send("GET", "/__stub/issued_tokens", &[], "")
        .await
        .json();
    assert_eq!(
        issued,
        json!([tokens["refresh_token"], tokens["access_token"]])
    );

    let cleared = client.send("POST", "/__stub/clear", &[], "").await;
    assert_eq!(cleared.status, StatusCode::NO_CONTENT);
    assert!(stub.recorded().is_empty());
    assert_eq!(stub.count("POST", "/auth/v1/signup"), 0);
}
