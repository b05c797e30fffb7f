//! The proxy keeping `public.sessions` in step (`PROXY_SESSIONS_TABLE=on`)
//! through the stand-in's PostgREST, whose recording shows what reached it.

use super::{add_user, as_role, database};
use crate::support::{Browser, Env, eventually};
use http::Method;
use sbp_stub::{CannedAnswer, Recorded};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

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

async fn session_id(browser: &mut Browser) -> String {
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
