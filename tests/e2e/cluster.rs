//! Several proxies sharing one Redis: one truth about every session,
//! revocation everywhere within a second, one refresh in the whole cluster,
//! and a Redis outage that degrades without wrong answers; each on Redis
//! and on Valkey, on one server and (but the outage) on a Redis Cluster,
//! where a primary killed under load fails over without a wrong answer.

use crate::support;

use http::Method;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use support::{Browser, Env, Flavor, RedisCluster, RedisServer, Setup};

/// Two proxies sharing the store at `store_url`.
async fn cluster(store_url: String, token_ttl: u64) -> (Env, sb_cookie_proxy::RunningProxy) {
    let env = Env::with(Setup {
        token_ttl,
        settings: vec![
            ("PROXY_SESSION_STORE", store_url),
            ("PROXY_STORE_GRACE", "30s".into()),
        ],
        ..Setup::default()
    })
    .await;
    let second = support::start_proxy(&env.settings).await;
    (env, second)
}

/// A browser talking to `proxy` with the same cookie as `other`.
fn on(env: &Env, proxy: &sb_cookie_proxy::RunningProxy, other: &Browser) -> Browser {
    let mut browser = Browser::new(
        &format!("http://{}", proxy.addr),
        &env.stub.anon_key(),
        "sb-session",
    );
    browser.cookie = other.cookie.clone();
    browser
}

async fn a_session_made_on_one_instance_works_and_dies_on_the_other(flavor: Flavor) {
    let redis = RedisServer::of(flavor);
    one_session_on_two_instances(redis.url()).await;
}

async fn a_session_made_on_one_instance_works_and_dies_on_the_other_on_a_cluster(flavor: Flavor) {
    let redis = RedisCluster::start(flavor).await;
    one_session_on_two_instances(redis.url()).await;
}

async fn one_session_on_two_instances(store_url: String) {
    let (env, b) = cluster(store_url, 3600).await;
    let (mut on_a, user_id) = env.signed_in("shared@example.com").await;
    let mut on_b = on(&env, &b, &on_a);
    let me = on_b.get("/edge/v1/session").await;
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(
        on_b.get("/rest/v1/echo").await.json()["sub"],
        user_id.as_str()
    );

    // Revoked on A; B (which has it cached) refuses it within a second.
    let id = me.json()["id"].as_str().unwrap().to_string();
    let revoked = on_a
        .send(Method::DELETE, &format!("/edge/v1/sessions/{id}"), &[], "")
        .await;
    assert_eq!(revoked.status, 200);
    let started = Instant::now();
    loop {
        let mut probe = on(&env, &b, &on_b);
        if probe.get("/edge/v1/session").await.status == 401 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "B still accepts the revoked session"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        on(&env, &b, &on_b).get("/rest/v1/echo").await.json()["role"],
        "anon"
    );

    // Sign-out on B ends the session A knows.
    let (on_a, _) = env.signed_in("second@example.com").await;
    let mut on_b = on(&env, &b, &on_a);
    let mut on_a = on_a;
    assert_eq!(on_a.get("/edge/v1/session").await.status, 200);
    assert_eq!(
        on_b.post_json("/auth/v1/logout", serde_json::json!({}))
            .await
            .status,
        204
    );
    let started = Instant::now();
    while on(&env, &env.proxy, &on_a)
        .get("/edge/v1/session")
        .await
        .status
        != 401
    {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "A still accepts a session signed out on B"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    on_a.cookie = None;
    b.shutdown().await;
}

async fn fifty_requests_split_across_instances_cause_one_refresh(flavor: Flavor) {
    let redis = RedisServer::of(flavor);
    one_refresh_for_two_instances(redis.url()).await;
}

async fn fifty_requests_split_across_instances_cause_one_refresh_on_a_cluster(flavor: Flavor) {
    let redis = RedisCluster::start(flavor).await;
    one_refresh_for_two_instances(redis.url()).await;
}

async fn one_refresh_for_two_instances(store_url: String) {
    let (env, b) = cluster(store_url, 8).await;
    let (on_a, _) = env.signed_in("split@example.com").await;
    // Both instances cache the session before it needs a refresh.
    assert_eq!(
        on(&env, &b, &on_a).get("/edge/v1/session").await.status,
        200
    );
    support::clock::expired(support::clock::last_access_token_exp(&env.stub)).await;
    env.stub
        .faults()
        .refresh_delay_ms
        .store(300, Ordering::SeqCst);
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let proxy = if i % 2 == 0 { &env.proxy } else { &b };
            let mut browser = on(&env, proxy, &on_a);
            tokio::spawn(async move { browser.get("/rest/v1/echo").await })
        })
        .collect();
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.json()["role"], "authenticated");
    }
    assert_eq!(
        env.stub.refresh_count(),
        1,
        "one refresh in the whole cluster"
    );
    b.shutdown().await;
}

