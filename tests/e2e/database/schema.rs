//! `schema.sql` on a real PostgreSQL: who reads and writes
//! `public.sessions` and the hook settings, and what the triggers send.

use super::{ALICE, BOB, HOOK_URL, SECRET, add_mirrored_session, add_user, as_role, database};
use crate::support::postgres::Postgres;
use sbp_core::hooks::{HookSecrets, SignatureError, verify};
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};

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
fn the_signed_timestamp_is_when_the_row_changed_not_when_its_transaction_began() {
    let db = database();
    configure_hook_in_table(&db, SECRET);
    // Unix seconds as the trigger rounds them, at the transaction's start
    // and after a second in it.
    let times = db.sql(&format!(
        "begin; \
         create temporary table began as select extract(epoch from now())::bigint as at; \
         select pg_sleep(1); \
         insert into auth.users (id, email) values ('{ALICE}', 'alice@example.com'); \
         select at from began; \
         commit;"
    ));
    let began: i64 = times.lines().last().unwrap().parse().unwrap();
    let [call] = take_calls(&db).try_into().ok().expect("one call");
    let sent: i64 = call.headers["webhook-timestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(sent > began, "signed at {sent}, transaction began {began}");
    let secrets = HookSecrets::parse(SECRET).unwrap();
    assert_eq!(call.verify_with(&secrets, &call.body), Ok(()));
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
