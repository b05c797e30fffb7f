//! The stores at rest: sessions survive restarts and `kill -9` on the
//! embedded file store, and with `PROXY_STORE_KEY` a dump of the file or of
//! Redis holds no upstream token.

use crate::support;

use support::{Env, ProxyProcess, RedisServer, Setup};

const STORE_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const OTHER_STORE_KEY: &str = "__79_Pv6-fj39vX08_Lx8O_u7ezr6uno5-bl5OPi4eA";

/// The stub's tokens (every one it issued) that occur in `dump`.
fn tokens_in(env: &Env, dump: &[u8]) -> Vec<String> {
    let dump = String::from_utf8_lossy(dump);
    let issued = env.stub.issued_tokens();
    assert!(!issued.is_empty(), "the stub issued tokens");
    issued.into_iter().filter(|t| dump.contains(t)).collect()
}

/// Two sign-ins and a request on each; returns the browsers and user ids.
async fn two_sign_ins(env: &Env) -> Vec<(support::Browser, String)> {
    let mut signed_in = Vec::new();
    for email in ["vault-a@example.com", "vault-b@example.com"] {
        let (mut browser, user_id) = env.signed_in(email).await;
        assert_eq!(
            browser.get("/rest/v1/echo").await.json()["sub"],
            user_id.as_str()
        );
        signed_in.push((browser, user_id));
    }
    signed_in
}

#[tokio::test]
async fn a_file_store_dump_holds_no_upstream_token_with_a_store_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| dir.path().join(name);
    let store = |name: &str| format!("file:{}", file(name).display());

    // Without the key the file holds Auth's tokens (the check can fail).
    let clear = Env::with(Setup {
        settings: vec![("PROXY_SESSION_STORE", store("clear.redb"))],
        ..Setup::default()
    })
    .await;
    two_sign_ins(&clear).await;
    assert!(!tokens_in(&clear, &std::fs::read(file("clear.redb")).unwrap()).is_empty());

    let env = Env::with(Setup {
        settings: vec![
            ("PROXY_SESSION_STORE", store("sealed.redb")),
            ("PROXY_STORE_KEY", STORE_KEY.into()),
        ],
        ..Setup::default()
    })
    .await;
    let signed_in = two_sign_ins(&env).await;
    let dump = std::fs::read(file("sealed.redb")).unwrap();
    assert_eq!(
        tokens_in(&env, &dump),
        Vec::<String>::new(),
        "tokens in the file"
    );

    // With the key (alone, or after a new one) the sessions work after a restart.
    let env = env.restart().await;
    let rotated = format!("{OTHER_STORE_KEY},{STORE_KEY}");
    let env = env.restart_with(&[("PROXY_STORE_KEY", &rotated)]).await;
    for (browser, user_id) in &signed_in {
        let mut browser = env.browser().with_cookie(browser.cookie.clone());
        assert_eq!(browser.get("/edge/v1/session").await.status, 200);
        assert_eq!(
            browser.get("/rest/v1/echo").await.json()["sub"],
            user_id.as_str()
        );
    }

    // With the key no longer configured the session is gone: the cookie is anonymous.
    let env = env
        .restart_with(&[("PROXY_STORE_KEY", OTHER_STORE_KEY)])
        .await;
    let (browser, _) = &signed_in[0];
    let mut browser = env.browser().with_cookie(browser.cookie.clone());
    assert_eq!(browser.get("/edge/v1/session").await.status, 401);
    let echo = browser.get("/rest/v1/echo").await.json();
    assert_eq!(echo["role"], "anon", "{echo}");
}

