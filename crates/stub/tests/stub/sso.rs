//! SAML SSO as the stand-in plays it with SAML enabled: `POST /sso`, the
//! stand-in identity provider's self-posting form, `POST /sso/saml/acs`
//! and the code's exchange, with GoTrue's refusals along the way.

use crate::client::{Client, Reply, claims, start};
use http::StatusCode;
use sbp_stub::{SsoProvider, StubConfig};
use serde_json::{Value, json};

/// RFC 7636's example pair.
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const PROVIDER_ID: &str = "3f0e7c52-9d41-4b8a-a1c6-5e2f8d7b9a01";

fn provider() -> SsoProvider {
    SsoProvider {
        id: PROVIDER_ID.to_owned(),
        domains: vec!["sso.example.com".to_owned()],
    }
}

async fn saml_project() -> (sbp_stub::Stub, Client) {
    start(StubConfig {
        saml_enabled: true,
        sso_providers: vec![provider()],
        site_url: Some("https://app.example.com".to_owned()),
        uri_allow_list: vec!["https://*.example.org/cb".to_owned()],
        ..StubConfig::default()
    })
    .await
}

async fn sso(client: &Client, body: Value) -> Reply {
    client.auth("POST", "/sso", None, &body).await
}

/// The path and query of a URL on the stub.
fn on_stub(client: &Client, url: &str) -> String {
    url.strip_prefix(&client.base)
        .unwrap_or_else(|| panic!("{url} is not on the stub"))
        .to_owned()
}

/// The value of the attribute `attribute` that follows `after` in `html`.
fn attribute(html: &str, after: &str, attribute: &str) -> String {
    let start = html
        .find(after)
        .unwrap_or_else(|| panic!("{after} in {html}"));
    let rest = &html[start..];
    let marker = format!("{attribute}=\"");
    let from = rest.find(&marker).expect("the attribute") + marker.len();
    let value = &rest[from..from + rest[from..].find('"').expect("a closing quote")];
    assert!(!value.contains('&'), "no entities expected: {value}");
    value.to_owned()
}

/// What the identity provider's page makes the browser post: the ACS path and the form body.
async fn idp_form(client: &Client, url: &str) -> (String, String) {
    let page = client.send("GET", &on_stub(client, url), &[], "").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = String::from_utf8(page.body.to_vec()).expect("UTF-8");
    assert!(html.contains("document.forms[0].submit()"), "{html}");
    let action = attribute(&html, "<form", "action");
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair(
            "SAMLResponse",
            &attribute(&html, "name=\"SAMLResponse\"", "value"),
        )
        .append_pair(
            "RelayState",
            &attribute(&html, "name=\"RelayState\"", "value"),
        )
        .finish();
    (on_stub(client, &action), body)
}

async fn post_form(client: &Client, path: &str, body: &str) -> Reply {
    let form = [("content-type", "application/x-www-form-urlencoded")];
    client.send("POST", path, &form, body.to_owned()).await
}

fn start_body(key: &str, value: &str, redirect_to: &str) -> Value {
    let mut body = json!({
        "redirect_to": redirect_to,
        "skip_http_redirect": true,
        "code_challenge": CHALLENGE,
        "code_challenge_method": "s256",
    });
    body[key] = value.into();
    body
}

