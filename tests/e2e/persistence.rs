//! The embedded file store: sessions survive restarts and `kill -9`.

mod support;

use support::{Env, ProxyProcess, Setup};

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
