//! Which token a channel runs with is the cookie's business: a page's
//! `user_token` (which Realtime prefers over `access_token`) never reaches
//! Supabase, whoever's token it carries; and with a new-style publishable
//! anon key, anonymous joins carry no token at all (as supabase-js sends
//! them) while the socket carries the key as `apikey`.

use super::support::{Env, settings_for, start_proxy};
use super::{ORIGIN, SOCKET, claims, open_as, stub_saw};
use crate::support::websocket::{Socket, open};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn signed(secret: &str, claims: &Value) -> String {
    encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// Sends a vsn 2.0.0 join and returns the reply's status.
async fn join_status(socket: &mut Socket, join_ref: &str, topic: &str, payload: Value) -> Value {
    let join = json!([join_ref, join_ref, topic, "phx_join", payload]);
    socket.send_text(&join.to_string()).await;
    socket.wait_for(topic, "phx_reply").await[4]["status"].clone()
}

#[tokio::test]
async fn a_pages_user_token_never_decides_who_joins() {
    let env = Env::start().await;
    let (alice, alice_id) = env.signed_in("rt-alice@example.com").await;
    let (_bob, bob_id) = env.signed_in("rt-bob@example.com").await;
    let bobs_token = env
        .stub
        .issued_tokens()
        .into_iter()
        .find(|t| t.split('.').count() == 3 && claims(t)["sub"] == bob_id.as_str())
        .expect("Bob's upstream token");
    let secret = env.stub.jwt_secret();
    let user = |exp: u64| json!({"sub": alice_id, "role": "authenticated", "exp": exp});
    let expired = signed(&secret, &user(now() - 60));
    let forged = signed(
        "a-secret-the-project-never-had-32-bytes",
        &user(now() + 600),
    );

    let mut socket = open_as(&env, &alice, SOCKET).await;
    for (i, token) in [&bobs_token, &expired, &forged].into_iter().enumerate() {
        let topic = format!("realtime:u{i}");
        let payload = json!({"config": {}, "user_token": token});
        let status = join_status(&mut socket, &format!("{i}"), &topic, payload).await;
        assert_eq!(status, "ok", "join {i} runs as the cookie's user");
    }
    // vsn 1.0.0 objects, and a page's `access_token` frame.
    let v1_path = "/realtime/v1/websocket?apikey=x&vsn=1.0.0";
    let mut v1 = open_as(&env, &alice, v1_path).await;
    let join = json!({"topic": "realtime:v1", "event": "phx_join", "payload": {"user_token": bobs_token}, "ref": "1", "join_ref": "1"});
    v1.send_text(&join.to_string()).await;
    assert_eq!(v1.next_json().await["payload"]["status"], "ok");
    socket
        .send_text(
            &json!(["0", "9", "realtime:u0", "access_token", {"access_token": "x", "user_token": bobs_token}])
                .to_string(),
        )
        .await;
    socket
        .send_text(r#"[null,"10","phoenix","heartbeat",{}]"#)
        .await;
    socket.wait_for("phoenix", "phx_reply").await;

    let mut seen = stub_saw(&env, "phx_join");
    seen.extend(stub_saw(&env, "access_token"));
    assert_eq!(seen.len(), 5, "{seen:?}");
    for frame in &seen {
        let payload = if frame.is_array() {
            &frame[4]
        } else {
            &frame["payload"]
        };
        assert!(payload.get("user_token").is_none(), "{frame}");
        let token = payload["access_token"].as_str().expect("a token");
        assert_eq!(claims(token)["sub"], alice_id.as_str(), "{frame}");
    }
}

#[tokio::test]
async fn anonymous_joins_with_a_publishable_key_carry_no_token() {
    const KEY: &str = "sb_publishable_e2e-realtime-key";
    let stub = sbp_stub::Stub::start(sbp_stub::StubConfig {
        publishable_key: Some(KEY.to_owned()),
        ..sbp_stub::StubConfig::default()
    })
    .await
    .unwrap();
    let settings = settings_for(&stub, vec![("SUPABASE_ANON_KEY", KEY.to_owned())]);
    let proxy = start_proxy(&settings).await;
    let mut socket = open(proxy.addr, SOCKET, &[("origin", ORIGIN)])
        .await
        .expect("upgrade accepted");
    let users_token = signed(
        &stub.jwt_secret(),
        &json!({"sub": "someone", "role": "authenticated", "exp": now() + 600}),
    );
    let payloads = [
        json!({"config": {"broadcast": {"self": false}}}),
        json!({"config": {}, "access_token": KEY}),
        json!({"config": {}, "user_token": users_token}),
    ];
    for (i, payload) in payloads.into_iter().enumerate() {
        let topic = format!("realtime:anon{i}");
        let status = join_status(&mut socket, &format!("{i}"), &topic, payload).await;
        assert_eq!(status, "ok", "anonymous join {i}");
    }
    assert_eq!(
        stub.realtime_broadcast("realtime:anon0", "hello", &json!({"n": 1})),
        1
    );
    let broadcast = socket.wait_for("realtime:anon0", "broadcast").await;
    assert_eq!(broadcast[4]["payload"], json!({"n": 1}));

    let upgrades: Vec<_> = stub
        .recorded()
        .into_iter()
        .filter(|r| r.path == "/realtime/v1/websocket")
        .collect();
    let query = upgrades[0].query.clone().unwrap_or_default();
    assert!(query.ends_with(&format!("apikey={KEY}")), "{query}");
    let joins: Vec<Value> = stub
        .realtime_frames()
        .iter()
        .filter_map(|f| f.json())
        .filter(|m| m[3] == "phx_join")
        .collect();
    assert_eq!(joins.len(), 3);
    for join in &joins {
        let payload = join[4].as_object().unwrap();
        assert!(
            !payload.contains_key("access_token") && !payload.contains_key("user_token"),
            "an anonymous join carries no token, as supabase-js sends it: {join}"
        );
    }
}