#[tokio::test]
async fn sso_goes_through_the_identity_provider_and_back_with_a_code() {
    let (stub, client) = saml_project().await;
    stub.create_user("sso-user@sso.example.com", "pw123456");
    let reply = sso(
        &client,
        start_body("domain", "sso.example.com", "https://a.example.org/cb"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let url = reply.json()["url"].as_str().unwrap().to_owned();
    let idp = format!("{}/__stub/idp/{PROVIDER_ID}/sso?SAMLRequest=", client.base);
    assert!(url.starts_with(&idp), "{url}");
    assert!(url.contains("&RelayState="), "{url}");

    let (acs, form) = idp_form(&client, &url).await;
    assert_eq!(acs, "/auth/v1/sso/saml/acs");
    // The ACS is open: the browser posts it without an apikey.
    let back = post_form(&client, &acs, &form).await;
    assert_eq!(back.status, StatusCode::FOUND);
    let location = back.header("location").unwrap().to_owned();
    let code = location
        .strip_prefix("https://a.example.org/cb?code=")
        .unwrap_or_else(|| panic!("{location}"));
    assert!(
        back.headers.get("set-cookie").is_none(),
        "no tokens with PKCE"
    );

    let wrong = client
        .auth(
            "POST",
            "/token?grant_type=pkce",
            None,
            &json!({"auth_code": code, "code_verifier": "x".repeat(43)}),
        )
        .await;
    assert_eq!(wrong.json()["code"], "bad_code_verifier");
    let tokens = client
        .auth(
            "POST",
            "/token?grant_type=pkce",
            None,
            &json!({"auth_code": code, "code_verifier": VERIFIER}),
        )
        .await;
    assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.body);
    let tokens = tokens.json();
    let user = &tokens["user"];
    assert_eq!(user["email"], "sso-user@sso.example.com");
    let provider_type = format!("sso:{PROVIDER_ID}");
    assert_eq!(user["app_metadata"]["provider"], provider_type.as_str());
    assert_eq!(user["app_metadata"]["providers"], json!([provider_type]));
    let access = claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["amr"][0]["method"], "sso/saml");

    // SSO users are their own users: the password user of that address is another.
    let password = client
        .auth(
            "POST",
            "/token?grant_type=password",
            None,
            &json!({"email": "sso-user@sso.example.com", "password": "pw123456"}),
        )
        .await;
    assert_eq!(password.status, StatusCode::OK);
    assert_ne!(password.json()["user"]["id"], user["id"]);

    // A second SSO sign-in finds the same SSO user, here by provider id.
    let again = sso(
        &client,
        start_body("provider_id", PROVIDER_ID, "https://a.example.org/cb"),
    )
    .await;
    let (_, form2) = idp_form(&client, again.json()["url"].as_str().unwrap()).await;
    let location = post_form(&client, &acs, &form2).await;
    let code = location
        .header("location")
        .unwrap()
        .rsplit('=')
        .next()
        .unwrap()
        .to_owned();
    let tokens = client
        .auth(
            "POST",
            "/token?grant_type=pkce",
            None,
            &json!({"auth_code": code, "code_verifier": VERIFIER}),
        )
        .await;
    assert_eq!(tokens.json()["user"]["id"], user["id"]);

    // A relay state is used once.
    let replay = post_form(&client, &acs, &form).await;
    assert_eq!(replay.status, StatusCode::SEE_OTHER);
    assert_eq!(
        replay.header("location").unwrap(),
        "https://app.example.com?error=server_error&error_code=saml_relay_state_not_found&error_description=SAML+RelayState+does+not+exist%2C+try+logging+in+again%3F"
    );
}

