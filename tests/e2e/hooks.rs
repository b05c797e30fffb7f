//! The Auth hook (`POST /edge/v1/hooks/auth`) on two proxies sharing one
//! Redis: only signed, timely, first-seen calls change anything; a user
//! changed anywhere shows on every instance within a second and in the
//! next upstream token; a banned or deleted user, or a deleted Auth
//! session, ends the sessions and their sockets on the other instance. And
//! user changes made through the proxy (`GET`/`PUT /auth/v1/user`) reach
//! the cached user.

use crate::support;

use http::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::hooks::{
    Call, OLD_SECRET, SECRET, UNKNOWN_SECRET, configured_secrets, new_id, payload, unix_now,
    user_row,
};
use support::websocket::{Socket, closed_as_ended as closed_as_ended_within, session_socket};
use support::{Browser, Env, RedisServer, Setup, jwt_claims};

/// The stand-in's legacy JWT secret, for mint mode.
const JWT_SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";

/// How soon every instance must reflect a hook call.
const WITHIN: Duration = Duration::from_secs(1);

async fn cluster(redis: &RedisServer) -> (Env, sb_cookie_proxy::RunningProxy) {
    let env = Env::with(Setup {
        settings: vec![
            ("PROXY_SESSION_STORE", redis.url()),
            ("PROXY_HOOK_SECRET", configured_secrets()),
        ],
        ..Setup::default()
    })
    .await;
    let second = support::start_proxy(&env.settings).await;
    (env, second)
}

fn base_of(proxy: &sb_cookie_proxy::RunningProxy) -> String {
    format!("http://{}", proxy.addr)
}

/// A browser talking to `proxy` with the same cookie as `other`.
fn on(env: &Env, proxy: &sb_cookie_proxy::RunningProxy, other: &Browser) -> Browser {
    let mut browser = Browser::new(&base_of(proxy), &env.stub.anon_key(), "sb-session");
    browser.cookie = other.cookie.clone();
    browser
}

/// The user as the proxy's `/edge/v1/session` shows it (`Null` when signed out).
async fn session_user(browser: &mut Browser) -> Value {
    let reply = browser.get("/edge/v1/session").await;
    match reply.status {
        200 => reply.json()["user"].clone(),
        401 => Value::Null,
        other => panic!("/edge/v1/session answered {other}: {}", reply.text()),
    }
}

/// A Realtime socket of `browser`'s session opened on `proxy`, with a channel joined.
async fn socket_on(proxy: &sb_cookie_proxy::RunningProxy, browser: &Browser) -> Socket {
    let cookie = browser.cookie.as_deref().expect("signed in");
    session_socket(proxy.addr, cookie, "realtime:hooked").await
}

/// Waits for `socket` to be closed as its session ended, at most [`WITHIN`]
/// after `since`.
async fn closed_as_ended(socket: &mut Socket, since: Instant) {
    closed_as_ended_within(socket, since, WITHIN).await;
}

