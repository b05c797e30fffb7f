//! Conformance with Auth's own OpenAPI description (vendored in
//! `crates/stub/openapi/`): token responses and user bodies are validated
//! against `AccessTokenResponseSchema` / `UserSchema`, made strict here (the
//! fields Auth always sends are required, unknown fields refused, formats
//! such as `uuid` and `date-time` checked).

use serde_json::{Value, json};

use crate::client::start;
use sbp_stub::StubConfig;

const OPENAPI: &str = include_str!("../../openapi/gotrue-openapi.yaml");

/// Fields every body of these schemas carries.
const REQUIRED: [(&str, &[&str]); 3] = [
    (
        "AccessTokenResponseSchema",
        &[
            "access_token",
            "token_type",
            "expires_in",
            "expires_at",
            "refresh_token",
            "user",
        ],
    ),
    (
        "UserSchema",
        &[
            "id",
            "aud",
            "role",
            "email",
            "phone",
            "app_metadata",
            "user_metadata",
            "identities",
            "created_at",
            "updated_at",
            "is_anonymous",
        ],
    ),
    (
        "IdentitySchema",
        &["identity_id", "id", "user_id", "identity_data", "provider"],
    ),
];

/// A validator for `#/components/schemas/<name>`, resolving refs inside the OpenAPI document.
fn validator(name: &str) -> jsonschema::Validator {
    let openapi: Value = serde_norway::from_str(OPENAPI).expect("OpenAPI YAML parses");
    let mut components = openapi["components"].clone();
    for (schema, required) in REQUIRED {
        let schema = &mut components["schemas"][schema];
        schema["required"] = json!(required);
        schema["additionalProperties"] = json!(false);
    }
    let root = json!({
        "components": components,
        "allOf": [{"$ref": format!("#/components/schemas/{name}")}],
    });
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .expect("schema compiles")
}

pub(crate) fn assert_conforms(name: &str, body: &Value) {
    let validator = validator(name);
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{name} violations: {errors:#?}\nbody: {body:#}"
    );
}

#[test]
fn strict_schema_rejects_a_bad_body() {
    let validator = validator("AccessTokenResponseSchema");
    assert!(!validator.is_valid(&json!({"access_token": "x"})));
    assert!(!validator.is_valid(&json!({
        "access_token": "x", "token_type": "bearer", "expires_in": "3600", "expires_at": 1,
        "refresh_token": "r", "user": {}
    })));
}

#[tokio::test]
async fn token_responses_and_users_match_the_openapi_schemas() {
    let (stub, client) = start(StubConfig::default()).await;
    let tokens = client.sign_up("olga@example.com").await;
    assert_conforms("AccessTokenResponseSchema", &tokens);

    let refreshed = client
        .refresh(tokens["refresh_token"].as_str().expect("rt"))
        .await
        .json();
    assert_conforms("AccessTokenResponseSchema", &refreshed);

    let access = refreshed["access_token"].as_str().expect("jwt");
    let user = client
        .auth("GET", "/user", Some(access), &json!({}))
        .await
        .json();
    assert_conforms("UserSchema", &user);

    let updated = client
        .auth(
            "PUT",
            "/user",
            Some(access),
            &json!({"data": {"plan": "pro"}}),
        )
        .await
        .json();
    assert_conforms("UserSchema", &updated);

    let anonymous = client
        .auth("POST", "/signup", None, &json!({}))
        .await
        .json();
    assert_conforms("AccessTokenResponseSchema", &anonymous);

    let phone = client
        .auth(
            "POST",
            "/signup",
            None,
            &json!({"phone": "15550100", "password": "pw123456"}),
        )
        .await
        .json();
    assert_conforms("AccessTokenResponseSchema", &phone);
    drop(stub);
}

#[tokio::test]
async fn unconfirmed_signup_returns_a_conforming_bare_user() {
    let (_stub, client) = start(StubConfig {
        autoconfirm: false,
        ..StubConfig::default()
    })
    .await;
    let user = client.sign_up("pia@example.com").await;
    assert_conforms("UserSchema", &user);
}
