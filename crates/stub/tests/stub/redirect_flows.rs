//! The stand-in's redirect flows as GoTrue answers them: the redirect allow
//! list with its Site URL fallback, the PKCE parameter checks of
//! `/authorize`, the callback's error redirects, `POST /sso` without SAML,
//! and `POST /admin/generate_link` with typed token-hash verification.

use crate::client::{Client, start};
use http::StatusCode;
use sbp_stub::StubConfig;
use serde_json::json;

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

async fn strict() -> (sbp_stub::Stub, Client) {
    start(StubConfig {
        site_url: Some("https://app.example.com".to_owned()),
        uri_allow_list: vec!["https://*.example.org/cb".to_owned()],
        ..StubConfig::default()
    })
    .await
}

fn authorize(redirect_to: &str, extra: &str) -> String {
    let to: String = form_urlencoded::byte_serialize(redirect_to.as_bytes()).collect();
    format!(
        "/auth/v1/authorize?provider=github&redirect_to={to}&code_challenge={CHALLENGE}&code_challenge_method=s256{extra}"
    )
}

#[tokio::test]
async fn a_redirect_to_off_the_allow_list_falls_back_to_the_site_url() {
    let (_stub, client) = strict().await;
    let cases = [
        ("https://a.example.org/cb", "https://a.example.org/cb?code="),
        (
            "https://app.example.com/anything",
            "https://app.example.com/anything?code=",
        ),
        (
            "http://127.0.0.1:4000/edge/v1/callback",
            "http://127.0.0.1:4000/edge/v1/callback?code=",
        ),
        ("https://evil.example/cb", "https://app.example.com?code="),
        (
            "https://a.b.example.org/cb",
            "https://app.example.com?code=",
        ),
        ("http://2130706433/cb", "https://app.example.com?code="),
    ];
    for (redirect_to, expected) in cases {
        let reply = client
            .send("GET", &authorize(redirect_to, ""), &[], "")
            .await;
        assert_eq!(reply.status, StatusCode::FOUND, "{redirect_to}");
        let location = reply.header("location").unwrap();
        assert!(location.starts_with(expected), "{redirect_to}: {location}");
    }
}

#[tokio::test]
async fn pkce_parameters_come_together_and_challenges_have_a_length() {
    let (_stub, client) = strict().await;
    for path in [
        format!("/auth/v1/authorize?provider=github&code_challenge={CHALLENGE}"),
        "/auth/v1/authorize?provider=github&code_challenge_method=s256".to_owned(),
        "/auth/v1/authorize?provider=github&code_challenge=short&code_challenge_method=s256"
            .to_owned(),
    ] {
        let reply = client
            .send(
                "GET",
                &path,
                &[("x-supabase-api-version", "2024-01-01")],
                "",
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(reply.json()["code"], "validation_failed", "{path}");
    }
}

#[tokio::test]
async fn provider_errors_come_back_in_the_query_and_the_fragment() {
    let (_stub, client) = strict().await;
    let reply = client
        .send(
            "GET",
            &authorize("https://a.example.org/cb", "&prompt=none"),
            &[],
            "",
        )
        .await;
    assert_eq!(reply.status, StatusCode::FOUND);
    assert_eq!(
        reply.header("location").unwrap(),
        "https://a.example.org/cb?error=login_required&error_description=Nobody+is+signed+in+at+github#error=login_required&error_description=Nobody+is+signed+in+at+github&sb="
    );
    let denied = client
        .send(
            "GET",
            "/auth/v1/callback?provider=github&redirect_to=https%3A%2F%2Fa.example.org%2Fcb&error=access_denied&error_description=The+user+said+no",
            &[],
            "",
        )
        .await;
    let location = denied.header("location").unwrap();
    assert!(
        location.starts_with(
            "https://a.example.org/cb?error=access_denied&error_description=The+user+said+no#"
        ),
        "{location}"
    );
}

#[tokio::test]
async fn sso_without_saml_is_not_found() {
    let (_stub, client) = strict().await;
    let reply = client
        .auth("POST", "/sso", None, &json!({"domain": "example.org"}))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json()["code"], "saml_provider_disabled");
}

#[tokio::test]
async fn generated_links_need_the_service_role_and_verify_once_for_their_type() {
    let (stub, client) = strict().await;
    let body = json!({"type": "magiclink", "email": "link@example.com"});
    let anon = client
        .auth("POST", "/admin/generate_link", None, &body)
        .await;
    assert_eq!(anon.status, StatusCode::FORBIDDEN);
    assert_eq!(anon.json()["code"], "not_admin");
    let service = stub.service_role_key();
    let made = client
        .auth("POST", "/admin/generate_link", Some(&service), &body)
        .await;
    assert_eq!(made.status, StatusCode::OK);
    let made = made.json();
    assert_eq!(made["email"], "link@example.com");
    assert_eq!(made["verification_type"], "magiclink");
    assert_eq!(made["redirect_to"], "https://app.example.com");
    let hash = made["hashed_token"].as_str().unwrap();
    assert_eq!(hash.len(), 56, "hex SHA-224");
    let verify = |kind: &str| json!({"token_hash": hash, "type": kind});
    let wrong = client
        .auth("POST", "/verify", None, &verify("signup"))
        .await;
    assert_eq!(wrong.json()["code"], "otp_expired");
    let signed_in = client
        .auth("POST", "/verify", None, &verify("magiclink"))
        .await;
    assert_eq!(signed_in.status, StatusCode::OK);
    assert_eq!(signed_in.json()["user"]["email"], "link@example.com");
    let again = client
        .auth("POST", "/verify", None, &verify("magiclink"))
        .await;
    assert_eq!(again.json()["code"], "otp_expired");

    let recovery = json!({"type": "recovery", "email": "nobody@example.com"});
    let missing = client
        .auth("POST", "/admin/generate_link", Some(&service), &recovery)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}
