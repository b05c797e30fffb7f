//! `sb-cookie-proxy sessions list|revoke`, the real binary against the
//! configured store: by each selector on a file store while the proxy is
//! stopped (and a clear error while it runs), and on Redis while a proxy
//! runs, which then refuses the revoked session and closes its Realtime
//! socket within a second.

use crate::support;

use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use support::websocket::{closed_as_ended, session_socket};
use support::{Browser, Env, Flavor, RedisCluster, RedisServer, Run, Setup, run};

/// How soon a running instance must see a revocation.
const WITHIN: Duration = Duration::from_secs(1);

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }

    /// The public ids in a `--json` answer, sorted.
    fn ids(&self) -> Vec<String> {
        let rows = self.json();
        let rows = rows.as_array().expect("a JSON array");
        let mut ids: Vec<String> = rows
            .iter()
            .map(|r| r["id"].as_str().expect("an id").to_string())
            .collect();
        ids.sort();
        ids
    }
}

fn sorted(ids: [&String; 2]) -> Vec<String> {
    let mut ids = ids.map(String::clone).to_vec();
    ids.sort();
    ids
}

/// A second browser session of a user who is already signed in elsewhere.
async fn another_session(env: &Env, email: &str) -> Browser {
    let mut browser = env.browser();
    let reply = browser.sign_in(email, "pw123456").await;
    assert_eq!(reply.status, 200, "sign-in: {}", reply.text());
    browser
}

/// The public id of `browser`'s session.
async fn session_id(browser: &mut Browser) -> String {
    let reply = browser.get("/edge/v1/session").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["id"].as_str().unwrap().to_string()
}

/// Fails if `printed` shows a cookie of `browsers` or a token the stub issued.
fn assert_no_secrets(stub: &sbp_stub::Stub, printed: &str, browsers: &[&Browser]) {
    for browser in browsers {
        let cookie = browser.cookie.as_deref().expect("signed in");
        assert!(!printed.contains(cookie), "a cookie was printed");
    }
    let tokens = stub.issued_tokens();
    assert!(!tokens.is_empty());
    for token in tokens {
        assert!(!printed.contains(&token), "a token was printed");
    }
}

#[tokio::test]
async fn lists_and_revokes_by_each_selector_on_a_file_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("file:{}", dir.path().join("sessions.redb").display());
    let env = Env::with(Setup {
        settings: vec![("PROXY_SESSION_STORE", store)],
        ..Setup::default()
    })
    .await;
    let (mut first, alice) = env.signed_in("alice@example.com").await;
    let mut second = another_session(&env, "alice@example.com").await;
    let (mut other, bob) = env.signed_in("bob@example.com").await;
    let (first_id, second_id) = (session_id(&mut first).await, session_id(&mut second).await);
    let bob_session = session_id(&mut other).await;
    let Env {
        stub,
        proxy,
        settings,
    } = env;
    proxy.shutdown().await;

    let by_user = run(&settings, &["sessions", "list", "--user", &alice, "--json"]).await;
    assert_eq!(by_user.code, Some(0), "{}", by_user.stderr);
    assert_eq!(by_user.ids(), sorted([&first_id, &second_id]));
    let row = &by_user.json()[0];
    assert_eq!(
        (&row["user_id"], &row["email"]),
        (&json!(alice), &json!("alice@example.com"))
    );
    for field in ["created_at", "last_seen_at", "expires_at"] {
        assert!(
            row[field].as_str().is_some_and(|t| t.ends_with('Z')),
            "{row}"
        );
    }
    let by_email = run(
        &settings,
        &["sessions", "list", "--email", "Alice@Example.com", "--json"],
    )
    .await;
    assert_eq!(by_email.code, Some(0), "{}", by_email.stderr);
    assert_eq!(by_email.ids(), sorted([&first_id, &second_id]));
    let lines = run(
        &settings,
        &["sessions", "list", "--email", "bob@example.com"],
    )
    .await;
    assert_eq!(lines.code, Some(0), "{}", lines.stderr);
    let lines: Vec<&str> = lines.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "a header and one session: {lines:?}");
    assert!(
        lines[1].starts_with(&format!("{bob_session}\t{bob}\tbob@example.com\t")),
        "{lines:?}"
    );

    let revoked = run(
        &settings,
        &["sessions", "revoke", "--session", &first_id, "--json"],
    )
    .await;
    assert_eq!(revoked.code, Some(0), "{}", revoked.stderr);
    assert_eq!(revoked.ids(), vec![first_id.clone()]);
    let left = run(&settings, &["sessions", "list", "--user", &alice, "--json"]).await;
    assert_eq!(left.ids(), vec![second_id.clone()]);
    let again = run(&settings, &["sessions", "revoke", "--session", &first_id]).await;
    assert_eq!(again.code, Some(1), "{}", again.stderr);
    assert!(
        again.stderr.contains("no live session has the id"),
        "{}",
        again.stderr
    );
    let revoked = run(
        &settings,
        &["sessions", "revoke", "--user", &alice, "--json"],
    )
    .await;
    assert_eq!(revoked.ids(), vec![second_id.clone()]);
    let left = run(&settings, &["sessions", "list", "--user", &alice, "--json"]).await;
    assert_eq!(left.ids(), Vec::<String>::new());
    let everything = format!("{}{}", by_user.stdout, by_email.stdout);
    assert_no_secrets(&stub, &everything, &[&first, &second, &other]);

    // Started again, the proxy refuses the revoked sessions and keeps Bob's.
    let proxy = support::start_proxy(&settings).await;
    let env = Env {
        stub,
        proxy,
        settings,
    };
    for (browser, status) in [(&first, 401), (&second, 401), (&other, 200)] {
        let mut browser = on_proxy(&env, browser);
        assert_eq!(browser.get("/edge/v1/session").await.status, status);
    }
}

