//! What a hook call says, and what the proxy does about it.
//!
//! The calls are Supabase Database Webhook payloads, as the dashboard's
//! webhooks (`supabase_functions.http_request`) and the repository's
//! `schema.sql` triggers send them: a JSON object
//! `{"type", "table", "schema", "record", "old_record"}` where
//! - `type` is `INSERT`, `UPDATE` or `DELETE` (the trigger's `TG_OP`),
//! - `table` and `schema` name the table (`TG_TABLE_NAME`, `TG_TABLE_SCHEMA`),
//! - `record` is the row after the change (`NEW` as JSON; `null` for a DELETE),
//! - `old_record` the row before it (`OLD`; `null` for an INSERT).
//!
//! Rows are the table's columns as `to_jsonb` writes them: `auth.users` has
//! `id`, `email`, `phone`, `raw_app_meta_data`, `raw_user_meta_data`,
//! `role`, `aud`, `is_anonymous`, `banned_until`, `deleted_at`, timestamps
//! (`2024-05-01T12:34:56.789012+00:00`) and secrets (password hash, tokens)
//! that the proxy never copies; `auth.sessions` has `id` (the `session_id`
//! claim of Auth's tokens) and `user_id`.
//!
//! [`decide`] turns a payload into an [`Effect`]; [`user_from_row`] shapes a
//! `auth.users` row like Auth's user JSON over the user the session holds.

use crate::env::UnixSeconds;
use serde::Deserialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// A Database Webhook payload.
#[derive(Debug, Clone, Deserialize)]
pub struct Payload {
    #[serde(rename = "type")]
    pub kind: Change,
    pub table: String,
    pub schema: String,
    #[serde(default)]
    pub record: Option<Map<String, Value>>,
    #[serde(default)]
    pub old_record: Option<Map<String, Value>>,
}

/// The trigger's operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Change {
    #[serde(rename = "INSERT")]
    Insert,
    #[serde(rename = "UPDATE")]
    Update,
    #[serde(rename = "DELETE")]
    Delete,
}

/// Why a payload cannot be acted on (the call gets a 400 saying so).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("the body is not a Database Webhook payload: {0}")]
    Malformed(String),
    #[error("the hook takes auth.users and auth.sessions, not {0}")]
    UnknownTable(String),
    #[error("the {0} row has no id")]
    NoId(&'static str),
}

/// What the proxy does for a payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// The user changed: its sessions get `row` (see [`user_from_row`]) and
    /// new tokens at their next use.
    UpdateUser {
        user_id: String,
        row: Map<String, Value>,
    },
    /// The user was banned or deleted: all its sessions end.
    EndUser { user_id: String },
    /// Auth's session `session_id` was deleted: the proxy session holding it ends.
    EndAuthSession { session_id: String },
    /// Nothing to do (a new user or Auth session, a session row updated).
    Nothing,
}

/// Reads a payload from a call's body.
pub fn parse(body: &[u8]) -> Result<Payload, PayloadError> {
    serde_json::from_slice(body).map_err(|e| PayloadError::Malformed(e.to_string()))
}

/// What `payload` means at `now`.
pub fn decide(payload: Payload, now: UnixSeconds) -> Result<Effect, PayloadError> {
    match (payload.schema.as_str(), payload.table.as_str()) {
        ("auth", "users") => decide_user(payload, now),
        ("auth", "sessions") => decide_session(payload),
        (schema, table) => Err(PayloadError::UnknownTable(format!("{schema}.{table}"))),
    }
}

fn row_id(row: &Map<String, Value>, table: &'static str) -> Result<String, PayloadError> {
    match row.get("id") {
        Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
        _ => Err(PayloadError::NoId(table)),
    }
}

/// The row a change is about: the new one, else the old one.
fn changed_row(payload: Payload, table: &'static str) -> Result<Map<String, Value>, PayloadError> {
    let row = match payload.kind {
        Change::Delete => payload.old_record,
        Change::Insert | Change::Update => payload.record,
    };
    row.ok_or_else(|| PayloadError::Malformed(format!("the {table} change has no row")))
}

