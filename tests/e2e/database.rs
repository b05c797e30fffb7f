//! The database side: `schema.sql` on a real PostgreSQL with a minimal
//! Supabase around it (row-level security of `public.sessions`, the hook
//! settings out of reach, the triggers' signed payloads checked by the
//! proxy's own verifier), and the proxy keeping `public.sessions` in step
//! through the stand-in's PostgREST (`PROXY_SESSIONS_TABLE=on`).

use crate::support::postgres::{Postgres, SUPABASE_BASE};
use crate::support::{Env, eventually};
use http::Method;
use sbp_core::hooks::{HookSecrets, SignatureError, verify};
use sbp_stub::{CannedAnswer, Recorded};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SCHEMA: &str = include_str!("../../schema.sql");
const HOOK_URL: &str = "https://app.example.com/supabase/edge/v1/hooks/auth";
const SECRET: &str = "v1,whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ALICE: &str = "a11ce000-0000-4000-8000-000000000001";
const BOB: &str = "b0b00000-0000-4000-8000-000000000002";

/// A database with Supabase's parts and `schema.sql`, loaded twice.
fn database() -> Postgres {
    let db = Postgres::start();
    db.sql(SUPABASE_BASE);
    db.sql(SCHEMA);
    db.psql(SCHEMA).expect("schema.sql runs a second time");
    db
}

fn add_user(db: &Postgres, id: &str, email: &str) {
    db.sql(&format!(
        "insert into auth.users (id, email, encrypted_password, confirmation_token, \
         recovery_token, raw_app_meta_data, created_at, updated_at) \
         values ('{id}', '{email}', '$2a$10$hash', 'confirm-secret', 'recover-secret', \
         '{{\"provider\":\"email\"}}', now(), now())"
    ));
}

fn add_mirrored_session(db: &Postgres, id: &str, user: &str) {
    db.sql(&format!(
        "set role service_role; insert into public.sessions \
         (id, user_id, created_at, last_seen_at, expires_at, ip, country, user_agent) \
         values ('{id}', '{user}', now(), now(), now() + interval '1 day', '203.0.113.7', 'NL', 'Firefox')"
    ));
}

/// Runs `sql` in a transaction as `role`, with `sub` in `request.jwt.claims`
/// as PostgREST sets it.
fn as_role(db: &Postgres, role: &str, sub: Option<&str>, sql: &str) -> Result<String, String> {
    let claims = match sub {
        Some(sub) => json!({"sub": sub, "role": role}),
        None => json!({"role": role}),
    };
    db.psql(&format!(
        "begin; set local role {role}; set local request.jwt.claims = '{claims}'; {sql}; commit;"
    ))
}

/// One recorded `net.http_post` call.
struct Call {
    url: String,
    headers: Value,
    body: String,
}

impl Call {
    fn payload(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    fn verify_with(&self, secrets: &HookSecrets, body: &str) -> Result<(), SignatureError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let header = |name: &str| self.headers[name].as_str();
        verify(
            secrets,
            header("webhook-id"),
            header("webhook-timestamp"),
            header("webhook-signature"),
            body.as_bytes(),
            now,
        )
    }
}

/// The calls recorded since the last look, oldest first.
fn take_calls(db: &Postgres) -> Vec<Call> {
    let rows = db.sql(
        "select coalesce(json_agg(json_build_object('url', url, 'headers', headers, \
         'body', body_text) order by id), '[]') from net.calls; delete from net.calls;",
    );
    let rows: Vec<Value> = serde_json::from_str(&rows).expect("JSON rows");
    rows.into_iter()
        .map(|row| Call {
            url: row["url"].as_str().unwrap().to_string(),
            headers: row["headers"].clone(),
            body: row["body"].as_str().unwrap().to_string(),
        })
        .collect()
}

fn configure_hook_in_table(db: &Postgres, secret: &str) {
    db.sql(&format!(
        "insert into cookie_proxy.settings (name, value) values \
         ('hook_url', '{HOOK_URL}'), ('hook_secret', '{secret}') \
         on conflict (name) do update set value = excluded.value"
    ));
}

