//! The compressing edge: br or gzip on JSON answers when `Accept-Encoding`
//! allows it, plain otherwise, and the faults of edges that encode unasked,
//! mislabel a body or serve a decompression bomb; injected `Set-Cookie`s.

use std::io::Read;
use std::sync::atomic::Ordering;

use http::StatusCode;
use serde_json::{Value, json};

use crate::client::{Client, Reply, start, start_default};
use sbp_stub::{Stub, StubConfig};

async fn start_compressing() -> (Stub, Client) {
    start(StubConfig {
        compress: true,
        ..StubConfig::default()
    })
    .await
}

fn gunzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body).read_to_end(&mut out)?;
    Ok(out)
}

fn unbrotli(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(body, 4096)
        .read_to_end(&mut out)
        .expect("valid brotli");
    out
}

/// A password grant with these extra headers.
async fn sign_in(stub: &Stub, client: &Client, accept_encoding: Option<&str>) -> Reply {
    stub.create_user("zoe@example.com", "pw123456");
    let mut headers = vec![("apikey", client.anon_key.as_str())];
    if let Some(value) = accept_encoding {
        headers.push(("accept-encoding", value));
    }
    let body = json!({"email": "zoe@example.com", "password": "pw123456"}).to_string();
    client
        .send("POST", "/auth/v1/token?grant_type=password", &headers, body)
        .await
}

fn declared_length(reply: &Reply) -> usize {
    reply
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .expect("content-length")
}

#[tokio::test]
async fn browsers_get_brotli_with_vary_and_the_encoded_length() {
    let (stub, client) = start_compressing().await;
    let reply = sign_in(&stub, &client, Some("gzip, deflate, br, zstd")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-encoding"), Some("br"));
    assert_eq!(reply.header("vary"), Some("Accept-Encoding"));
    assert_eq!(declared_length(&reply), reply.body.len());
    let tokens: Value = serde_json::from_slice(&unbrotli(&reply.body)).expect("JSON inside");
    assert!(tokens["access_token"].is_string());
    let recorded = stub.recorded();
    let seen = recorded.last().expect("recorded");
    assert_eq!(seen.headers["accept-encoding"], "gzip, deflate, br, zstd");
}

#[tokio::test]
async fn gzip_when_brotli_is_not_allowed_and_other_services_too() {
    let (stub, client) = start_compressing().await;
    let reply = sign_in(&stub, &client, Some("gzip")).await;
    assert_eq!(reply.header("content-encoding"), Some("gzip"));
    assert_eq!(declared_length(&reply), reply.body.len());
    let tokens: Value =
        serde_json::from_slice(&gunzip(&reply.body).expect("valid gzip")).expect("JSON");
    let access = tokens["access_token"].as_str().expect("token").to_owned();

    let authorization = format!("Bearer {access}");
    let rest = client
        .send(
            "GET",
            "/rest/v1/profiles",
            &[
                ("authorization", authorization.as_str()),
                ("accept-encoding", "gzip;q=1.0, br;q=0"),
            ],
            "",
        )
        .await;
    assert_eq!(rest.header("content-encoding"), Some("gzip"));
    let echo: Value = serde_json::from_slice(&gunzip(&rest.body).expect("gzip")).expect("JSON");
    assert_eq!(echo["role"], "authenticated");
}

#[tokio::test]
async fn identity_or_no_accept_encoding_gets_plain_json() {
    let (stub, client) = start_compressing().await;
    for asked in [None, Some("identity")] {
        let reply = sign_in(&stub, &client, asked).await;
        assert_eq!(reply.header("content-encoding"), None, "{asked:?}");
        assert!(reply.json()["access_token"].is_string());
    }
}

#[tokio::test]
async fn without_compress_nothing_is_encoded() {
    let (stub, client) = start_default().await;
    let reply = sign_in(&stub, &client, Some("gzip, deflate, br, zstd")).await;
    assert_eq!(reply.header("content-encoding"), None);
    assert!(reply.json()["access_token"].is_string());
}

#[tokio::test]
async fn non_json_answers_stay_plain() {
    let (_stub, client) = start_compressing().await;
    let link = "/auth/v1/verify?token=nope&type=magiclink&redirect_to=http://app.test/done";
    let reply = client
        .send("GET", link, &[("accept-encoding", "gzip, br")], "")
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header("content-encoding"), None);
    assert!(reply.body.starts_with(b"<a href="));
}

#[tokio::test]
async fn fault_auth_encodes_even_when_asked_for_nothing() {
    let (stub, client) = start_default().await;
    stub.faults()
        .auth_encode_unasked
        .store(true, Ordering::SeqCst);
    let reply = sign_in(&stub, &client, Some("identity")).await;
    assert_eq!(reply.header("content-encoding"), Some("gzip"));
    let tokens: Value =
        serde_json::from_slice(&gunzip(&reply.body).expect("valid gzip")).expect("JSON");
    assert!(tokens["refresh_token"].is_string());
    let unasked = sign_in(&stub, &client, None).await;
    assert_eq!(unasked.header("content-encoding"), Some("gzip"));
    // Other services are not affected.
    let rest = client.send("GET", "/rest/v1/todos", &[], "").await;
    assert_eq!(rest.header("content-encoding"), None);
}

#[tokio::test]
async fn fault_mislabels_a_plain_body_as_gzip() {
    let (stub, client) = start_default().await;
    stub.faults().auth_bad_gzip.store(true, Ordering::SeqCst);
    let reply = sign_in(&stub, &client, Some("gzip")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-encoding"), Some("gzip"));
    assert!(gunzip(&reply.body).is_err(), "not valid gzip");
    assert!(reply.json()["access_token"].is_string(), "the plain JSON");
}

#[tokio::test]
async fn fault_password_grant_answers_a_decompression_bomb() {
    let (stub, client) = start_default().await;
    stub.faults()
        .signin_gzip_bomb_mib
        .store(8, Ordering::SeqCst);
    let reply = sign_in(&stub, &client, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-encoding"), Some("gzip"));
    assert!(reply.body.len() < 64 * 1024, "{} bytes", reply.body.len());
    let decoded = gunzip(&reply.body).expect("valid gzip");
    assert!(decoded.len() > 8 * 1024 * 1024);
    let tokens: Value = serde_json::from_slice(&decoded).expect("JSON after the padding");
    assert!(tokens["access_token"].is_string());
}

#[tokio::test]
async fn fault_set_cookies_reach_every_service() {
    let (stub, client) = start_default().await;
    *stub.faults().set_cookies.lock().expect("lock") = vec![
        "sb-access-token=leaked; Path=/".to_owned(),
        "sb-session=forged; Path=/; HttpOnly".to_owned(),
    ];
    for path in ["/rest/v1/todos", "/storage/v1/bucket", "/auth/v1/health"] {
        let reply = client
            .send("GET", path, &[("apikey", client.anon_key.as_str())], "")
            .await;
        let cookies: Vec<&str> = reply
            .headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        assert_eq!(
            cookies,
            [
                "sb-access-token=leaked; Path=/",
                "sb-session=forged; Path=/; HttpOnly"
            ],
            "{path}"
        );
    }
    let cleared = client.send("POST", "/__stub/set_cookies", &[], "[]").await;
    assert_eq!(cleared.status, StatusCode::NO_CONTENT);
    let reply = client.send("GET", "/rest/v1/todos", &[], "").await;
    assert!(reply.headers.get("set-cookie").is_none());
}
