//! Calls to the proxy's Auth hook (`POST /edge/v1/hooks/auth`) as the
//! database triggers make them: Database Webhook payloads signed with
//! Standard Webhooks, rows shaped like `auth.users` and `auth.sessions`.

use super::{Browser, Reply};
use http::Method;
use sbp_core::hooks::{HookSecrets, sign};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

/// The secret the proxy checks calls with first.
pub const SECRET: &str = "v1,whsec_aG9vay1zZWNyZXQtZm9yLXRoZS1lMmUtc3VpdGUtMDE=";
/// A second configured secret, being rotated out.
pub const OLD_SECRET: &str = "v1,whsec_aG9vay1zZWNyZXQtYmVpbmctcm90YXRlZC1vdXQtMDI=";
/// A secret the proxy does not know.
pub const UNKNOWN_SECRET: &str = "v1,whsec_YS1zZWNyZXQtdGhlLXByb3h5LW5ldmVyLWtuZXctMDM=";

/// `PROXY_HOOK_SECRET` with both configured secrets.
pub fn configured_secrets() -> String {
    format!("{SECRET} {OLD_SECRET}")
}

/// The wall clock in Unix seconds (the proxy judges timestamps by it).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs() as i64
}

/// A new `webhook-id`, unique in this test run.
pub fn new_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "msg_{}_{}",
        unix_now(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// One call: its headers (any may be left out) and body.
pub struct Call {
    pub id: Option<String>,
    pub timestamp: Option<String>,
    pub signature: Option<String>,
    pub body: String,
}

impl Call {
    /// `payload` signed with `secret` now, under a new id.
    pub fn signed(secret: &str, payload: &Value) -> Call {
        Call::signed_at(secret, &new_id(), unix_now(), &payload.to_string())
    }

    /// `body` signed with `secret` as sent at `timestamp` under `id`.
    pub fn signed_at(secret: &str, id: &str, timestamp: i64, body: &str) -> Call {
        let secrets = HookSecrets::parse(secret).expect("a test secret");
        let timestamp = timestamp.to_string();
        let signature = sign(&secrets, id, &timestamp, body.as_bytes());
        Call {
            id: Some(id.to_string()),
            timestamp: Some(timestamp),
            signature: Some(signature),
            body: body.to_string(),
        }
    }

    /// Sends the call to the proxy at `base` as a server does: no cookie,
    /// no Origin.
    pub async fn send(&self, base: &str) -> Reply {
        let mut server = Browser::new(base, "server-key", "sb-session");
        let mut headers = vec![("content-type", "application/json")];
        for (name, value) in [
            ("webhook-id", &self.id),
            ("webhook-timestamp", &self.timestamp),
            ("webhook-signature", &self.signature),
        ] {
            if let Some(value) = value {
                headers.push((name, value.as_str()));
            }
        }
        server
            .send(
                Method::POST,
                "/edge/v1/hooks/auth",
                &headers,
                self.body.clone(),
            )
            .await
    }
}

/// A Database Webhook payload.
pub fn payload(kind: &str, table: &str, record: Value, old_record: Value) -> Value {
    json!({"type": kind, "table": table, "schema": "auth",
           "record": record, "old_record": old_record})
}

/// The `auth.users` row of the user Auth shows as `user` (its JSON), as
/// `to_jsonb` writes it: metadata in the `raw_` columns, empty contact
/// fields as null, and the secret columns the proxy must never copy.
pub fn user_row(user: &Value) -> Value {
    let or_null = |v: &Value| match v.as_str() {
        Some("") | None => Value::Null,
        Some(s) => Value::from(s),
    };
    json!({
        "instance_id": "00000000-0000-0000-0000-000000000000",
        "id": user["id"],
        "aud": "authenticated",
        "role": "authenticated",
        "email": or_null(&user["email"]),
        "phone": or_null(&user["phone"]),
        "encrypted_password": "$2a$10$not-a-real-bcrypt-hash-of-anything",
        "confirmation_token": "",
        "recovery_token": "",
        "email_change": "",
        "email_confirmed_at": user["email_confirmed_at"],
        "raw_app_meta_data": user["app_metadata"],
        "raw_user_meta_data": user["user_metadata"],
        "is_super_admin": null,
        "created_at": user["created_at"],
        "updated_at": user["updated_at"],
        "banned_until": null,
        "deleted_at": null,
        "is_anonymous": false,
        "is_sso_user": false
    })
}
