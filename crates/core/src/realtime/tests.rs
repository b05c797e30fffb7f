//! Token injection and channel tracking on frames shaped like the captures
//! of supabase-js 2.119 (reference/wire), and on malformed input.

use super::*;
use serde_json::{Value, json};

const TOKEN: &str = "session-token";

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn rewritten(channels: &mut Channels, text: &str, token: &str) -> Value {
    match channels.on_client_text(text, Some(token)) {
        ClientFrame::Rewritten(out) => parse(&out),
        ClientFrame::Unchanged => panic!("not rewritten: {text}"),
    }
}

#[test]
fn a_join_without_token_gets_the_sessions_token() {
    // A reload with a saved session: the official client joins without a token.
    let join = r#"["6","6","realtime:reload-room","phx_join",{"config":{"broadcast":{"ack":false,"self":false},"presence":{"key":"","enabled":false},"postgres_changes":[],"private":false}}]"#;
    let mut channels = Channels::default();
    let out = rewritten(&mut channels, join, TOKEN);
    let mut expected = parse(join);
    expected[4]["access_token"] = json!(TOKEN);
    assert_eq!(out, expected);
    assert_eq!(channels.topics(), ["realtime:reload-room"]);
}

#[test]
fn a_joins_own_token_and_access_token_frames_are_replaced() {
    let join = r#"["10","10","realtime:room1","phx_join",{"config":{"postgres_changes":[{"event":"INSERT","schema":"public","table":"todos","filter":"id=eq.7"}]},"access_token":"placeholder","version":"realtime-js/2.119.1"}]"#;
    let mut channels = Channels::default();
    let out = rewritten(&mut channels, join, TOKEN);
    assert_eq!(out[4]["access_token"], TOKEN);
    assert_eq!(out[4]["version"], "realtime-js/2.119.1");
    assert_eq!(out[4]["config"], parse(join)[4]["config"]);

    let set_auth =
        r#"["10","13","realtime:room1","access_token",{"access_token":"custom-jwt-from-app"}]"#;
    let out = rewritten(&mut channels, set_auth, TOKEN);
    assert_eq!(
        out,
        json!(["10", "13", "realtime:room1", "access_token", {"access_token": TOKEN}])
    );
}

#[test]
fn vsn_1_frames_are_rewritten_as_objects() {
    let join = r#"{"topic":"realtime:v1room","event":"phx_join","payload":{"config":{}},"ref":"1","join_ref":"1"}"#;
    let mut channels = Channels::default();
    let out = rewritten(&mut channels, join, TOKEN);
    assert_eq!(
        out,
        json!({"topic":"realtime:v1room","event":"phx_join","payload":{"config":{},"access_token":TOKEN},"ref":"1","join_ref":"1"})
    );
    let pushes = channels.token_pushes("next");
    assert_eq!(pushes.len(), 1);
    assert_eq!(
        parse(&pushes[0]),
        json!({"topic":"realtime:v1room","event":"access_token","payload":{"access_token":"next"},"ref":"sbp-1","join_ref":"1"})
    );
}

#[test]
fn other_frames_pass_byte_identical() {
    let mut channels = Channels::default();
    for text in [
        r#"[null,"16","phoenix","heartbeat",{}]"#,
        r#"["10","12","realtime:room1","presence",{"type":"presence","event":"track","payload":{"online_at":"now"}}]"#,
        r#"["10","11","realtime:room1","broadcast",{"type":"broadcast","event":"cursor","payload":{"x":1}}]"#,
        r#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"2"}"#,
    ] {
        assert_eq!(
            channels.on_client_text(text, Some(TOKEN)),
            ClientFrame::Unchanged,
            "{text}"
        );
    }
    assert!(channels.topics().is_empty());
}