/// Waits at most [`WITHIN`] for `browser`'s session to satisfy `check`.
async fn within_a_second(what: &str, browser: &mut Browser, check: impl Fn(&Value) -> bool) {
    let started = Instant::now();
    loop {
        let user = session_user(browser).await;
        if check(&user) {
            return;
        }
        assert!(started.elapsed() < WITHIN, "{what}: still {user}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An admin changes the user's `app_metadata` in Auth; returns the user
/// as Auth now shows it.
async fn set_app_metadata(env: &Env, user_id: &str, metadata: Value) -> Value {
    let mut admin = Browser::new(&env.stub.url(), &env.stub.anon_key(), "none");
    let reply = admin
        .post_json(
            "/__stub/app_metadata",
            json!({"user_id": user_id, "app_metadata": metadata}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

fn banned(user: &Value) -> Value {
    let mut row = user_row(user);
    row["banned_until"] = json!("2999-01-01T00:00:00+00:00");
    payload("UPDATE", "users", row, user_row(user))
}

#[tokio::test]
async fn only_signed_timely_first_seen_calls_change_anything() {
    let redis = RedisServer::start();
    let (env, b) = cluster(&redis).await;
    let (mut on_a, _) = env.signed_in("hook-refusals@example.com").await;
    let mut on_b = on(&env, &b, &on_a);
    let user = session_user(&mut on_a).await;
    let ban = banned(&user).to_string();
    let now = unix_now();
    let signed = |secret, at| Call::signed_at(secret, &new_id(), at, &ban);
    let mut refused = vec![
        ("an unknown secret", signed(UNKNOWN_SECRET, now)),
        ("a timestamp 6 minutes old", signed(SECRET, now - 360)),
        ("a timestamp 6 minutes ahead", signed(SECRET, now + 360)),
    ];
    let mut tampered = signed(SECRET, now);
    tampered.body = ban.replace("2999", "2998");
    refused.push(("a body changed after signing", tampered));
    for header in 0..3 {
        let mut missing = signed(SECRET, now);
        *[
            &mut missing.id,
            &mut missing.timestamp,
            &mut missing.signature,
        ][header] = None;
        refused.push(("a missing header", missing));
    }
    let mut unsigned = signed(SECRET, now);
    unsigned.signature = Some("v1,".into());
    refused.push(("an empty signature", unsigned));
    // A replayed id, to the same instance and to the other: the first call
    // is accepted (a harmless new Auth session), the second carries the ban.
    let first_seen = new_id();
    let harmless = payload(
        "INSERT",
        "sessions",
        json!({"id": "as-x", "user_id": user["id"]}),
        Value::Null,
    );
    let harmless = Call::signed_at(SECRET, &first_seen, now, &harmless.to_string());
    assert_eq!(harmless.send(&env.base()).await.status, 200);
    refused.push((
        "an id seen by this instance",
        Call::signed_at(SECRET, &first_seen, now, &ban),
    ));
    let replay_on_b = Call::signed_at(SECRET, &first_seen, now, &ban);

    for (what, call) in &refused {
        let reply = call.send(&env.base()).await;
        assert_eq!(reply.status, 401, "{what}: {}", reply.text());
        assert_eq!(reply.json()["error"], "hook_refused", "{what}");
    }
    let reply = replay_on_b.send(&base_of(&b)).await;
    assert_eq!(
        reply.status,
        401,
        "an id seen by the other instance: {}",
        reply.text()
    );

    // Nothing changed: the session lives on both instances.
    assert_eq!(session_user(&mut on_a).await, user);
    assert_eq!(session_user(&mut on_b).await, user);

    // The same ban, signed with the secret being rotated out, is applied.
    let accepted = Call::signed(OLD_SECRET, &banned(&user))
        .send(&base_of(&b))
        .await;
    assert_eq!(accepted.status, 200, "{}", accepted.text());
    within_a_second("the ban reaches A", &mut on_a, Value::is_null).await;
}

#[tokio::test]
async fn a_user_changed_in_auth_shows_everywhere_and_in_the_next_token() {
    let redis = RedisServer::start();
    let (env, b) = cluster(&redis).await;
    let (mut on_a, user_id) = env.signed_in("hook-update@example.com").await;
    let mut on_b = on(&env, &b, &on_a);
    let before = session_user(&mut on_b).await;
    assert_eq!(before["id"], user_id.as_str());
    assert_eq!(
        on_b.get("/rest/v1/echo").await.status,
        200,
        "B holds the session"
    );

    let changed = set_app_metadata(&env, &user_id, json!({"plan": "pro"})).await;
    let mut row = user_row(&changed);
    row["raw_user_meta_data"] = json!({"nickname": "hooked"});
    let call = Call::signed(SECRET, &payload("UPDATE", "users", row, user_row(&before)));
    let refreshes = env.stub.refresh_count();
    let reply = call.send(&env.base()).await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    let promoted = |u: &Value| u["app_metadata"]["plan"] == "pro";
    within_a_second("A shows the new user", &mut on_a, promoted).await;
    within_a_second("B shows the new user", &mut on_b, promoted).await;
    let user = session_user(&mut on_b).await;
    assert_eq!(user["user_metadata"]["nickname"], "hooked");
    assert_eq!(
        user["identities"], before["identities"],
        "fields the row lacks are kept"
    );
    assert!(user.get("encrypted_password").is_none() && user.get("raw_app_meta_data").is_none());

    // The next request gets a refreshed token that carries the new claims.
    env.stub.clear_recorded();
    assert_eq!(on_b.get("/rest/v1/echo").await.status, 200);
    assert_eq!(env.stub.refresh_count(), refreshes + 1, "one refresh");
    let sent = env
        .stub
        .recorded()
        .into_iter()
        .find(|r| r.path == "/rest/v1/echo")
        .expect("the request reached REST");
    let bearer = sent.headers["authorization"].to_str().unwrap();
    let claims = jwt_claims(bearer.strip_prefix("Bearer ").unwrap());
    assert_eq!(claims["app_metadata"]["plan"], "pro", "{claims}");
    // And only once: the token is fresh now on both instances.
    assert_eq!(on_a.get("/rest/v1/echo").await.status, 200);
    assert_eq!(env.stub.refresh_count(), refreshes + 1);
}

#[tokio::test]
async fn a_socket_on_another_instance_gets_a_token_with_the_changed_claims_within_a_second() {
    let redis = RedisServer::start();
    let (env, b) = cluster(&redis).await;
    let (mut on_a, user_id) = env.signed_in("hook-socket@example.com").await;
    let _socket = socket_on(&b, &on_a).await;
    let before = session_user(&mut on_a).await;
    let changed = set_app_metadata(&env, &user_id, json!({"plan": "team"})).await;
    let call = Call::signed(
        SECRET,
        &payload("UPDATE", "users", user_row(&changed), user_row(&before)),
    );
    let reply = call.send(&env.base()).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let sent = Instant::now();
    loop {
        let pushed = env
            .stub
            .realtime_frames()
            .iter()
            .filter_map(|f| f.json())
            .any(|m| {
                let token = m[4]["access_token"].as_str().unwrap_or_default();
                m[3] == "access_token"
                    && token.contains('.')
                    && jwt_claims(token)["app_metadata"]["plan"] == "team"
            });
        if pushed {
            break;
        }
        assert!(
            sent.elapsed() < WITHIN,
            "no access_token frame with the new claims reached Realtime"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_banned_user_s_sessions_and_sockets_end_on_every_instance() {
    let redis = RedisServer::start();
    let (env, b) = cluster(&redis).await;
    let (mut on_a, _) = env.signed_in("hook-ban@example.com").await;
    let mut socket = socket_on(&b, &on_a).await;
    let user = session_user(&mut on_a).await;
    let reply = Call::signed(SECRET, &banned(&user)).send(&env.base()).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let sent = Instant::now();
    closed_as_ended(&mut socket, sent).await;
    assert_eq!(session_user(&mut on_a).await, Value::Null);
    assert_eq!(session_user(&mut on(&env, &b, &on_a)).await, Value::Null);
}

#[tokio::test]
async fn a_ban_of_a_user_with_large_metadata_is_read_whole() {
    let env = Env::with(Setup {
        settings: vec![("PROXY_HOOK_SECRET", configured_secrets())],
        ..Setup::default()
    })
    .await;
    let (mut browser, _) = env.signed_in("hook-large@example.com").await;
    let mut user = session_user(&mut browser).await;
    // 100 KB of user metadata: the call carries it twice, beyond PROXY_MAX_AUTH_BODY.
    user["user_metadata"] = json!({"notes": "n".repeat(100_000)});
    let call = Call::signed(SECRET, &banned(&user));
    assert!(call.body.len() > 200_000);
    let reply = call.send(&env.base()).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(session_user(&mut browser).await, Value::Null);
}

#[tokio::test]
async fn a_deleted_user_s_socket_on_the_other_instance_closes() {
    let redis = RedisServer::start();
    let (env, b) = cluster(&redis).await;
    let (mut on_a, user_id) = env.signed_in("hook-delete@example.com").await;
    let mut socket = socket_on(&b, &on_a).await;
    let user = session_user(&mut on_a).await;
    env.stub.delete_user(&user_id);
    let call = Call::signed(
        SECRET,
        &payload("DELETE", "users", Value::Null, user_row(&user)),
    );
    let reply = call.send(&env.base()).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    closed_as_ended(&mut socket, Instant::now()).await;
    assert_eq!(session_user(&mut on(&env, &b, &on_a)).await, Value::Null);
}

#[tokio::test]
async fn an_auth_session_deleted_ends_only_the_proxy_session_holding_it() {
    let redis = RedisServer::start();
    let (env, b) = cluster(&redis).await;
    let (mut laptop, user_id) = env.signed_in("hook-signout@example.com").await;
    let mut phone = env.browser();
    assert_eq!(
        phone
            .sign_in("hook-signout@example.com", "pw123456")
            .await
            .status,
        200
    );
    let mut socket = socket_on(&b, &laptop).await;
    let auth_sessions = env.stub.auth_session_ids(&user_id);
    assert_eq!(auth_sessions.len(), 2);
    let laptop_row = json!({"id": auth_sessions[0], "user_id": user_id, "aal": "aal1"});
    let call = Call::signed(
        SECRET,
        &payload("DELETE", "sessions", Value::Null, laptop_row),
    );
    let reply = call.send(&base_of(&b)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    closed_as_ended(&mut socket, Instant::now()).await;
    within_a_second("the laptop is signed out", &mut laptop, Value::is_null).await;
    assert_eq!(session_user(&mut phone).await["id"], user_id.as_str());
}

#[tokio::test]
async fn bad_payloads_get_400_and_without_a_secret_the_hook_is_not_there() {
    let env = Env::with(Setup {
        settings: vec![("PROXY_HOOK_SECRET", SECRET.to_string())],
        ..Setup::default()
    })
    .await;
    for (body, says) in [
        ("{not json", "not a Database Webhook payload"),
        (
            r#"{"type":"UPDATE","table":"profiles","schema":"public","record":{"id":"p"},"old_record":null}"#,
            "public.profiles",
        ),
        (
            r#"{"type":"UPDATE","table":"users","schema":"auth","record":{"email":"x"},"old_record":null}"#,
            "no id",
        ),
    ] {
        let reply = Call::signed_at(SECRET, &new_id(), unix_now(), body)
            .send(&env.base())
            .await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.text());
        assert!(
            reply.json()["message"].as_str().unwrap().contains(says),
            "{}",
            reply.text()
        );
    }

    let off = Env::start().await;
    let call = Call::signed(
        SECRET,
        &payload("DELETE", "users", Value::Null, json!({"id": "u"})),
    );
    let hook = call.send(&off.base()).await;
    let unknown = Browser::new(&off.base(), "k", "sb-session")
        .send(Method::POST, "/edge/v1/no-such-thing", &[], "")
        .await;
    assert_eq!((hook.status, hook.json()), (unknown.status, unknown.json()));
    assert_eq!(hook.status, 404);
}

#[tokio::test]
async fn user_answers_through_the_proxy_replace_the_cached_user() {
    for mode in ["refresh", "mint"] {
        let env = Env::with(Setup {
            settings: vec![
                ("PROXY_TOKEN_MODE", mode.to_string()),
                ("SUPABASE_JWT_SECRET", JWT_SECRET.to_string()),
            ],
            ..Setup::default()
        })
        .await;
        let (mut browser, user_id) = env
            .signed_in(&format!("user-answers-{mode}@example.com"))
            .await;
        let put = browser
            .send(
                Method::PUT,
                "/auth/v1/user",
                &[("content-type", "application/json")],
                json!({"data": {"nickname": mode}}).to_string(),
            )
            .await;
        assert_eq!(put.status, 200, "{mode}: {}", put.text());
        assert_eq!(
            session_user(&mut browser).await["user_metadata"]["nickname"],
            mode
        );

        set_app_metadata(&env, &user_id, json!({"plan": "team"})).await;
        assert_eq!(browser.get("/auth/v1/user").await.status, 200);
        let user = session_user(&mut browser).await;
        assert_eq!(user["app_metadata"]["plan"], "team", "{mode}: {user}");
        assert_eq!(user["user_metadata"]["nickname"], mode, "{mode}");
        if mode == "mint" {
            // Minted tokens follow the user at once; Auth's own tokens (refresh
            // mode) keep their claims until Auth issues new ones, as in Supabase.
            let echo = browser.get("/rest/v1/echo").await;
            assert_eq!(
                echo.json()["claims"]["app_metadata"]["plan"],
                "team",
                "{}",
                echo.text()
            );
            assert_eq!(echo.json()["claims"]["user_metadata"]["nickname"], "mint");
        }
    }
}

#[tokio::test]
async fn in_mint_mode_a_user_change_is_minted_into_the_next_token() {
    let env = Env::with(Setup {
        settings: vec![
            ("PROXY_TOKEN_MODE", "mint".to_string()),
            ("SUPABASE_JWT_SECRET", JWT_SECRET.to_string()),
            ("PROXY_HOOK_SECRET", SECRET.to_string()),
        ],
        ..Setup::default()
    })
    .await;
    let (mut browser, user_id) = env.signed_in("hook-mint@example.com").await;
    let before = session_user(&mut browser).await;
    let echo = browser.get("/rest/v1/echo").await;
    assert!(echo.json()["claims"]["app_metadata"].get("plan").is_none());
    let changed = set_app_metadata(&env, &user_id, json!({"plan": "pro"})).await;
    let call = Call::signed(
        SECRET,
        &payload("UPDATE", "users", user_row(&changed), user_row(&before)),
    );
    assert_eq!(call.send(&env.base()).await.status, 200);
    let echo = browser.get("/rest/v1/echo").await;
    assert_eq!(
        echo.json()["claims"]["app_metadata"]["plan"],
        "pro",
        "{}",
        echo.text()
    );
    assert_eq!(
        env.stub.refresh_count(),
        0,
        "minted, not refreshed with Auth"
    );
}
