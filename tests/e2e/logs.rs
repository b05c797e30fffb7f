//! The binary's logs: one access line per request with the request id,
//! the JSON format, no colour codes in a file, and never a secret in any
//! line at any level over a whole flow.

use crate::support;

use serde_json::{Value, json};
use std::process::Stdio;
use support::hooks::{Call, SECRET, configured_secrets, payload, user_row};
use support::{Browser, ProxyProcess, binary, websocket};

/// A proxy process in front of `stub` with `extra` settings, logging at
/// `level` into a file the test reads.
struct Logged {
    proxy: ProxyProcess,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Logged {
    fn start(stub: &sbp_stub::Stub, level: &str, extra: Vec<(&str, String)>) -> Logged {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("proxy.log");
        let file = std::fs::File::create(&log).unwrap();
        let mut command = binary();
        command
            .env_clear()
            .envs(support::settings_for(stub, extra))
            .env("RUST_LOG", level);
        let (proxy, _) = ProxyProcess::spawn_with_stderr(command, Stdio::from(file));
        Logged {
            proxy,
            log,
            _dir: dir,
        }
    }

    /// Every line logged so far (the process is stopped first, so that
    /// nothing is left unwritten).
    fn lines(self) -> Vec<String> {
        self.proxy.kill();
        let text = std::fs::read_to_string(&self.log).unwrap();
        text.lines().map(str::to_string).collect()
    }
}

#[tokio::test]
async fn each_request_gets_one_access_line_and_its_request_id_goes_up_and_back() {
    let stub = sbp_stub::Stub::start(sbp_stub::StubConfig::default())
        .await
        .unwrap();
    stub.create_user("log@example.com", "pw-for-logs-1");
    let logged = Logged::start(
        &stub,
        "info",
        vec![("PROXY_LOG_FORMAT", "json".to_string())],
    );
    let mut browser = Browser::new(&logged.proxy.base(), &stub.anon_key(), "sb-session");
    assert_eq!(
        browser
            .sign_in("log@example.com", "pw-for-logs-1")
            .await
            .status,
        200
    );
    let reply = browser
        .send(
            http::Method::GET,
            "/rest/v1/todos?select=*",
            &[("x-request-id", "trace-me-42")],
            bytes::Bytes::new(),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-request-id"), Some("trace-me-42"));
    let upstream = stub
        .recorded()
        .into_iter()
        .find(|r| r.path == "/rest/v1/todos")
        .expect("the request reached PostgREST");
    assert_eq!(upstream.headers["x-request-id"], "trace-me-42");
    // Without one (or with one unfit), the proxy makes one.
    let reply = browser
        .send(
            http::Method::GET,
            "/edge/v1/session",
            &[("x-request-id", "has a space")],
            bytes::Bytes::new(),
        )
        .await;
    let made = reply.header("x-request-id").expect("an id").to_string();
    assert_ne!(made, "has a space");

    let lines = logged.lines();
    let access: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|l| l["target"] == "sb_cookie_proxy::access")
        .collect();
    assert_eq!(access.len(), 3, "one line per request: {lines:#?}");
    let (sign_in, rest, session) = (&access[0], &access[1], &access[2]);
    assert_eq!(sign_in["route"], "sign_in");
    assert_eq!(sign_in["method"], "POST");
    assert_eq!(rest["route"], "rest");
    assert_eq!(rest["status"], 200);
    assert_eq!(rest["request_id"], "trace-me-42");
    let total = rest["duration_us"].as_u64().expect("the proxy's time");
    let upstream = rest["upstream_us"].as_u64().expect("PostgREST's time");
    assert!(upstream <= total, "{rest}");
    assert!(
        session["upstream_us"].is_null(),
        "answered by the proxy: {session}"
    );
    let public_id = rest["session"].as_str().expect("the session's public id");
    assert_eq!(session["session"], public_id);
    assert_eq!(session["request_id"], made.as_str());
    assert_eq!(
        session["bytes"].as_u64().map(|b| b > 0),
        Some(true),
        "{session}"
    );
    let listed = lines.join("\n");
    assert!(!listed.contains("select=*"), "no query string is logged");
}

#[tokio::test]
async fn text_logs_into_a_file_carry_no_colour_codes() {
    let stub = sbp_stub::Stub::start(sbp_stub::StubConfig::default())
        .await
        .unwrap();
    let logged = Logged::start(&stub, "info", vec![]);
    let mut browser = Browser::new(&logged.proxy.base(), &stub.anon_key(), "sb-session");
    assert_eq!(browser.get("/edge/v1/health").await.status, 200);
    let lines = logged.lines();
    let access = lines
        .iter()
        .find(|l| l.contains("sb_cookie_proxy::access"))
        .unwrap_or_else(|| panic!("an access line in {lines:#?}"));
    assert!(
        access.contains("route=\"health\"") || access.contains("route=health"),
        "{access}"
    );
    assert!(
        lines.iter().all(|l| !l.contains('\u{1b}')),
        "an escape code in {lines:#?}"
    );
}

#[test]
fn an_unknown_log_format_is_refused() {
    let mut command = binary();
    command.env_clear().env("PROXY_LOG_FORMAT", "yaml");
    let (code, stderr) = support::exit_of(command);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("PROXY_LOG_FORMAT: `yaml`"), "{stderr}");
}