#[test]
fn a_user_reads_only_their_own_sessions_anon_reads_none_and_neither_writes() {
    let db = database();
    add_user(&db, ALICE, "alice@example.com");
    add_user(&db, BOB, "bob@example.com");
    let alice_session = "5e550000-0000-4000-8000-00000000000a";
    let bob_session = "5e550000-0000-4000-8000-00000000000b";
    add_mirrored_session(&db, alice_session, ALICE);
    add_mirrored_session(&db, bob_session, BOB);

    let read = "select coalesce(string_agg(id::text, ',' order by id), '') from public.sessions";
    assert_eq!(
        as_role(&db, "authenticated", Some(ALICE), read).unwrap(),
        alice_session
    );
    assert_eq!(
        as_role(&db, "authenticated", Some(BOB), read).unwrap(),
        bob_session
    );
    assert_eq!(as_role(&db, "authenticated", None, read).unwrap(), "");
    let anon = as_role(&db, "anon", None, read).unwrap_err();
    assert!(anon.contains("permission denied"), "{anon}");

    let writes = [
        format!(
            "insert into public.sessions (id, user_id, created_at, last_seen_at, expires_at) \
             values (gen_random_uuid(), '{ALICE}', now(), now(), now())"
        ),
        format!("update public.sessions set country = 'XX' where user_id = '{ALICE}'"),
        format!("delete from public.sessions where user_id = '{ALICE}'"),
    ];
    for write in &writes {
        for role in ["authenticated", "anon"] {
            let refused = as_role(&db, role, Some(ALICE), write).unwrap_err();
            assert!(refused.contains("permission denied"), "{role}: {refused}");
        }
    }
    let count = "select count(*) from public.sessions";
    assert_eq!(db.sql(count), "2", "nothing was written");

    // The mirror follows Auth: a deleted user's rows go with them.
    db.sql(&format!("delete from auth.users where id = '{ALICE}'"));
    assert_eq!(
        db.sql("select string_agg(id::text, ',') from public.sessions"),
        bob_session
    );
}

#[test]
fn the_hook_settings_and_functions_are_out_of_reach_of_anon_and_authenticated() {
    let db = database();
    configure_hook_in_table(&db, SECRET);
    let attempts = [
        "select value from cookie_proxy.settings",
        "update cookie_proxy.settings set value = 'x'",
        "select cookie_proxy.setting('hook_secret')",
        "select cookie_proxy.send_hook('{}'::jsonb)",
    ];
    for role in ["anon", "authenticated"] {
        for attempt in attempts {
            let refused = as_role(&db, role, Some(ALICE), attempt).unwrap_err();
            assert!(
                refused.contains("permission denied"),
                "{role}: {attempt}: {refused}"
            );
        }
    }
    // The service role (the proxy's, the dashboard's) may manage them.
    assert_eq!(
        as_role(
            &db,
            "service_role",
            None,
            "select count(*) from cookie_proxy.settings"
        )
        .unwrap(),
        "2"
    );
    assert!(take_calls(&db).is_empty(), "no call was made");
}