#[tokio::test]
async fn a_redis_store_holds_no_upstream_token_with_a_store_key() {
    let redis = RedisServer::start();
    let (clear_url, url) = (redis.url().replace("/0", "/1"), redis.url());

    let clear = Env::with(Setup {
        settings: vec![("PROXY_SESSION_STORE", clear_url.clone())],
        ..Setup::default()
    })
    .await;
    two_sign_ins(&clear).await;
    assert!(!tokens_in(&clear, &support::redis_values(&clear_url).await).is_empty());

    let env = Env::with(Setup {
        settings: vec![
            ("PROXY_SESSION_STORE", url.clone()),
            ("PROXY_STORE_KEY", STORE_KEY.into()),
        ],
        ..Setup::default()
    })
    .await;
    let signed_in = two_sign_ins(&env).await;
    assert_eq!(
        tokens_in(&env, &support::redis_values(&url).await),
        Vec::<String>::new()
    );
    let env = env.restart().await;
    for (browser, user_id) in &signed_in {
        let mut browser = env.browser().with_cookie(browser.cookie.clone());
        assert_eq!(
            browser.get("/rest/v1/echo").await.json()["sub"],
            user_id.as_str()
        );
    }
}

#[test]
fn a_bad_store_key_stops_the_start_with_one_line_naming_it() {
    let mut command = support::binary();
    command
        .env_clear()
        .env("SUPABASE_URL", "http://127.0.0.1:9")
        .env("SUPABASE_ANON_KEY", "anon")
        .env("PROXY_SESSION_STORE", "memory:")
        .env("PROXY_STORE_KEY", "c2hvcnQ=");
    let (code, stderr) = support::exit_of(command);
    assert_eq!(code, Some(2));
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("PROXY_STORE_KEY"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("not 32 bytes"), "{stderr}");
    assert!(
        !stderr.contains("c2hvcnQ"),
        "the key is not printed: {stderr}"
    );
}

#[tokio::test]
async fn a_restart_on_a_file_store_keeps_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("file:{}", dir.path().join("sessions.redb").display());
    let env = Env::with(Setup {
        settings: vec![("PROXY_SESSION_STORE", store)],
        ..Setup::default()
    })
    .await;
    let (browser, user_id) = env.signed_in("durable@example.com").await;
    let env = env.restart().await;
    let mut browser = env.browser().with_cookie(browser.cookie);
    let session = browser.get("/edge/v1/session").await;
    assert_eq!(session.status, 200, "{}", session.text());
    assert_eq!(
        browser.get("/rest/v1/echo").await.json()["sub"],
        user_id.as_str()
    );
}

#[tokio::test]
async fn kill_dash_nine_loses_no_committed_session() {
    let dir = tempfile::tempdir().unwrap();
    let stub = sbp_stub::Stub::start(sbp_stub::StubConfig::default())
        .await
        .unwrap();
    stub.create_user("crash@example.com", "pw123456");
    let store = format!("file:{}", dir.path().join("s.redb").display());
    let settings = support::settings_for(
        &stub,
        vec![
            ("PROXY_AUTH_RATE_LIMIT", "off".into()),
            ("PROXY_SESSION_STORE", store),
        ],
    );

    let mut committed: Vec<String> = Vec::new();
    for round in 0..3u64 {
        let proxy = ProxyProcess::start(&settings);
        let base = proxy.base();
        let anon = stub.anon_key();
        // Sign-ins in parallel loops until the process is killed under them.
        let loops: Vec<_> = (0..4)
            .map(|_| {
                let (base, anon) = (base.clone(), anon.clone());
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    loop {
                        let mut b = support::Browser::new(&base, &anon, "sb-session");
                        let Some(reply) = b.try_sign_in("crash@example.com", "pw123456").await
                        else {
                            return got;
                        };
                        if reply == 200 {
                            got.extend(b.cookie);
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(400 + 150 * round)).await;
        proxy.kill();
        for l in loops {
            committed.extend(l.await.unwrap());
        }
        assert!(
            !committed.is_empty(),
            "round {round}: some sign-ins completed"
        );
    }

    let proxy = ProxyProcess::start(&settings);
    for cookie in &committed {
        let mut b = support::Browser::new(&proxy.base(), &stub.anon_key(), "sb-session");
        b.cookie = Some(cookie.clone());
        assert_eq!(
            b.get("/edge/v1/session").await.status,
            200,
            "a committed session was lost"
        );
    }
}