/// Sign-in, REST, an Auth hook call that outdates the tokens, the refresh
/// it causes, a Realtime join, logout: logged at trace, and no line holds
/// any secret the run used.
#[tokio::test]
async fn no_secret_in_any_log_line_at_trace() {
    let stub = sbp_stub::Stub::start(sbp_stub::StubConfig::default())
        .await
        .unwrap();
    let password = "pw-that-must-not-be-logged-7";
    let user_id = stub.create_user("secret@example.com", password);
    let logged = Logged::start(
        &stub,
        "trace",
        vec![
            ("SUPABASE_SERVICE_ROLE_KEY", stub.service_role_key()),
            ("PROXY_HOOK_SECRET", configured_secrets()),
        ],
    );
    let base = logged.proxy.base();
    let mut browser = Browser::new(&base, &stub.anon_key(), "sb-session");
    let signed_in = browser.sign_in("secret@example.com", password).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text());
    let cookie = browser.cookie.clone().expect("a session cookie");
    let magic = "code-in-a-query-9f8e7d";
    assert_eq!(
        browser
            .get(&format!("/rest/v1/todos?select=*&code={magic}"))
            .await
            .status,
        200
    );

    // A hook call about the user: the tokens are outdated, and the next
    // request refreshes them.
    let user = browser.get("/auth/v1/user").await.json();
    assert_eq!(user["id"], user_id.as_str());
    let mut row = user_row(&user);
    row["raw_app_meta_data"] = json!({"provider": "email", "plan": "pro"});
    let hook = Call::signed(SECRET, &payload("UPDATE", "users", row, user_row(&user)));
    assert_eq!(hook.send(&base).await.status, 200);
    let refreshes = stub.refresh_count();
    assert_eq!(browser.get("/rest/v1/todos").await.status, 200);
    assert_eq!(
        stub.refresh_count(),
        refreshes + 1,
        "the hook caused a refresh"
    );

    let cookie_header = format!("sb-session={cookie}");
    let path = format!(
        "/realtime/v1/websocket?apikey={}&vsn=2.0.0",
        stub.anon_key()
    );
    let mut socket = websocket::open(
        logged.proxy.addr,
        &path,
        &[
            ("cookie", &cookie_header),
            ("origin", "http://127.0.0.1:8787"),
        ],
    )
    .await
    .expect("the upgrade is accepted");
    // `join` fails the test unless Realtime accepted the join.
    socket
        .join("1", "realtime:room", json!({"config": {}}))
        .await;
    drop(socket);

    assert_eq!(
        browser.post_json("/auth/v1/logout", json!({})).await.status,
        204
    );

    let mut secrets = stub.issued_tokens();
    assert!(
        secrets.len() >= 4,
        "sign-in and refresh tokens: {secrets:?}"
    );
    secrets.extend([
        cookie,
        stub.anon_key(),
        stub.service_role_key(),
        password.to_string(),
        magic.to_string(),
        SECRET.to_string(),
    ]);
    let lines = logged.lines();
    assert!(
        lines.iter().any(|l| l.contains("sb_cookie_proxy::access")),
        "the run was logged: {lines:#?}"
    );
    for line in &lines {
        for secret in &secrets {
            assert!(
                !line.contains(secret.as_str()),
                "`{secret}` logged in: {line}"
            );
        }
    }
}