/// A browser talking to `env`'s proxy with the cookie of `browser`.
fn on_proxy(env: &Env, browser: &Browser) -> Browser {
    let mut moved = env.browser();
    moved.cookie = browser.cookie.clone();
    moved
}

#[tokio::test]
async fn a_file_store_open_in_a_running_proxy_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.redb");
    let env = Env::with(Setup {
        settings: vec![("PROXY_SESSION_STORE", format!("file:{}", path.display()))],
        ..Setup::default()
    })
    .await;
    let (_, user) = env.signed_in("carol@example.com").await;
    for args in [
        ["sessions", "list", "--user", &user],
        ["sessions", "revoke", "--user", &user],
    ] {
        let run = run(&env.settings, &args).await;
        assert_eq!(run.code, Some(1), "{}", run.stderr);
        assert!(
            run.stderr.contains(&format!(
                "the file store {} is open in another process",
                path.display()
            )),
            "{}",
            run.stderr
        );
    }
    assert_eq!(env.browser().get("/auth/v1/health").await.status, 200);
}

#[tokio::test]
async fn a_memory_store_and_bad_usage_are_refused() {
    let settings: HashMap<String, String> = [
        ("SUPABASE_URL", "http://127.0.0.1:9"),
        ("SUPABASE_ANON_KEY", "anon"),
        ("PROXY_SESSION_STORE", "memory:"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let memory = run(&settings, &["sessions", "list", "--user", "u1"]).await;
    assert_eq!(memory.code, Some(1));
    assert!(
        memory.stderr.contains("PROXY_SESSION_STORE is memory:"),
        "{}",
        memory.stderr
    );
    for args in [
        &["sessions", "list"][..],
        &["sessions", "list", "--user", "a", "--email", "b"],
        &["sessions", "revoke", "--email", "b"],
        &["sessions", "revoke"],
    ] {
        let usage = run(&settings, args).await;
        assert_eq!(usage.code, Some(2), "{args:?}: {}", usage.stderr);
    }
}

/// Waits at most [`WITHIN`] after `since` for `browser`'s next request to be 401.
async fn refused_within_a_second(browser: &mut Browser, since: Instant) {
    loop {
        let status = browser.get("/edge/v1/session").await.status;
        if status == 401 {
            return;
        }
        assert_eq!(status, 200);
        assert!(
            since.elapsed() < WITHIN,
            "still signed in after {:?}",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_running_instance_on_redis_sees_a_revocation_within_a_second() {
    let redis = RedisServer::start();
    revocation_seen_within_a_second(redis.url()).await;
}

#[tokio::test]
async fn a_running_instance_on_a_redis_cluster_sees_a_revocation_within_a_second() {
    let redis = RedisCluster::start(Flavor::Redis).await;
    revocation_seen_within_a_second(redis.url()).await;
}

/// Lists by email and by user, and revokes by session and by user, with
/// the command, while an instance on the store at `store_url` runs.
async fn revocation_seen_within_a_second(store_url: String) {
    let env = Env::with(Setup {
        settings: vec![("PROXY_SESSION_STORE", store_url)],
        ..Setup::default()
    })
    .await;
    let (mut first, dave) = env.signed_in("dave@example.com").await;
    let mut second = another_session(&env, "dave@example.com").await;
    let (mut other, _) = env.signed_in("erin@example.com").await;
    let first_id = session_id(&mut first).await;
    let second_id = session_id(&mut second).await;
    let mut first_socket = session_socket(
        env.proxy.addr,
        first.cookie.as_deref().expect("signed in"),
        "realtime:admin",
    )
    .await;
    let mut second_socket = session_socket(
        env.proxy.addr,
        second.cookie.as_deref().expect("signed in"),
        "realtime:admin",
    )
    .await;

    let by_email = run(
        &env.settings,
        &["sessions", "list", "--email", "dave@example.com", "--json"],
    )
    .await;
    assert_eq!(by_email.code, Some(0), "{}", by_email.stderr);
    assert_eq!(by_email.ids(), sorted([&first_id, &second_id]));
    let by_user = run(&env.settings, &["sessions", "list", "--user", &dave]).await;
    assert_eq!(by_user.stdout.lines().count(), 3, "{}", by_user.stdout);
    assert_no_secrets(
        &env.stub,
        &format!("{}{}", by_email.stdout, by_user.stdout),
        &[&first, &second],
    );

    let revoked = run(
        &env.settings,
        &["sessions", "revoke", "--session", &first_id, "--json"],
    )
    .await;
    let since = Instant::now();
    assert_eq!(revoked.code, Some(0), "{}", revoked.stderr);
    assert_eq!(revoked.ids(), [first_id]);
    closed_as_ended(&mut first_socket, since, WITHIN).await;
    refused_within_a_second(&mut first, since).await;
    assert_eq!(second.get("/edge/v1/session").await.status, 200);

    let revoked = run(
        &env.settings,
        &["sessions", "revoke", "--user", &dave, "--json"],
    )
    .await;
    let since = Instant::now();
    assert_eq!(revoked.ids(), [second_id]);
    closed_as_ended(&mut second_socket, since, WITHIN).await;
    refused_within_a_second(&mut second, since).await;
    assert_eq!(other.get("/edge/v1/session").await.status, 200);
}