async fn a_redis_outage_degrades_without_wrong_answers_and_recovers(flavor: Flavor) {
    let mut redis = RedisServer::of(flavor);
    let (env, b) = cluster(redis.url(), 3600).await;
    let (mut browser, user_id) = env.signed_in("outage@example.com").await;
    assert_eq!(
        browser.get("/rest/v1/echo").await.json()["sub"],
        user_id.as_str()
    );

    // Load on both instances for the whole outage: every answer is the
    // right user or a clear 503, never another identity, never a 500.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = [&env.proxy, &b, &env.proxy, &b]
        .into_iter()
        .map(|proxy| {
            let (mut client, stop, user_id) =
                (on(&env, proxy, &browser), stop.clone(), user_id.clone());
            tokio::spawn(async move {
                let mut answers = 0;
                while !stop.load(Ordering::SeqCst) {
                    let reply = client.get("/rest/v1/echo").await;
                    match reply.status {
                        200 => assert_eq!(reply.json()["sub"], user_id.as_str(), "wrong identity"),
                        503 => assert_eq!(reply.json()["error"], "store_unavailable"),
                        other => panic!("unexpected {other}: {}", reply.text()),
                    }
                    answers += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                answers
            })
        })
        .collect();

    redis.kill();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        let reply = browser.get("/rest/v1/echo").await;
        assert_eq!(
            reply.status,
            200,
            "a cached session keeps working: {}",
            reply.text()
        );
        assert_eq!(reply.json()["sub"], user_id.as_str());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let health = browser.get("/edge/v1/health").await;
    assert_eq!(health.status, 503);
    env.stub.create_user("during@example.com", "pw123456");
    let started = Instant::now();
    let mut newcomer = env.browser();
    let sign_in = newcomer.sign_in("during@example.com", "pw123456").await;
    assert_eq!(sign_in.status, 503, "{}", sign_in.text());
    assert_eq!(sign_in.json()["error"], "store_unavailable");
    assert!(started.elapsed() < Duration::from_secs(5), "no hang");
    assert!(newcomer.cookie.is_none());

    redis.restart();
    let started = Instant::now();
    while browser.get("/edge/v1/health").await.status != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no recovery after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for task in load {
        assert!(task.await.unwrap() > 10, "the load ran through the outage");
    }
    assert_eq!(
        newcomer
            .sign_in("during@example.com", "pw123456")
            .await
            .status,
        200
    );
    assert_eq!(
        on(&env, &b, &browser).get("/rest/v1/echo").await.json()["sub"],
        user_id.as_str()
    );
    assert_eq!(
        on(&env, &b, &newcomer).get("/edge/v1/session").await.status,
        200
    );
    b.shutdown().await;
}

/// Users signed in through two proxies on a cluster, their requests
/// alternating between the two while the primary the proxies subscribed
/// to is killed: every answer is the right user or a clear 503 (never
/// another identity, never a 401), the replica takes over, and afterwards
/// every session works, sign-ins work and a revocation reaches both.
async fn a_primary_killed_under_load_fails_over_without_a_wrong_answer(flavor: Flavor) {
    let mut redis = RedisCluster::start(flavor).await;
    let (env, b) = cluster(redis.url(), 3600).await;
    let mut users = Vec::new();
    for n in 0..12 {
        users.push(env.signed_in(&format!("failover-{n}@example.com")).await);
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(n, (browser, user_id))| {
            let mut clients = [on(&env, &env.proxy, browser), on(&env, &b, browser)];
            let (stop, user_id) = (stop.clone(), user_id.clone());
            tokio::spawn(async move {
                let (mut served, mut refused) = (0, 0);
                for round in 0.. {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    // A new session look-up now and then, past the cache.
                    let path = if round % 5 == 0 {
                        "/edge/v1/sessions"
                    } else {
                        "/rest/v1/echo"
                    };
                    let reply = clients[(n + round) % 2].get(path).await;
                    match reply.status {
                        200 if path == "/rest/v1/echo" => {
                            assert_eq!(reply.json()["sub"], user_id.as_str(), "wrong identity");
                            served += 1;
                        }
                        200 => served += 1,
                        503 => {
                            assert_eq!(reply.json()["error"], "store_unavailable");
                            refused += 1;
                        }
                        other => panic!("unexpected {other} on {path}: {}", reply.text()),
                    }
                    tokio::time::sleep(Duration::from_millis(15)).await;
                }
                (served, refused)
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(500)).await;
    // The first node is a primary and the one both proxies follow
    // revocations through.
    redis.nodes[0].kill();
    redis.until_ok().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let (mut served, mut refused) = (0, 0);
    for task in load {
        let (s, r) = task.await.unwrap();
        (served, refused) = (served + s, refused + r);
    }
    eprintln!("fail-over under load: {served} answers served, {refused} refused with 503");
    assert!(served > 100, "the load ran: {served} answers");

    for (browser, user_id) in &users {
        for proxy in [&env.proxy, &b] {
            let reply = on(&env, proxy, browser).get("/rest/v1/echo").await;
            assert_eq!(reply.status, 200, "after the fail-over: {}", reply.text());
            assert_eq!(reply.json()["sub"], user_id.as_str());
        }
    }
    let (newcomer, _) = env.signed_in("after-failover@example.com").await;
    assert_eq!(
        on(&env, &b, &newcomer).get("/edge/v1/session").await.status,
        200
    );
    let (mut revoked, _) = users.remove(0);
    let on_b = on(&env, &b, &revoked);
    assert_eq!(
        revoked
            .post_json("/auth/v1/logout", serde_json::json!({}))
            .await
            .status,
        204
    );
    let started = Instant::now();
    while on(&env, &b, &on_b).get("/edge/v1/session").await.status != 401 {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "B still accepts a session signed out on A after the fail-over"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    b.shutdown().await;
}

crate::on_redis_and_valkey!(
    a_session_made_on_one_instance_works_and_dies_on_the_other,
    a_session_made_on_one_instance_works_and_dies_on_the_other_on_a_cluster,
    fifty_requests_split_across_instances_cause_one_refresh,
    fifty_requests_split_across_instances_cause_one_refresh_on_a_cluster,
    a_redis_outage_degrades_without_wrong_answers_and_recovers,
    a_primary_killed_under_load_fails_over_without_a_wrong_answer,
);
