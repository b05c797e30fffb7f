//! Realtime through the proxy: raw WebSocket clients against the stand-in
//! Realtime. The session's token is written into joins and `access_token`
//! frames (both serializers), binary and malformed frames pass untouched,
//! close frames and upstream failures reach the client, and foreign origins
//! never reach Supabase. How sockets live and die with their session is in
//! `realtime/session.rs`.

mod backpressure;
mod limits;
mod session;
use crate::support;
mod tokens;

use crate::support::websocket::{Socket, WAIT, open};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use support::{Browser, Env, Setup, eventually};
use tokio_tungstenite::tungstenite::Message;

const ORIGIN: &str = "http://127.0.0.1:8787";
const SOCKET: &str = "/realtime/v1/websocket?apikey=browser-key&vsn=2.0.0";

/// A socket opened by `browser` as a page of the app would.
async fn open_as(env: &Env, browser: &Browser, path: &str) -> Socket {
    let cookie = format!(
        "sb-session={}",
        browser.cookie.as_deref().expect("signed in")
    );
    open(
        env.proxy.addr,
        path,
        &[("cookie", cookie.as_str()), ("origin", ORIGIN)],
    )
    .await
    .expect("upgrade accepted")
}

/// The text frames the stub received, as JSON, with `event` (either serializer).
fn stub_saw(env: &Env, event: &str) -> Vec<Value> {
    env.stub
        .realtime_frames()
        .iter()
        .filter_map(|f| f.json())
        .filter(|m| m[3] == event || m["event"] == event)
        .collect()
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn upgrade_query(env: &Env) -> String {
    let upgrades: Vec<_> = env
        .stub
        .recorded()
        .into_iter()
        .filter(|r| r.path == "/realtime/v1/websocket")
        .collect();
    assert_eq!(upgrades.len(), 1, "one upgrade reached the stub");
    assert!(
        upgrades[0].headers.get("cookie").is_none(),
        "no cookie goes upstream"
    );
    upgrades[0].query.clone().unwrap_or_default()
}

#[tokio::test]
async fn joins_and_token_frames_carry_the_sessions_token() {
    let env = Env::start().await;
    let (browser, user_id) = env.signed_in("rt-join@example.com").await;
    let mut socket = open_as(&env, &browser, SOCKET).await;
    // After a reload the official client joins without any token.
    let binding =
        json!({"event": "INSERT", "schema": "public", "table": "todos", "filter": "id=eq.7"});
    let reply = socket
        .join(
            "6",
            "realtime:room",
            json!({"config": {"postgres_changes": [binding]}}),
        )
        .await;
    let id = reply[4]["response"]["postgres_changes"][0]["id"].clone();
    assert!(id.is_u64(), "the binding is echoed with an id: {reply}");

    let joins = stub_saw(&env, "phx_join");
    let token = joins[0][4]["access_token"]
        .as_str()
        .expect("a token was added");
    assert!(
        env.stub.issued_tokens().iter().any(|t| t == token),
        "an Auth token"
    );
    assert_eq!(claims(token)["sub"], user_id.as_str());
    let query = upgrade_query(&env);
    assert!(
        query.contains(&format!("apikey={}", env.stub.anon_key())),
        "{query}"
    );
    assert!(
        query.contains("vsn=2.0.0") && !query.contains("browser-key"),
        "{query}"
    );

    // setAuth(custom) from the app: the session's token goes instead.
    socket
        .send_text(
            r#"["6","7","realtime:room","access_token",{"access_token":"custom-jwt-from-app"}]"#,
        )
        .await;
    eventually("the access_token frame reaches the stub", || {
        !stub_saw(&env, "access_token").is_empty()
    })
    .await;
    let update = &stub_saw(&env, "access_token")[0];
    assert_eq!(
        update,
        &json!(["6", "7", "realtime:room", "access_token", {"access_token": token}])
    );

    assert_eq!(
        env.stub
            .realtime_postgres_change("public", "todos", "INSERT", &json!({"id": 7})),
        1
    );
    let change = socket.wait_for("realtime:room", "postgres_changes").await;
    assert_eq!(change[4]["ids"], json!([id]));
    assert_eq!(change[4]["data"]["record"], json!({"id": 7}));
}

#[tokio::test]
async fn vsn_1_objects_get_the_token_too() {
    let env = Env::start().await;
    let (browser, user_id) = env.signed_in("rt-v1@example.com").await;
    let path = "/realtime/v1/websocket?apikey=x&vsn=1.0.0";
    let mut socket = open_as(&env, &browser, path).await;
    let join = json!({"topic": "realtime:v1", "event": "phx_join", "payload": {"config": {}}, "ref": "1", "join_ref": "1"});
    socket.send_text(&join.to_string()).await;
    let reply = socket.next_json().await;
    assert_eq!(
        (reply["event"].as_str(), reply["ref"].as_str()),
        (Some("phx_reply"), Some("1"))
    );
    assert_eq!(reply["payload"]["status"], "ok", "{reply}");
    let seen = &stub_saw(&env, "phx_join")[0];
    assert_eq!(seen["topic"], "realtime:v1");
    assert_eq!(
        claims(seen["payload"]["access_token"].as_str().unwrap())["sub"],
        user_id.as_str()
    );
}

#[tokio::test]
async fn binary_frames_pass_byte_identical_both_ways() {
    let env = Env::start().await;
    let (browser, _) = env.signed_in("rt-binary@example.com").await;
    let mut socket = open_as(&env, &browser, SOCKET).await;
    socket
        .join("6", "realtime:bin", json!({"config": {}}))
        .await;

    // A client broadcast (kind 3), as captured from supabase-js.
    let mut push = vec![3, 1, 1, 12, 6, 0, 1];
    push.extend_from_slice(br#"67realtime:bincursor{"x":10}"#);
    socket.send(Message::binary(push.clone())).await;
    eventually("the binary push reaches the stub", || {
        env.stub
            .realtime_frames()
            .iter()
            .any(|f| f.data == sbp_stub::FrameData::Binary(push.clone()))
    })
    .await;

    // A server broadcast (kind 4) reaches the client unchanged.
    assert_eq!(
        env.stub
            .realtime_binary_broadcast("realtime:bin", "cursor", br#"{"x":3,"y":4}"#),
        Some(1)
    );
    let mut expected = vec![4, 12, 6, 0, 1];
    expected.extend_from_slice(br#"realtime:bincursor{"x":3,"y":4}"#);
    loop {
        match socket.next(WAIT).await {
            Some(Message::Binary(bytes)) => break assert_eq!(bytes.to_vec(), expected),
            Some(Message::Text(_)) => continue,
            other => panic!("expected the binary broadcast, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn malformed_frames_are_relayed_unchanged_and_the_socket_lives() {
    let env = Env::start().await;
    let (browser, _) = env.signed_in("rt-malformed@example.com").await;
    let mut socket = open_as(&env, &browser, SOCKET).await;
    let malformed = [
        "not json at all",
        r#"["6","7","realtime:m""#,
        r#"{"topic":"realtime:m","event":"phx_join","payload":"x","ref":"1"}"#,
        r#"["6","8","realtime:m","phx_join",[1,2]]"#,
        r#"[6,8,"realtime:m","phx_join",{}]"#,
        "💥",
    ];
    for text in malformed {
        socket.send_text(text).await;
    }
    socket
        .send_text(r#"[null,"99","phoenix","heartbeat",{}]"#)
        .await;
    let reply = socket.wait_for("phoenix", "phx_reply").await;
    assert_eq!(
        reply,
        json!([null, "99", "phoenix", "phx_reply", {"status": "ok", "response": {}}])
    );
    let texts: Vec<String> = env
        .stub
        .realtime_frames()
        .into_iter()
        .filter_map(|f| match f.data {
            sbp_stub::FrameData::Text(text) => Some(text),
            sbp_stub::FrameData::Binary(_) => None,
        })
        .collect();
    assert_eq!(texts[..malformed.len()], malformed.map(String::from));
}

#[tokio::test]
async fn foreign_origins_are_refused_before_supabase() {
    let env = Env::start().await;
    let (browser, _) = env.signed_in("rt-origin@example.com").await;
    let cookie = format!("sb-session={}", browser.cookie.as_deref().unwrap());
    let addr = env.proxy.addr;
    let evil = [
        ("cookie", cookie.as_str()),
        ("origin", "https://evil.example"),
    ];
    let refused = open(addr, SOCKET, &evil).await.err().expect("refused");
    assert_eq!(
        (refused.status, &refused.body["error"]),
        (403, &json!("origin_not_allowed"))
    );
    let cookieless_evil = open(addr, SOCKET, &[("origin", "https://evil.example")]).await;
    assert_eq!(cookieless_evil.err().expect("refused").status, 403);
    // Without Origin only a cookieless (non-browser, anonymous) client may connect.
    let refused = open(addr, SOCKET, &[("cookie", cookie.as_str())])
        .await
        .err()
        .expect("refused");
    assert_eq!(
        (refused.status, &refused.body["error"]),
        (403, &json!("cross_site_refused"))
    );
    assert_eq!(
        env.stub.count("GET", "/realtime/v1/websocket"),
        0,
        "nothing reached Supabase"
    );
    assert!(open(addr, SOCKET, &[]).await.is_ok());
    assert_eq!(env.stub.count("GET", "/realtime/v1/websocket"), 1);
}

#[tokio::test]
async fn an_anonymous_socket_under_the_base_path_gets_the_anon_key() {
    let env = Env::with(Setup {
        settings: vec![("PROXY_PUBLIC_URL", format!("{ORIGIN}/supabase"))],
        ..Setup::default()
    })
    .await;
    let path = "/supabase/realtime/v1/websocket?vsn=2.0.0";
    let mut socket = open(env.proxy.addr, path, &[("origin", ORIGIN)])
        .await
        .expect("upgrade");
    socket
        .join("6", "realtime:anon", json!({"config": {}}))
        .await;
    let join = &stub_saw(&env, "phx_join")[0];
    assert_eq!(join[4]["access_token"], env.stub.anon_key());
    assert!(upgrade_query(&env).ends_with(&format!("apikey={}", env.stub.anon_key())));
}

#[tokio::test]
async fn close_frames_and_upstream_failures_reach_the_client() {
    let env = Env::start().await;
    let mut socket = open(env.proxy.addr, SOCKET, &[("origin", ORIGIN)])
        .await
        .unwrap();
    socket.join("6", "realtime:c", json!({"config": {}})).await;
    assert_eq!(env.stub.realtime_disconnect(1012, "restarting"), 1);
    let frame = socket.closed(WAIT).await.expect("a close frame");
    assert_eq!(
        (u16::from(frame.code), frame.reason.as_str()),
        (1012, "restarting")
    );

    // A client's close ends the upstream socket too.
    let mut socket = open(env.proxy.addr, SOCKET, &[("origin", ORIGIN)])
        .await
        .unwrap();
    socket.join("6", "realtime:c", json!({"config": {}})).await;
    socket.send(Message::Close(None)).await;
    // The close is answered (a close frame, or the end of the stream).
    while let Some(message) = socket.next(WAIT).await {
        if let Message::Close(_) = message {
            break;
        }
    }
    eventually("the stub's socket is gone", || {
        env.stub.realtime_broadcast("realtime:c", "e", &json!({})) == 0
    })
    .await;

    // Supabase refusing the upgrade, or unreachable, is an HTTP answer.
    let bad_key = Env::with(Setup {
        settings: vec![("SUPABASE_ANON_KEY", "not-a-key".to_string())],
        ..Setup::default()
    })
    .await;
    let refused = open(bad_key.proxy.addr, SOCKET, &[])
        .await
        .err()
        .expect("refused");
    assert_eq!(
        (refused.status, &refused.body["message"]),
        (403, &json!("invalid apikey"))
    );
    let gone = Env::with(Setup {
        settings: vec![("SUPABASE_URL", "http://127.0.0.1:1".to_string())],
        ..Setup::default()
    })
    .await;
    let refused = open(gone.proxy.addr, SOCKET, &[])
        .await
        .err()
        .expect("refused");
    assert_eq!(
        (refused.status, &refused.body["error"]),
        (502, &json!("upstream_unavailable"))
    );
}
