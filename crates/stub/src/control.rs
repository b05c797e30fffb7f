//! Test-control endpoints under `/__stub/` for tests that cannot call Rust
//! (the Node client tests): the request log, issued tokens, the mails and
//! text messages Auth sent, a reset, the current TOTP code of a secret,
//! injected `Set-Cookie` headers, an admin's change to a user's
//! `app_metadata`, and the stand-in SAML identity providers
//! (`/__stub/idp/`, see `auth/idp.rs`).

use http::{Response, StatusCode};
use serde_json::{Map, Value, json};

use crate::record::Recorded;
use crate::request::Req;
use crate::response::{StubBody, empty, json, not_found};
use crate::state::{Shared, lock};

pub(crate) async fn handle(shared: &Shared, req: &mut Req) -> Response<StubBody> {
    if let Some(rest) = req.path.strip_prefix("/__stub/idp/") {
        return crate::auth::idp::handle(shared, req, rest);
    }
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/__stub/totp") => {
            let secret = req.query_param("secret").unwrap_or_default();
            match crate::Stub::totp_code(&secret) {
                Some(code) => json(StatusCode::OK, &json!({"code": code})),
                None => json(
                    StatusCode::BAD_REQUEST,
                    &json!({"error": "secret must be base32 of at least 128 bits"}),
                ),
            }
        }
        ("POST", "/__stub/set_cookies") => set_cookies(shared, req).await,
        ("POST", "/__stub/app_metadata") => set_app_metadata(shared, req).await,
        ("GET", "/__stub/recorded") => {
            let list: Vec<Value> = shared
                .recorder
                .snapshot()
                .iter()
                .map(recorded_json)
                .collect();
            json(StatusCode::OK, &Value::Array(list))
        }
        ("GET", "/__stub/issued_tokens") => {
            json(StatusCode::OK, &json!(shared.auth().issued_tokens()))
        }
        ("GET", "/__stub/messages") => {
            let to = req.query_param("to").map(|to| to.to_ascii_lowercase());
            let auth = shared.auth();
            let sent: Vec<_> = auth
                .outbox()
                .iter()
                .filter(|m| to.as_ref().is_none_or(|to| *to == m.to))
                .collect();
            json(StatusCode::OK, &json!(sent))
        }
        ("POST", "/__stub/clear") => {
            shared.recorder.clear();
            empty(StatusCode::NO_CONTENT)
        }
        _ => not_found(),
    }
}

/// Replaces the `Set-Cookie` values every answer carries with a JSON array of strings.
async fn set_cookies(shared: &Shared, req: &mut Req) -> Response<StubBody> {
    let body = req.body.read_all(64 * 1024).await.ok();
    let cookies = body.and_then(|b| serde_json::from_slice::<Vec<String>>(&b).ok());
    match cookies {
        Some(cookies) => {
            *lock(&shared.faults.set_cookies) = cookies;
            empty(StatusCode::NO_CONTENT)
        }
        None => json(
            StatusCode::BAD_REQUEST,
            &json!({"error": "expected a JSON array of Set-Cookie values"}),
        ),
    }
}

/// Body `{"user_id", "app_metadata": {...}}`: merges the keys into the
/// user's `app_metadata`, as GoTrue's admin user update
/// (`PUT /admin/users/{id}` with `app_metadata`) does; tokens issued from
/// then on carry it, tokens issued before keep the old claims. Answers the
/// user as Auth shows it.
async fn set_app_metadata(shared: &Shared, req: &mut Req) -> Response<StubBody> {
    let body = req.body.read_all(64 * 1024).await.ok();
    let asked = body.and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    let user_id = asked
        .as_ref()
        .and_then(|a| a["user_id"].as_str())
        .and_then(|id| id.parse().ok());
    let metadata = asked.as_ref().and_then(|a| a["app_metadata"].as_object());
    let (Some(user_id), Some(metadata)) = (user_id, metadata) else {
        return json(
            StatusCode::BAD_REQUEST,
            &json!({"error": "expected {\"user_id\": <uuid>, \"app_metadata\": {...}}"}),
        );
    };
    let mut auth = shared.auth();
    let Some(user) = auth.user_mut(user_id) else {
        return json(StatusCode::NOT_FOUND, &json!({"error": "no such user"}));
    };
    user.admin_app_metadata.extend(metadata.clone());
    user.updated_at = crate::clock::rfc3339_now();
    json(StatusCode::OK, &user.to_json())
}

/// A recorded request as JSON: headers as an object (repeated ones joined
/// with ", "), the body as lossy UTF-8.
fn recorded_json(recorded: &Recorded) -> Value {
    let mut headers = Map::new();
    for name in recorded.headers.keys() {
        let values: Vec<String> = recorded
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        headers.insert(name.as_str().to_owned(), json!(values.join(", ")));
    }
    json!({
        "method": recorded.method,
        "path": recorded.path,
        "query": recorded.query,
        "headers": headers,
        "body": String::from_utf8_lossy(&recorded.body),
        "body_len": recorded.body_len,
    })
}