fn decide_user(payload: Payload, now: UnixSeconds) -> Result<Effect, PayloadError> {
    let kind = payload.kind;
    let row = changed_row(payload, "auth.users")?;
    let user_id = row_id(&row, "auth.users")?;
    Ok(match kind {
        Change::Insert => Effect::Nothing,
        Change::Delete => Effect::EndUser { user_id },
        Change::Update if is_banned(&row, now) || is_set(&row, "deleted_at") => {
            Effect::EndUser { user_id }
        }
        Change::Update => Effect::UpdateUser { user_id, row },
    })
}

fn decide_session(payload: Payload) -> Result<Effect, PayloadError> {
    let kind = payload.kind;
    let row = changed_row(payload, "auth.sessions")?;
    let session_id = row_id(&row, "auth.sessions")?;
    Ok(match kind {
        Change::Delete => Effect::EndAuthSession { session_id },
        Change::Insert | Change::Update => Effect::Nothing,
    })
}

fn is_set(row: &Map<String, Value>, column: &str) -> bool {
    !matches!(row.get(column), None | Some(Value::Null))
}

/// Whether `banned_until` is in the future. A value that cannot be read
/// counts as a ban (Postgres' `infinity` is one): ending sessions of a user
/// who was not banned costs a sign-in, keeping those of a banned one does not.
fn is_banned(row: &Map<String, Value>, now: UnixSeconds) -> bool {
    match row.get("banned_until") {
        None | Some(Value::Null) => false,
        Some(Value::String(until)) if until == "-infinity" => false,
        Some(Value::String(until)) => read_time(until).is_none_or(|until| until > now),
        Some(_) => true,
    }
}

/// Postgres' output of a `timestamptz` once a space is made a `T`:
/// `to_jsonb`'s (`2026-01-02T00:00:00.123456+00:00`) and the text form's
/// (`2026-01-02 00:00:00+00`), with an offset in seconds for the dates
/// before a time zone's standard time (`+00:19:32` in Amsterdam in 1900).
const POSTGRES_TIME: &[BorrowedFormatItem<'static>] = format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]\
     [offset_hour sign:mandatory][optional [:[offset_minute]]][optional [:[offset_second]]]"
);

/// A Postgres `timestamptz` as JSON or text writes it, in Unix seconds; a
/// date before the year 1 (`... BC`) as the earliest time there is. Years
/// past 9999 are not read.
fn read_time(text: &str) -> Option<UnixSeconds> {
    if text.ends_with(" BC") {
        return Some(UnixSeconds::MIN);
    }
    let parsed = OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(&text.replacen(' ', "T", 1), POSTGRES_TIME))
        .ok()?;
    Some(parsed.unix_timestamp())
}

/// Columns of `auth.users` copied to the user JSON under the same name.
const SAME_NAME: [&str; 17] = [
    "id",
    "aud",
    "role",
    "email",
    "phone",
    "email_confirmed_at",
    "phone_confirmed_at",
    "confirmed_at",
    "invited_at",
    "confirmation_sent_at",
    "recovery_sent_at",
    "email_change_sent_at",
    "last_sign_in_at",
    "created_at",
    "updated_at",
    "banned_until",
    "is_anonymous",
];

/// Columns whose JSON name differs: (column, field).
const RENAMED: [(&str, &str); 4] = [
    ("raw_app_meta_data", "app_metadata"),
    ("raw_user_meta_data", "user_metadata"),
    ("email_change", "new_email"),
    ("phone_change", "new_phone"),
];