#[test]
fn malformed_and_unexpected_frames_pass_unchanged_and_never_panic() {
    let mut channels = Channels::default();
    let cases = [
        "",
        "{",
        "[\"1\",\"1\",\"realtime:x\",\"phx_join\"",
        "[\"1\",\"1\",\"realtime:x\",\"phx_join\",\"not an object\"]",
        "[\"1\",\"1\",\"realtime:x\",\"phx_join\",null]",
        "[\"1\",\"1\",\"realtime:x\",\"access_token\",[1,2]]",
        "[1,1,\"realtime:x\",\"phx_join\",{}]",
        "{\"topic\":\"realtime:x\",\"event\":\"phx_join\"}",
        "{\"topic\":\"realtime:x\",\"event\":\"phx_join\",\"payload\":{},\"payload\":{}}",
        "\u{0}\u{1}binary-ish",
        "💥",
        &"[".repeat(10_000),
        &format!(
            "[\"1\",\"1\",\"t\",\"phx_join\",{}{}]",
            "{\"a\":".repeat(500),
            "}".repeat(500)
        ),
    ];
    for text in cases {
        assert_eq!(
            channels.on_client_text(text, Some(TOKEN)),
            ClientFrame::Unchanged,
            "{text:.80}"
        );
        assert_eq!(
            channels.on_server_text(text),
            ServerFrame::Relay,
            "{text:.80}"
        );
    }
    assert!(channels.topics().is_empty());
    // Every prefix of a valid join is handled without a panic.
    let join = r#"["6","6","realtime:é-room","phx_join",{"config":{"a":[1,2,{"b":"\u00e9"}]}}]"#;
    for end in (0..=join.len()).filter(|i| join.is_char_boundary(*i)) {
        let _ = channels.on_client_text(&join[..end], Some(TOKEN));
        let _ = channels.on_server_text(&join[..end]);
    }
}

#[test]
fn a_clients_user_token_is_replaced_in_both_serializers() {
    // Realtime prefers `user_token`: left in place it would decide the user.
    let mut channels = Channels::default();
    let v2 = r#"["1","1","realtime:u","phx_join",{"user_token":"other-users-jwt","config":{},"access_token":"placeholder"}]"#;
    assert_eq!(
        rewritten(&mut channels, v2, TOKEN)[4],
        json!({"config": {}, "access_token": TOKEN})
    );
    let v1 = r#"{"topic":"realtime:u1","event":"phx_join","payload":{"user_token":"forged","user_token":"again"},"ref":"2","join_ref":"2"}"#;
    assert_eq!(
        rewritten(&mut channels, v1, TOKEN)["payload"],
        json!({"access_token": TOKEN})
    );
    // Escaped spellings of the name are the same key to Realtime's parser.
    let escaped =
        r#"["1","3","realtime:u","access_token",{"access_token":"x","user\u005ftoken":"y"}]"#;
    assert_eq!(
        rewritten(&mut channels, escaped, TOKEN)[4],
        json!({"access_token": TOKEN})
    );
    assert_eq!(channels.topics(), ["realtime:u", "realtime:u1"]);
}

#[test]
fn without_a_token_the_clients_are_removed_and_the_rest_kept() {
    let mut channels = Channels::default();
    let join = r#"["1","1","realtime:a","phx_join",{"config":{"x":1},"access_token":"sb_publishable_k","user_token":"someone"}]"#;
    match channels.on_client_text(join, None) {
        ClientFrame::Rewritten(out) => {
            assert_eq!(
                out,
                r#"["1","1","realtime:a","phx_join",{"config":{"x":1}}]"#
            );
        }
        ClientFrame::Unchanged => panic!("the client's tokens stayed"),
    }
    let bare = r#"["2","2","realtime:b","phx_join",{"config":{}}]"#;
    assert_eq!(channels.on_client_text(bare, None), ClientFrame::Unchanged);
    assert_eq!(channels.topics(), ["realtime:a", "realtime:b"]);
    let update = r#"["1","3","realtime:a","access_token",{"access_token":"custom"}]"#;
    match channels.on_client_text(update, None) {
        ClientFrame::Rewritten(out) => assert_eq!(parse(&out)[4], json!({})),
        ClientFrame::Unchanged => panic!("the client's token stayed"),
    }
}

#[test]
fn only_a_jwt_anon_key_is_a_token() {
    assert_eq!(anonymous_token("eyJhbGciOi.x.y"), Some("eyJhbGciOi.x.y"));
    assert_eq!(anonymous_token("sb_publishable_abc"), None);
}

#[test]
fn duplicate_tokens_collapse_to_the_sessions() {
    let join = r#"["1","1","realtime:d","phx_join",{"access_token":"a","x":1,"access_token":"b"}]"#;
    let out = rewritten(&mut Channels::default(), join, TOKEN);
    assert_eq!(out[4], json!({"access_token": TOKEN, "x": 1}));
}