#[test]
fn user_changes_and_auth_session_deletions_reach_the_hook_signed_and_without_secrets() {
    let db = database();
    configure_hook_in_table(&db, SECRET);
    let secrets = HookSecrets::parse(SECRET).unwrap();

    add_user(&db, ALICE, "alice@example.com");
    let [created] = take_calls(&db)
        .try_into()
        .ok()
        .expect("one call per insert");
    assert_eq!(created.url, HOOK_URL);
    assert_eq!(created.headers["Content-Type"], "application/json");
    assert_eq!(created.verify_with(&secrets, &created.body), Ok(()));
    let payload = created.payload();
    assert_eq!(payload["type"], "INSERT");
    assert_eq!(payload["schema"], "auth");
    assert_eq!(payload["table"], "users");
    assert_eq!(payload["record"]["id"], ALICE);
    assert_eq!(payload["old_record"], Value::Null);

    // A sign-in writes last_sign_in_at: nothing the proxy needs.
    db.sql(&format!(
        "update auth.users set last_sign_in_at = now(), updated_at = now() where id = '{ALICE}'"
    ));
    assert!(take_calls(&db).is_empty(), "a sign-in time is not sent");

    db.sql(&format!(
        "update auth.users set banned_until = '2999-01-01', \
         raw_app_meta_data = '{{\"provider\":\"email\",\"plan\":\"pro\"}}' where id = '{ALICE}'"
    ));
    let [banned] = take_calls(&db)
        .try_into()
        .ok()
        .expect("one call per update");
    assert_eq!(banned.verify_with(&secrets, &banned.body), Ok(()));
    let payload = banned.payload();
    assert_eq!(payload["type"], "UPDATE");
    assert!(
        payload["record"]["banned_until"]
            .as_str()
            .unwrap()
            .starts_with("2999-01-01")
    );
    assert_eq!(payload["record"]["raw_app_meta_data"]["plan"], "pro");
    assert_eq!(payload["old_record"]["banned_until"], Value::Null);
    for secret in ["encrypted_password", "confirmation_token", "recovery_token"] {
        assert!(
            payload["record"].get(secret).is_none() && payload["old_record"].get(secret).is_none(),
            "{secret} is not sent: {payload}"
        );
    }
    assert!(!banned.body.contains("-secret") && !banned.body.contains("$2a$"));

    // A changed body, id or timestamp is refused by the proxy's verifier.
    let tampered = banned.body.replace("2999", "2000");
    assert_eq!(
        banned.verify_with(&secrets, &tampered),
        Err(SignatureError::NoMatch)
    );
    let other = HookSecrets::parse("v1,whsec_b2xkLXNlY3JldC1vbGQtc2VjcmV0").unwrap();
    assert_eq!(
        banned.verify_with(&other, &banned.body),
        Err(SignatureError::NoMatch)
    );

    let auth_session = "a0000000-0000-4000-8000-0000000000a1";
    db.sql(&format!(
        "insert into auth.sessions (id, user_id, created_at, refresh_token_hmac_key) \
         values ('{auth_session}', '{ALICE}', now(), 'hmac-key-secret')"
    ));
    assert!(take_calls(&db).is_empty(), "a new Auth session is not sent");
    db.sql(&format!(
        "delete from auth.sessions where id = '{auth_session}'"
    ));
    let [ended] = take_calls(&db)
        .try_into()
        .ok()
        .expect("one call per delete");
    assert_eq!(ended.verify_with(&secrets, &ended.body), Ok(()));
    let payload = ended.payload();
    assert_eq!(payload["type"], "DELETE");
    assert_eq!(payload["table"], "sessions");
    assert_eq!(payload["record"], Value::Null);
    assert_eq!(payload["old_record"]["id"], auth_session);
    assert_eq!(payload["old_record"]["user_id"], ALICE);
    assert!(
        payload["old_record"]
            .get("refresh_token_hmac_key")
            .is_none()
    );

    db.sql(&format!(
        "insert into auth.sessions (id, user_id) values ('{auth_session}', '{ALICE}'); \
         delete from net.calls; delete from auth.users where id = '{ALICE}'"
    ));
    let calls = take_calls(&db);
    let kinds: Vec<(String, String)> = calls
        .iter()
        .map(|c| {
            let p = c.payload();
            (
                p["type"].as_str().unwrap().into(),
                p["table"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("DELETE".into(), "users".into())),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("DELETE".into(), "sessions".into())),
        "{kinds:?}"
    );
    for call in &calls {
        assert_eq!(call.verify_with(&secrets, &call.body), Ok(()));
    }
}

#[test]
fn vault_secrets_are_preferred_to_the_settings_table() {
    let db = database();
    configure_hook_in_table(&db, "v1,whsec_b2xkLXNlY3JldC1vbGQtc2VjcmV0");
    // Vault's view, as supabase_vault presents decrypted secrets.
    let vault_url = "https://vault.example.com/edge/v1/hooks/auth";
    db.sql(&format!(
        "create schema vault; \
         create table vault.secrets (name text primary key, secret text not null); \
         create view vault.decrypted_secrets as select name, secret as decrypted_secret from vault.secrets; \
         insert into vault.secrets values ('cookie_proxy_hook_url', '{vault_url}'), \
         ('cookie_proxy_hook_secret', '{SECRET} v1,whsec_b2xkLXNlY3JldC1vbGQtc2VjcmV0');"
    ));
    add_user(&db, ALICE, "alice@example.com");
    let [call] = take_calls(&db).try_into().ok().expect("one call");
    assert_eq!(call.url, vault_url);
    let vault_secret = HookSecrets::parse(SECRET).unwrap();
    assert_eq!(call.verify_with(&vault_secret, &call.body), Ok(()));
}

#[test]
fn without_a_usable_hook_setting_nothing_is_sent_and_auth_still_writes() {
    let db = database();
    add_user(&db, ALICE, "alice@example.com");
    assert!(take_calls(&db).is_empty(), "no hook configured");
    configure_hook_in_table(&db, "hunter2");
    add_user(&db, BOB, "bob@example.com");
    assert!(take_calls(&db).is_empty(), "a bad secret sends nothing");
    assert_eq!(db.sql("select count(*) from auth.users"), "2");
}

// The proxy's side: PROXY_SESSIONS_TABLE=on.

async fn mirrored_env() -> Env {
    let stub_env = Env::start().await;
    let service_key = stub_env.stub.service_role_key();
    stub_env
        .restart_with(&[
            ("PROXY_SESSIONS_TABLE", "on"),
            ("SUPABASE_SERVICE_ROLE_KEY", &service_key),
            ("PROXY_UPSTREAM_TIMEOUT", "2s"),
        ])
        .await
}

fn table_requests(env: &Env, method: &str) -> Vec<Recorded> {
    env.stub
        .recorded()
        .into_iter()
        .filter(|r| r.method == method && r.path == "/rest/v1/sessions")
        .collect()
}

/// Whether an upsert of the session `id` reached the stand-in.
fn upserted(env: &Env, id: &str) -> Option<Recorded> {
    table_requests(env, "POST").into_iter().find(|r| {
        serde_json::from_slice::<Value>(&r.body)
            .ok()
            .and_then(|rows| rows.as_array().cloned())
            .is_some_and(|rows| rows.iter().any(|row| row["id"] == id))
    })
}

fn deleted(env: &Env, id: &str) -> bool {
    table_requests(env, "DELETE").iter().any(|r| {
        r.query.as_deref().is_some_and(|q| {
            q == format!("id=eq.{id}") || (q.starts_with("id=in.(") && q.contains(id))
        })
    })
}

async fn session_id(browser: &mut crate::support::Browser) -> String {
    let me = browser.get("/edge/v1/session").await.json();
    me["id"].as_str().expect("a session").to_string()
}

#[tokio::test]
async fn sign_in_upserts_the_row_as_service_role_and_sign_out_deletes_it() {
    let env = mirrored_env().await;
    let (mut browser, user_id) = env.signed_in("mirror@example.com").await;
    let id = session_id(&mut browser).await;
    eventually("the row is upserted", || upserted(&env, &id).is_some()).await;
    let upsert = upserted(&env, &id).unwrap();
    let service_key = env.stub.service_role_key();
    let header = |name: &str| upsert.headers.get(name).and_then(|v| v.to_str().ok());
    assert_eq!(header("apikey"), Some(service_key.as_str()));
    assert_eq!(
        header("authorization"),
        Some(format!("Bearer {service_key}").as_str())
    );
    assert!(
        header("prefer")
            .unwrap()
            .contains("resolution=merge-duplicates")
    );
    let rows: Value = serde_json::from_slice(&upsert.body).unwrap();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap();
    assert_eq!(row["user_id"], user_id);
    assert_eq!(row["ip"], "127.0.0.1");
    let text = row.to_string();
    for token in env.stub.issued_tokens() {
        assert!(!text.contains(&token), "no token in the row");
    }

    // The row fits schema.sql's table as PostgREST would insert it.
    let db = database();
    add_user(&db, &user_id, "mirror@example.com");
    let body = String::from_utf8(upsert.body.to_vec())
        .unwrap()
        .replace('\'', "''");
    db.sql(&format!(
        "set role service_role; insert into public.sessions \
         select * from json_populate_recordset(null::public.sessions, '{body}')"
    ));
    let read = "select string_agg(id::text, ',') from public.sessions";
    assert_eq!(
        as_role(&db, "authenticated", Some(&user_id), read).unwrap(),
        id
    );

    // Rows past their expiry are deleted at start and then once a minute.
    eventually("the expired rows are deleted", || {
        table_requests(&env, "DELETE").iter().any(|r| {
            r.query
                .as_deref()
                .is_some_and(|q| q.starts_with("expires_at=lt.20"))
        })
    })
    .await;

    let out = browser
        .post_json("/auth/v1/logout?scope=local", json!({}))
        .await;
    assert_eq!(out.status, 204);
    eventually("the row is deleted on sign-out", || deleted(&env, &id)).await;
}

#[tokio::test]
async fn revoking_a_session_deletes_its_row() {
    let env = mirrored_env().await;
    let (mut laptop, _) = env.signed_in("revoke@example.com").await;
    let mut phone = env.browser();
    assert_eq!(
        phone.sign_in("revoke@example.com", "pw123456").await.status,
        200
    );
    let phone_id = session_id(&mut phone).await;
    eventually("the phone's row is upserted", || {
        upserted(&env, &phone_id).is_some()
    })
    .await;
    let revoked = laptop
        .send(
            Method::DELETE,
            &format!("/edge/v1/sessions/{phone_id}"),
            &[],
            "",
        )
        .await;
    assert_eq!(revoked.status, 200);
    eventually("the revoked session's row is deleted", || {
        deleted(&env, &phone_id)
    })
    .await;
    let laptop_id = session_id(&mut laptop).await;
    assert!(!deleted(&env, &laptop_id), "the other session's row stays");
}

#[tokio::test]
async fn a_postgrest_outage_neither_fails_nor_delays_sign_in_and_the_row_arrives_after() {
    let env = mirrored_env().await;
    let faults = env.stub.faults();
    // PostgREST hangs, then answers with the gateway's error page.
    faults.rest_delay_ms.store(20_000, Ordering::SeqCst);
    faults.set_rest_answer(Some(CannedAnswer::html_page(503)));

    let started = Instant::now();
    let (mut browser, _) = env.signed_in("outage@example.com").await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the sign-in did not wait for PostgREST: {:?}",
        started.elapsed()
    );
    let id = session_id(&mut browser).await;
    eventually("a write was attempted during the outage", || {
        !table_requests(&env, "POST").is_empty()
    })
    .await;
    assert_eq!(browser.get("/edge/v1/session").await.status, 200);

    faults.rest_delay_ms.store(0, Ordering::SeqCst);
    faults.set_rest_answer(None);
    env.stub.clear_recorded();
    eventually("the row arrives after recovery", || {
        upserted(&env, &id).is_some()
    })
    .await;
}