/// `cached` (the user the session holds) with the fields a `auth.users`
/// row gives replaced from `row`, shaped like Auth's user JSON: the
/// metadata columns under their JSON names, a null `email` or `phone` as
/// `""`, and no `new_email`, `new_phone` or `banned_until` when there is
/// none (as Auth writes them). Fields the row does not have (`identities`,
/// `factors`) are kept; columns that are not part of the user JSON
/// (password hash, tokens) are never copied.
pub fn user_from_row(cached: &Value, row: &Map<String, Value>) -> Value {
    let mut user = match cached {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    let mut put = |field: &str, value: &Value| {
        let value = match (field, value) {
            ("email" | "phone", Value::Null) => Value::from(""),
            ("new_email" | "new_phone", Value::String(s)) if s.is_empty() => {
                user.remove(field);
                return;
            }
            ("new_email" | "new_phone" | "banned_until", Value::Null) => {
                user.remove(field);
                return;
            }
            _ => value.clone(),
        };
        user.insert(field.to_string(), value);
    };
    for column in SAME_NAME {
        if let Some(value) = row.get(column) {
            put(column, value);
        }
    }
    for (column, field) in RENAMED {
        if let Some(value) = row.get(column) {
            put(field, value);
        }
    }
    Value::Object(user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: UnixSeconds = 1_767_225_600; // 2026-01-01T00:00:00Z

    fn users(kind: &str, record: Value, old_record: Value) -> Result<Effect, PayloadError> {
        let body = json!({"type": kind, "table": "users", "schema": "auth",
                          "record": record, "old_record": old_record});
        decide(parse(body.to_string().as_bytes())?, NOW)
    }

    fn row(extra: Value) -> Value {
        let mut row = json!({"id": "u1", "email": "a@example.com", "banned_until": null,
                             "raw_app_meta_data": {"provider": "email", "plan": "pro"}});
        row.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        row
    }

    #[test]
    fn a_user_update_updates_and_a_ban_or_deletion_ends() {
        match users("UPDATE", row(json!({})), row(json!({}))).unwrap() {
            Effect::UpdateUser { user_id, row } => {
                assert_eq!(user_id, "u1");
                assert_eq!(row["raw_app_meta_data"]["plan"], "pro");
            }
            other => panic!("{other:?}"),
        }
        let end = Ok(Effect::EndUser {
            user_id: "u1".into(),
        });
        let banned = row(json!({"banned_until": "2026-01-02T00:00:00.123456+00:00"}));
        assert_eq!(users("UPDATE", banned, Value::Null), end);
        let forever = row(json!({"banned_until": "infinity"}));
        assert_eq!(users("UPDATE", forever, Value::Null), end);
        let spaced = row(json!({"banned_until": "2026-01-02 00:00:00+00"}));
        assert_eq!(users("UPDATE", spaced, Value::Null), end);
        let soft_deleted = row(json!({"deleted_at": "2025-12-31T23:00:00+00:00"}));
        assert_eq!(users("UPDATE", soft_deleted, Value::Null), end);
        assert_eq!(users("DELETE", Value::Null, row(json!({}))), end);
    }

    #[test]
    fn bans_are_read_in_every_form_postgres_writes_a_timestamptz() {
        let ban = |until: &str| users("UPDATE", row(json!({"banned_until": until})), Value::Null);
        let end = Ok(Effect::EndUser {
            user_id: "u1".into(),
        });
        // Over: to_jsonb's form, the text form (hour-only offset), an
        // offset in seconds (old dates), a date before the year 1.
        for over in [
            "2025-12-31T23:59:59.999999+00:00",
            "2025-12-31 23:59:59+00",
            "2026-01-01 05:29:59.5+05:30",
            "1900-01-01T00:19:32+00:19:32",
            "1900-01-01 00:19:32+00:19:32",
            "0044-03-15T00:19:32+00:19:32 BC",
        ] {
            assert!(
                matches!(ban(over), Ok(Effect::UpdateUser { .. })),
                "{over}: {:?}",
                ban(over)
            );
        }
        // Still on: the same forms in the future, infinity, a year past 9999.
        for on in [
            "2026-01-01T00:00:01+00:00",
            "2026-01-01 00:00:01+00",
            "2026-01-01 05:30:01+05:30",
            "2026-01-01T00:19:33+00:19:32",
            "infinity",
            "20000-01-01T00:00:00+01:00",
        ] {
            assert_eq!(ban(on), end, "{on}");
        }
    }

    #[test]
    fn a_ban_that_ended_is_an_update_and_a_new_user_is_nothing() {
        let lifted = row(json!({"banned_until": "2025-12-31T23:59:59+00:00"}));
        assert!(matches!(
            users("UPDATE", lifted, Value::Null),
            Ok(Effect::UpdateUser { .. })
        ));
        assert_eq!(
            users("INSERT", row(json!({})), Value::Null),
            Ok(Effect::Nothing)
        );
    }

    #[test]
    fn an_auth_session_deleted_ends_its_proxy_session() {
        let sessions = |kind: &str, record: Value, old: Value| {
            let body = json!({"type": kind, "table": "sessions", "schema": "auth",
                              "record": record, "old_record": old});
            decide(parse(body.to_string().as_bytes()).unwrap(), NOW)
        };
        let s = json!({"id": "as-1", "user_id": "u1"});
        assert_eq!(
            sessions("DELETE", Value::Null, s.clone()),
            Ok(Effect::EndAuthSession {
                session_id: "as-1".into()
            })
        );
        assert_eq!(
            sessions("INSERT", s.clone(), Value::Null),
            Ok(Effect::Nothing)
        );
        assert_eq!(sessions("UPDATE", s.clone(), s), Ok(Effect::Nothing));
    }

    #[test]
    fn bad_payloads_are_named() {
        assert!(matches!(
            parse(b"{not json"),
            Err(PayloadError::Malformed(_))
        ));
        assert!(matches!(
            parse(br#"{"type":"TRUNCATE","table":"users","schema":"auth"}"#),
            Err(PayloadError::Malformed(_))
        ));
        assert_eq!(
            users("UPDATE", json!({"email": "x"}), Value::Null),
            Err(PayloadError::NoId("auth.users"))
        );
        assert!(matches!(
            users("DELETE", Value::Null, Value::Null),
            Err(PayloadError::Malformed(_))
        ));
        let other = json!({"type": "UPDATE", "table": "profiles", "schema": "public",
                           "record": {"id": "p"}, "old_record": null});
        assert_eq!(
            decide(parse(other.to_string().as_bytes()).unwrap(), NOW),
            Err(PayloadError::UnknownTable("public.profiles".into()))
        );
    }

    #[test]
    fn a_row_becomes_auth_user_json_over_the_cached_user() {
        let cached = json!({"id": "u1", "email": "old@example.com", "phone": "",
                            "identities": [{"provider": "email"}], "new_email": "x@example.com",
                            "app_metadata": {"provider": "email"}});
        let row = json!({"id": "u1", "email": "new@example.com", "phone": null,
                         "encrypted_password": "$2a$10$hash", "confirmation_token": "secret",
                         "raw_app_meta_data": {"provider": "email", "plan": "pro"},
                         "raw_user_meta_data": {"name": "Ann"}, "email_change": "",
                         "role": "authenticated", "is_anonymous": false, "banned_until": null,
                         "updated_at": "2026-01-01T00:00:00+00:00"});
        let user = user_from_row(&cached, row.as_object().unwrap());
        assert_eq!(
            user,
            json!({"id": "u1", "email": "new@example.com", "phone": "",
                   "identities": [{"provider": "email"}],
                   "app_metadata": {"provider": "email", "plan": "pro"},
                   "user_metadata": {"name": "Ann"}, "role": "authenticated",
                   "is_anonymous": false, "updated_at": "2026-01-01T00:00:00+00:00"})
        );
        let text = user.to_string();
        assert!(!text.contains("hash") && !text.contains("secret"), "{text}");
    }
}
