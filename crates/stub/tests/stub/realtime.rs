//! The stand-in Realtime over real sockets: the upgrade's `apikey`, joins
//! checked and answered like Supabase's (bindings echoed with ids), heartbeat,
//! leave, token updates and expiry (`system` error then `phx_close`), binary
//! broadcasts, both serializers, and the test-control endpoints.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Client, now, sign, start, start_default};
use sbp_stub::{FrameData, Stub, StubConfig};

type Ws = WebSocketStream<TcpStream>;

async fn connect(stub: &Stub, query: &str) -> Result<Ws, u16> {
    let url = format!("ws://{}/realtime/v1/websocket?{query}", stub.addr());
    let tcp = TcpStream::connect(stub.addr()).await.unwrap();
    match tokio_tungstenite::client_async(url, tcp).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

async fn v2(stub: &Stub) -> Ws {
    connect(stub, &format!("apikey={}&vsn=2.0.0", stub.anon_key()))
        .await
        .unwrap()
}

async fn send(ws: &mut Ws, value: Value) {
    ws.send(Message::text(value.to_string())).await.unwrap();
}

async fn next(ws: &mut Ws, within: Duration) -> Message {
    loop {
        match tokio::time::timeout(within, ws.next()).await {
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(Some(Ok(message))) => return message,
            other => panic!("no message within {within:?}: {other:?}"),
        }
    }
}

async fn next_json(ws: &mut Ws) -> Value {
    match next(ws, Duration::from_secs(5)).await {
        Message::Text(text) => serde_json::from_str(&text).unwrap(),
        other => panic!("not text: {other:?}"),
    }
}

fn user_token(stub: &Stub, exp: u64) -> String {
    sign(
        stub,
        &json!({"sub": "u-1", "role": "authenticated", "exp": exp}),
    )
}

#[tokio::test]
async fn the_upgrade_needs_a_valid_apikey_and_a_known_vsn() {
    let (stub, _) = start_default().await;
    assert_eq!(connect(&stub, "vsn=2.0.0").await.err(), Some(401));
    assert_eq!(
        connect(&stub, "apikey=nope&vsn=2.0.0").await.err(),
        Some(403)
    );
    let query = format!("apikey={}&vsn=9", stub.anon_key());
    assert_eq!(connect(&stub, &query).await.err(), Some(400));
    assert!(
        connect(&stub, &format!("apikey={}", stub.anon_key()))
            .await
            .is_ok()
    );
    assert_eq!(stub.count("GET", "/realtime/v1/websocket"), 4);
}

#[tokio::test]
async fn join_heartbeat_and_leave_as_supabase_answers_them() {
    let (stub, _) = start_default().await;
    let mut ws = v2(&stub).await;
    let binding =
        json!({"event": "INSERT", "schema": "public", "table": "todos", "filter": "id=eq.7"});
    let config = json!({"presence": {"enabled": true}, "postgres_changes": [binding]});
    send(
        &mut ws,
        json!(["10", "10", "realtime:room1", "phx_join", {"config": config}]),
    )
    .await;
    let reply = next_json(&mut ws).await;
    assert_eq!(reply[3], "phx_reply");
    assert_eq!(reply[4]["status"], "ok");
    let echoed = &reply[4]["response"]["postgres_changes"][0];
    assert!(echoed["id"].is_u64());
    assert_eq!(
        (&echoed["table"], &echoed["filter"]),
        (&json!("todos"), &json!("id=eq.7"))
    );
    let system = next_json(&mut ws).await;
    assert_eq!(
        (&system[3], &system[4]["status"]),
        (&json!("system"), &json!("ok"))
    );
    assert_eq!(next_json(&mut ws).await[3], "presence_state");

    let record = json!({"id": 7, "title": "t"});
    assert_eq!(
        stub.realtime_postgres_change("public", "todos", "INSERT", &record),
        1
    );
    assert_eq!(
        stub.realtime_postgres_change("public", "todos", "INSERT", &json!({"id": 8})),
        0
    );
    let change = next_json(&mut ws).await;
    assert_eq!(change[4]["ids"], json!([echoed["id"]]));
    assert_eq!(change[4]["data"]["record"], record);

    send(&mut ws, json!([null, "11", "phoenix", "heartbeat", {}])).await;
    assert_eq!(
        next_json(&mut ws).await,
        json!([null, "11", "phoenix", "phx_reply", {"status": "ok", "response": {}}])
    );
    send(
        &mut ws,
        json!(["10", "12", "realtime:room1", "phx_leave", {}]),
    )
    .await;
    assert_eq!(next_json(&mut ws).await[3], "phx_reply");
    assert_eq!(
        next_json(&mut ws).await,
        json!(["10", "12", "realtime:room1", "phx_close", {}])
    );
    assert_eq!(
        stub.realtime_broadcast("realtime:room1", "e", &json!({})),
        0
    );
    send(
        &mut ws,
        json!(["10", "13", "realtime:room1", "broadcast", {}]),
    )
    .await;
    assert_eq!(
        next_json(&mut ws).await[4]["response"]["reason"],
        "unmatched topic"
    );
}

/// Joins `topic` with `payload` and returns the reply's status.
async fn join_status(ws: &mut Ws, join_ref: &str, topic: &str, payload: Value) -> Value {
    send(ws, json!([join_ref, join_ref, topic, "phx_join", payload])).await;
    loop {
        let message = next_json(ws).await;
        if message[2] == topic && message[3] == "phx_reply" {
            return message[4]["status"].clone();
        }
    }
}

#[tokio::test]
async fn joins_prefer_user_token_and_need_role_and_exp() {
    let (stub, _) = start_default().await;
    let mut ws = v2(&stub).await;
    let good = user_token(&stub, now() + 60);
    let expired = user_token(&stub, now() - 5);
    let cases = [
        // Realtime reads `user_token` first: a bad one fails the join
        // whatever `access_token` says, a good one passes it.
        (
            json!({"access_token": good, "user_token": expired}),
            "error",
        ),
        (
            json!({"access_token": good, "user_token": "forged"}),
            "error",
        ),
        (json!({"access_token": "forged", "user_token": good}), "ok"),
        (json!({"user_token": good}), "ok"),
        // A token without `role` or `exp` is refused.
        (
            json!({"access_token": sign(&stub, &json!({"sub": "u-1", "exp": now() + 60}))}),
            "error",
        ),
        (
            json!({"access_token": sign(&stub, &json!({"sub": "u-1", "role": "authenticated"}))}),
            "error",
        ),
        // An API key in a join means the socket's own key (here the anon key).
        (json!({"access_token": "sb_publishable_whatever"}), "ok"),
        (json!({"user_token": "sb_publishable_whatever"}), "ok"),
        (json!({}), "ok"),
    ];
    for (i, (payload, expected)) in cases.into_iter().enumerate() {
        let (join_ref, topic) = (format!("{i}"), format!("realtime:case-{i}"));
        let status = join_status(&mut ws, &join_ref, &topic, payload.clone()).await;
        assert_eq!(status, expected, "{payload}");
    }
}

#[tokio::test]
async fn the_publishable_key_opens_a_socket_as_anon() {
    let key = "sb_publishable_stub-test-key";
    let (stub, _) = start(StubConfig {
        publishable_key: Some(key.to_owned()),
        ..StubConfig::default()
    })
    .await;
    let other = connect(&stub, "apikey=sb_publishable_other&vsn=2.0.0").await;
    assert_eq!(other.err(), Some(403));
    let mut ws = connect(&stub, &format!("apikey={key}&vsn=2.0.0"))
        .await
        .expect("the publishable key is accepted");
    assert_eq!(
        join_status(&mut ws, "1", "realtime:anon", json!({})).await,
        "ok"
    );
    // The key itself is not a token: an `access_token` frame carrying it is ignored.
    send(
        &mut ws,
        json!(["1", "2", "realtime:anon", "access_token", {"access_token": key}]),
    )
    .await;
    send(&mut ws, json!([null, "3", "phoenix", "heartbeat", {}])).await;
    let mut seen = Vec::new();
    while seen.last().is_none_or(|m: &Value| m[2] != "phoenix") {
        seen.push(next_json(&mut ws).await);
    }
    assert!(seen.iter().all(|m| m[3] != "phx_close"), "{seen:?}");
    assert_eq!(
        stub.realtime_broadcast("realtime:anon", "e", &json!({})),
        1,
        "the channel lives on"
    );
    assert_eq!(next_json(&mut ws).await[3], "broadcast");
}

#[tokio::test]
async fn an_expiring_token_ends_the_channel_unless_replaced() {
    let (stub, _) = start_default().await;
    let mut ws = v2(&stub).await;
    let short = user_token(&stub, now() + 2);
    send(
        &mut ws,
        json!(["1", "1", "realtime:kept", "phx_join", {"access_token": short}]),
    )
    .await;
    send(
        &mut ws,
        json!(["2", "2", "realtime:lost", "phx_join", {"access_token": short}]),
    )
    .await;
    for _ in 0..4 {
        next_json(&mut ws).await; // two replies and two system messages
    }
    let long = user_token(&stub, now() + 60);
    send(
        &mut ws,
        json!(["1", "3", "realtime:kept", "access_token", {"access_token": long}]),
    )
    .await;

    let system = next_json(&mut ws).await;
    assert_eq!(
        (&system[2], &system[3]),
        (&json!("realtime:lost"), &json!("system"))
    );
    assert_eq!(system[4]["status"], "error");
    assert!(
        system[4]["message"]
            .as_str()
            .unwrap()
            .starts_with("Token has expired")
    );
    assert_eq!(
        next_json(&mut ws).await,
        json!(["2", "2", "realtime:lost", "phx_close", {}])
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        stub.realtime_broadcast("realtime:kept", "e", &json!({"n": 1})),
        1
    );
    assert_eq!(
        next_json(&mut ws).await[3],
        "broadcast",
        "the refreshed channel lives on"
    );

    // An expired or forged token ends the channel at once.
    let expired = user_token(&stub, now() - 5);
    send(
        &mut ws,
        json!(["1", "4", "realtime:kept", "access_token", {"access_token": expired}]),
    )
    .await;
    assert_eq!(next_json(&mut ws).await[4]["status"], "error");
    assert_eq!(next_json(&mut ws).await[3], "phx_close");
    send(
        &mut ws,
        json!(["5", "5", "realtime:x", "phx_join", {"access_token": "forged"}]),
    )
    .await;
    assert_eq!(
        next_json(&mut ws).await[4]["status"],
        "error",
        "a forged join is refused"
    );
}

#[tokio::test]
async fn binary_broadcasts_go_out_as_kind_4_and_frames_are_recorded() {
    let (stub, _) = start_default().await;
    let (mut sender, mut receiver) = (v2(&stub).await, v2(&stub).await);
    for ws in [&mut sender, &mut receiver] {
        send(
            ws,
            json!(["6", "6", "realtime:bin", "phx_join", {"config": {}}]),
        )
        .await;
        next_json(ws).await;
        next_json(ws).await;
    }
    let mut push = vec![3, 1, 1, 12, 6, 0, 1];
    push.extend_from_slice(br#"67realtime:bincursor{"x":1}"#);
    sender.send(Message::binary(push.clone())).await.unwrap();
    let mut out = vec![4, 12, 6, 0, 1];
    out.extend_from_slice(br#"realtime:bincursor{"x":1}"#);
    match next(&mut receiver, Duration::from_secs(5)).await {
        Message::Binary(bytes) => assert_eq!(bytes.to_vec(), out),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        next_json(&mut sender).await[4]["status"],
        "ok",
        "the push is acknowledged"
    );
    assert!(
        stub.realtime_frames()
            .iter()
            .any(|f| f.data == FrameData::Binary(push.clone()))
    );
    sender.send(Message::text("not json")).await.unwrap();
    send(&mut sender, json!([null, "9", "phoenix", "heartbeat", {}])).await;
    assert_eq!(
        next_json(&mut sender).await[1],
        "9",
        "malformed text is ignored"
    );
    let texts = stub
        .realtime_frames()
        .into_iter()
        .filter(|f| f.data == FrameData::Text("not json".into()));
    assert_eq!(texts.count(), 1);
}

#[tokio::test]
async fn vsn_1_objects_and_the_control_endpoints() {
    let (stub, _) = start_default().await;
    let mut ws = connect(&stub, &format!("apikey={}&vsn=1.0.0", stub.anon_key()))
        .await
        .unwrap();
    send(&mut ws, json!({"topic": "realtime:v1", "event": "phx_join", "payload": {}, "ref": "1", "join_ref": "1"})).await;
    let reply = next_json(&mut ws).await;
    assert_eq!(
        (&reply["event"], &reply["payload"]["status"]),
        (&json!("phx_reply"), &json!("ok"))
    );
    next_json(&mut ws).await;

    let client = Client::new(&stub);
    let body = json!({"topic": "realtime:v1", "event": "e", "payload": {"a": 1}});
    let sent = client
        .send("POST", "/__stub/realtime/broadcast", &[], body.to_string())
        .await;
    assert_eq!(sent.json(), json!({"delivered": 1}));
    let message = next_json(&mut ws).await;
    assert_eq!(
        message["payload"],
        json!({"type": "broadcast", "event": "e", "payload": {"a": 1}})
    );
    let change = json!({"table": "todos", "record": {"id": 1}});
    let sent = client
        .send(
            "POST",
            "/__stub/realtime/postgres_changes",
            &[],
            change.to_string(),
        )
        .await;
    assert_eq!(
        sent.json(),
        json!({"delivered": 0}),
        "no channel has a binding"
    );
    let frames = client
        .send("GET", "/__stub/realtime/frames", &[], "")
        .await
        .json();
    assert_eq!(frames[0]["socket"], 1);
    assert!(frames[0]["text"].as_str().unwrap().contains("phx_join"));
    let bad = client
        .send("POST", "/__stub/realtime/broadcast", &[], "{}")
        .await;
    assert_eq!(bad.status, 400);
}