#[test]
fn topics_are_tracked_through_replies_leaves_closes_and_errors() {
    let mut channels = Channels::default();
    let join = |c: &mut Channels, join_ref: &str, topic: &str| {
        let text = format!(r#"["{join_ref}","{join_ref}","{topic}","phx_join",{{}}]"#);
        rewritten(c, &text, TOKEN);
    };
    join(&mut channels, "1", "realtime:ok");
    join(&mut channels, "2", "realtime:refused");
    join(&mut channels, "3", "realtime:left");
    join(&mut channels, "4", "realtime:closed");
    join(&mut channels, "5", "realtime:crashed");
    join(&mut channels, "6", "realtime:rejoined");
    let server = [
        r#"["1","1","realtime:ok","phx_reply",{"status":"ok","response":{"postgres_changes":[]}}]"#,
        r#"["2","2","realtime:refused","phx_reply",{"status":"error","response":{"reason":"Unauthorized"}}]"#,
        r#"[null,null,"realtime:ok","system",{"status":"ok"}]"#,
        r#"["4",null,"realtime:closed","phx_close",{}]"#,
        r#"["5","5","realtime:crashed","phx_error",{}]"#,
    ];
    for text in server {
        assert_eq!(channels.on_server_text(text), ServerFrame::Relay);
    }
    assert_eq!(
        channels.on_client_text(r#"["3","7","realtime:left","phx_leave",{}]"#, Some(TOKEN)),
        ClientFrame::Unchanged
    );
    // A rejoin under a new join_ref survives the close of the old join.
    join(&mut channels, "8", "realtime:rejoined");
    channels.on_server_text(r#"["6","9","realtime:rejoined","phx_close",{}]"#);
    // Replies to other pushes of a topic say nothing about the join.
    channels
        .on_server_text(r#"["1","12","realtime:ok","phx_reply",{"status":"error","response":{}}]"#);
    assert_eq!(channels.topics(), ["realtime:ok", "realtime:rejoined"]);
}

#[test]
fn token_pushes_cover_every_topic_with_refs_of_their_own() {
    let mut channels = Channels::default();
    rewritten(
        &mut channels,
        r#"["10","10","realtime:a","phx_join",{}]"#,
        TOKEN,
    );
    rewritten(
        &mut channels,
        r#"["11","11","realtime:b","phx_join",{}]"#,
        TOKEN,
    );
    let mut first: Vec<Value> = channels
        .token_pushes("fresh")
        .iter()
        .map(|p| parse(p))
        .collect();
    first.sort_by_key(|p| p[2].as_str().unwrap().to_string());
    assert_eq!(first[0][0], "10");
    assert_eq!(first[0][2], "realtime:a");
    assert_eq!(first[0][3], "access_token");
    assert_eq!(first[0][4], json!({"access_token": "fresh"}));
    assert_eq!(first[1][0], "11");
    let second = channels.token_pushes("fresher");
    let refs: Vec<String> = first
        .iter()
        .chain(second.iter().map(|p| parse(p)).collect::<Vec<_>>().iter())
        .map(|p| p[1].as_str().unwrap().to_string())
        .collect();
    assert!(
        refs.iter().all(|r| r.starts_with(PUSH_REF_PREFIX)),
        "{refs:?}"
    );
    let mut unique = refs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 4, "refs are never reused: {refs:?}");

    // The server's replies to those refs are the proxy's business.
    let reply = format!(
        r#"["10","{}","realtime:a","phx_reply",{{"status":"ok","response":{{}}}}]"#,
        refs[0]
    );
    assert_eq!(channels.on_server_text(&reply), ServerFrame::Drop);
    assert_eq!(
        channels.on_server_text(
            r#"["10","10","realtime:a","phx_reply",{"status":"ok","response":{}}]"#
        ),
        ServerFrame::Relay
    );
    assert!(Channels::default().token_pushes("t").is_empty());
}

#[test]
fn a_token_with_quotes_stays_valid_json() {
    let mut channels = Channels::default();
    let out = rewritten(
        &mut channels,
        r#"["1","1","realtime:q","phx_join",{}]"#,
        "a\"b\\c",
    );
    assert_eq!(out[4]["access_token"], "a\"b\\c");
    assert_eq!(
        parse(&channels.token_pushes("x\"y")[0])[4]["access_token"],
        "x\"y"
    );
}

#[test]
fn session_end_reasons_fit_a_close_frame() {
    for end in [SessionEnd::Deleted, SessionEnd::Expired] {
        assert!(end.reason().len() <= 123);
    }
    assert!((4000..5000).contains(&SESSION_ENDED_CLOSE_CODE));
}
