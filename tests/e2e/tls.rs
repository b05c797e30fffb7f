//! An `https://` and `wss://` upstream: the stand-in Supabase behind TLS
//! with a certificate from a CA made at test time. With that CA in
//! `PROXY_UPSTREAM_CA` sign-in, forwarding, the session endpoint and
//! Realtime work; without it the certificate is not trusted and nothing
//! reaches Supabase (no plaintext fallback); a bad CA file stops the start.

use crate::support;

use crate::support::websocket::open;
use sbp_stub::{Stub, StubConfig, TestCa};
use serde_json::json;
use std::io::Write;
use support::{Env, binary, exit_of, settings_for, start_proxy};
use tempfile::NamedTempFile;

const ORIGIN: &str = "http://127.0.0.1:8787";

/// The stub behind TLS, and the test CA's certificate in a PEM file.
async fn tls_stub() -> (Stub, NamedTempFile) {
    let ca = TestCa::generate().expect("test CA");
    let stub = Stub::start_tls(StubConfig::default(), &ca)
        .await
        .expect("stub starts");
    (stub, pem_file(ca.pem()))
}

fn pem_file(text: &str) -> NamedTempFile {
    let mut file = NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

/// A proxy in front of `stub` with `extra` settings.
async fn env(stub: Stub, extra: Vec<(&'static str, String)>) -> Env {
    let settings = settings_for(&stub, extra);
    let proxy = start_proxy(&settings).await;
    Env {
        stub,
        proxy,
        settings,
    }
}

fn path_of(file: &NamedTempFile) -> String {
    file.path().display().to_string()
}

#[tokio::test]
async fn a_private_ca_bundle_serves_sign_in_rest_session_and_realtime() {
    let (stub, ca) = tls_stub().await;
    assert!(
        stub.url().starts_with("https://127.0.0.1:"),
        "{}",
        stub.url()
    );
    // A bundle: the stub's CA is not the first certificate in the file.
    let other = TestCa::generate().unwrap();
    let stubs_ca = std::fs::read_to_string(ca.path()).unwrap();
    let bundle = pem_file(&format!("{}{stubs_ca}", other.pem()));
    let env = env(stub, vec![("PROXY_UPSTREAM_CA", path_of(&bundle))]).await;
    let (mut browser, user_id) = env.signed_in("tls@example.com").await;
    assert!(browser.cookie.is_some(), "a session cookie");

    let rows = browser.get("/rest/v1/todos").await;
    assert_eq!(rows.status, 200, "{}", rows.text());
    let forwarded = env
        .stub
        .recorded()
        .into_iter()
        .rfind(|r| r.path == "/rest/v1/todos")
        .expect("forwarded over TLS");
    let bearer = forwarded.headers["authorization"].to_str().unwrap();
    let token = bearer.strip_prefix("Bearer ").expect("a bearer token");
    assert!(
        env.stub.issued_tokens().iter().any(|t| t == token),
        "the session's token went upstream"
    );

    let who = browser.get("/edge/v1/session").await;
    assert_eq!(who.status, 200, "{}", who.text());
    assert_eq!(who.json()["user"]["id"], user_id.as_str());

    let cookie = format!("sb-session={}", browser.cookie.as_deref().unwrap());
    let mut socket = open(
        env.proxy.addr,
        "/realtime/v1/websocket?apikey=x&vsn=2.0.0",
        &[("cookie", cookie.as_str()), ("origin", ORIGIN)],
    )
    .await
    .expect("upgrade accepted");
    socket
        .join("1", "realtime:tls", json!({"config": {}}))
        .await;
    assert_eq!(
        env.stub
            .realtime_broadcast("realtime:tls", "hello", &json!({"over": "wss"})),
        1
    );
    let message = socket.wait_for("realtime:tls", "broadcast").await;
    assert_eq!(message[4]["event"], "hello");
    assert_eq!(message[4]["payload"], json!({"over": "wss"}));
}

#[tokio::test]
async fn an_untrusted_certificate_fails_closed_without_a_session() {
    let (stub, _ca) = tls_stub().await;
    let env = env(stub, Vec::new()).await;
    env.stub.create_user("untrusted@example.com", "pw123456");
    let mut browser = env.browser();
    let reply = browser.sign_in("untrusted@example.com", "pw123456").await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert_eq!(reply.json()["error"], "upstream_unavailable");
    let message = reply.json()["message"].to_string();
    assert!(message.contains("invalid peer certificate"), "{message}");
    assert!(reply.set_cookies().is_empty(), "{:?}", reply.set_cookies());
    assert_eq!(browser.get("/edge/v1/session").await.status, 401);
    // The handshake failed: no request was sent, in TLS or in the clear.
    assert!(env.stub.recorded().is_empty(), "{:?}", env.stub.recorded());
}

#[tokio::test]
async fn another_cas_certificate_is_not_trusted_either() {
    let (stub, _ca) = tls_stub().await;
    let other = pem_file(TestCa::generate().unwrap().pem());
    let env = env(stub, vec![("PROXY_UPSTREAM_CA", path_of(&other))]).await;
    env.stub.create_user("other-ca@example.com", "pw123456");
    let mut browser = env.browser();
    let reply = browser.sign_in("other-ca@example.com", "pw123456").await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert!(env.stub.recorded().is_empty());
}

#[test]
fn a_bad_ca_file_stops_the_start_naming_the_setting() {
    let not_pem = pem_file("no certificate here\n");
    for (ca, says) in [
        ("/nonexistent/ca.pem".to_string(), "cannot read"),
        (path_of(&not_pem), "holds no PEM certificate"),
    ] {
        let mut command = binary();
        command
            .env_clear()
            .env("SUPABASE_URL", "https://127.0.0.1:1")
            .env("SUPABASE_ANON_KEY", "anon")
            .env("PROXY_LISTEN", "127.0.0.1:0")
            .env("PROXY_SESSION_STORE", "memory:")
            .env("PROXY_UPSTREAM_CA", &ca);
        let (code, stderr) = exit_of(command);
        assert_eq!(code, Some(2), "{stderr}");
        let line = stderr
            .lines()
            .find(|l| l.starts_with("PROXY_UPSTREAM_CA: "))
            .unwrap_or_else(|| panic!("no PROXY_UPSTREAM_CA line in:\n{stderr}"));
        assert!(line.contains(says), "{line}");
    }
}