#[tokio::test]
async fn the_acs_refuses_assertions_the_identity_provider_did_not_sign() {
    let (_stub, client) = saml_project().await;
    let reply = sso(
        &client,
        start_body("domain", "sso.example.com", "https://evil.example/cb"),
    )
    .await;
    let (acs, form) = idp_form(&client, reply.json()["url"].as_str().unwrap()).await;
    let relay = form.split("RelayState=").nth(1).unwrap().to_owned();

    // Someone else's assertion for this relay state: the signature check fails.
    let forged = base64_json(&json!({
        "ID": "_forged", "InResponseTo": "id-whatever", "NameID": "ceo@sso.example.com",
        "Issuer": format!("{}/__stub/idp/{PROVIDER_ID}", client.base),
        "Audience": format!("{}/auth/v1/sso/saml/metadata", client.base),
    }));
    let body = format!("SAMLResponse={}&RelayState={relay}", urlencode(&forged));
    let refused = post_form(&client, &acs, &body).await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER);
    let location = refused.header("location").unwrap();
    assert!(
        location.starts_with(
            "https://app.example.com?error=invalid_request&error_code=validation_failed&"
        ),
        "{location}"
    );

    // The relay state went with the failed attempt.
    let late = post_form(&client, &acs, &form).await;
    assert!(
        late.header("location")
            .unwrap()
            .contains("saml_relay_state_not_found")
    );

    // A redirect_to off the allow list falls back to the Site URL.
    let reply = sso(
        &client,
        start_body("domain", "sso.example.com", "https://evil.example/cb"),
    )
    .await;
    let (_, form) = idp_form(&client, reply.json()["url"].as_str().unwrap()).await;
    let back = post_form(&client, &acs, &form).await;
    assert!(
        back.header("location")
            .unwrap()
            .starts_with("https://app.example.com?code=")
    );

    // No relay state of Auth's, and garbage.
    for (body, message) in [
        (
            "RelayState=nonsense",
            "SAML+RelayState+is+not+a+valid+UUID+or+URL",
        ),
        ("RelayState=", "SAMLResponse+is+missing"),
        (
            "SAMLResponse=%%%",
            "SAMLResponse+is+not+a+valid+Base64+string",
        ),
    ] {
        let reply = post_form(&client, &acs, body).await;
        let location = reply.header("location").unwrap();
        assert!(
            location.ends_with(&format!("error_description={message}")),
            "{body}: {location}"
        );
    }
}

#[tokio::test]
async fn sso_requests_name_exactly_one_known_provider() {
    let (_stub, client) = saml_project().await;
    let cases = [
        (
            json!({"domain": "sso.example.com", "provider_id": PROVIDER_ID}),
            400,
            "validation_failed",
        ),
        (
            json!({"redirect_to": "https://a.example.org/cb"}),
            400,
            "validation_failed",
        ),
        (
            json!({"domain": "other.example.com"}),
            404,
            "sso_provider_not_found",
        ),
        (
            json!({"provider_id": "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"}),
            404,
            "sso_provider_not_found",
        ),
        (json!({"provider_id": "p1"}), 400, "bad_json"),
        (
            json!({"domain": "sso.example.com", "code_challenge": CHALLENGE}),
            400,
            "validation_failed",
        ),
    ];
    for (body, status, code) in cases {
        let reply = sso(&client, body.clone()).await;
        assert_eq!(reply.status.as_u16(), status, "{body}");
        assert_eq!(reply.json()["code"], code, "{body}");
    }
    // Without skip_http_redirect: 303 to the identity provider.
    let reply = sso(&client, json!({"domain": "sso.example.com"})).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(reply.header("location").unwrap().contains("/__stub/idp/"));
    let settings = client.auth("GET", "/settings", None, &json!({})).await;
    assert_eq!(settings.json()["saml_enabled"], true);
}

#[tokio::test]
async fn without_a_code_challenge_the_tokens_come_in_the_fragment() {
    let (_stub, client) = saml_project().await;
    let body = json!({"domain": "sso.example.com", "redirect_to": "https://a.example.org/cb", "skip_http_redirect": true});
    let reply = sso(&client, body).await;
    let (acs, form) = idp_form(&client, reply.json()["url"].as_str().unwrap()).await;
    let back = post_form(&client, &acs, &form).await;
    assert_eq!(back.status, StatusCode::FOUND);
    let location = back.header("location").unwrap();
    let fragment = location
        .strip_prefix("https://a.example.org/cb#access_token=")
        .unwrap_or_else(|| panic!("{location}"));
    assert!(
        fragment.contains("&refresh_token=") && fragment.ends_with("&token_type=bearer"),
        "{location}"
    );
}

fn base64_json(value: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(value.to_string())
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn without_saml_the_acs_is_not_found_either() {
    let (_stub, client) = crate::client::start_default().await;
    let reply = post_form(&client, "/auth/v1/sso/saml/acs", "RelayState=x").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.header("x-sb-error-code"),
        Some("saml_provider_disabled")
    );
    let settings = client.auth("GET", "/settings", None, &json!({})).await;
    assert_eq!(settings.json()["saml_enabled"], false);
}
