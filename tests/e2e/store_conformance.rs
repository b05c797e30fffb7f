//! One conformance suite, run against every store backend: its operations,
//! deletes racing with touches and reads ([`races`]), what the stores
//! keep at rest ([`at_rest`]), and user writes apart from tokens, the Auth
//! session index and hook call ids ([`users`]).

mod at_rest;
mod races;
mod users;
use crate::support;

use sb_cookie_proxy::store::{FileStore, MemoryStore, RedisStore, Store};
use sbp_core::session::{
    NewSession, Session, SessionKey, SessionStore, TokenSeal, UpstreamTokens, UserObject,
};
use support::{Flavor, RedisCluster, RedisServer};

/// A base time near the real clock: Redis expires keys by its own clock.
pub fn t0() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn session(id: &str, user: &str, now: i64) -> Session {
    Session::new(
        NewSession {
            id: id.into(),
            user_id: user.into(),
            user: serde_json::json!({"id": user}).into(),
            auth_session_id: Some(format!("auth-{id}")),
            tokens: UpstreamTokens {
                access_token: format!("access-{id}"),
                refresh_token: format!("refresh-{id}"),
                issued_at: now,
                expires_at: now + 3600,
            },
            ip: Some("127.0.0.1".into()),
            user_agent: Some("suite".into()),
            country: Some("NL".into()),
        },
        now,
        1000,
        100,
    )
}

pub fn key(name: &str) -> SessionKey {
    SessionKey::from_stored(name)
}

/// Every property a backend must have. Keys are made unique per run so a
/// shared server can hold several runs.
pub async fn run(store: &impl SessionStore) {
    let t = t0();
    store.ping().await.unwrap();
    assert_eq!(store.get(&key("missing")).await.unwrap(), None);

    // insert / get round trip
    let a1 = session("a1", "alice", t);
    store.insert(&key("k-a1"), &a1).await.unwrap();
    assert_eq!(store.get(&key("k-a1")).await.unwrap().as_deref(), Some(&a1));

    // insert under an existing key replaces, and moves the user index
    let moved = session("a1", "bob", t);
    store.insert(&key("k-a1"), &moved).await.unwrap();
    assert!(store.list_user("alice").await.unwrap().is_empty());
    assert_eq!(store.list_user("bob").await.unwrap().len(), 1);
    store.insert(&key("k-a1"), &a1).await.unwrap();

    // per-user listing
    store
        .insert(&key("k-a2"), &session("a2", "alice", t))
        .await
        .unwrap();
    store
        .insert(&key("k-b1"), &session("b1", "bob", t))
        .await
        .unwrap();
    let mut alice: Vec<String> = store
        .list_user("alice")
        .await
        .unwrap()
        .into_iter()
        .map(|(k, s)| format!("{}={}", k.as_str(), s.id))
        .collect();
    alice.sort();
    assert_eq!(alice, ["k-a1=a1", "k-a2=a2"]);

    // token update changes tokens and user only
    let tokens = UpstreamTokens {
        access_token: "new-access".into(),
        refresh_token: "new-refresh".into(),
        issued_at: t + 50,
        expires_at: t + 3650,
    };
    let user = UserObject::from(serde_json::json!({"id": "alice", "email": "new@example.com"}));
    assert!(
        store
            .update_tokens(&key("k-a1"), &tokens, Some(&user), None)
            .await
            .unwrap()
    );
    let updated = store.get(&key("k-a1")).await.unwrap().unwrap();
    assert_eq!(updated.tokens, tokens);
    assert_eq!(updated.user, user);
    assert_eq!(updated.created_at, a1.created_at);
    assert!(
        !store
            .update_tokens(&key("missing"), &tokens, Some(&user), None)
            .await
            .unwrap()
    );

    // touch changes only the last-seen fields and keeps new tokens
    let answered = store.touch(&key("k-a1"), t + 40, t + 140).await.unwrap();
    let touched = store.get(&key("k-a1")).await.unwrap().unwrap();
    assert_eq!(
        (touched.last_seen_at, touched.idle_expires_at),
        (t + 40, t + 140)
    );
    assert_eq!(touched.tokens, tokens);
    assert_eq!(
        answered,
        Some(touched),
        "touch answers with the stored session"
    );
    // a touch of a session that is gone changes nothing and does not bring it back
    assert_eq!(
        store.touch(&key("missing"), t + 40, t + 140).await.unwrap(),
        None
    );
    assert_eq!(store.get(&key("missing")).await.unwrap(), None);
    assert!(store.list_user("nobody").await.unwrap().is_empty());

    // remove returns the session and drops it from the index
    let removed = store.remove(&key("k-a2")).await.unwrap().unwrap();
    assert_eq!(removed.id, "a2");
    assert_eq!(store.remove(&key("k-a2")).await.unwrap(), None);
    assert_eq!(store.list_user("alice").await.unwrap().len(), 1);

    // sweep removes exactly the expired sessions (idle end 100, a1 touched to 140)
    assert_eq!(store.sweep(t + 99).await.unwrap(), 0);
    assert_eq!(
        store.sweep(t + 120).await.unwrap(),
        1,
        "b1 idled out at 100"
    );
    assert_eq!(store.get(&key("k-b1")).await.unwrap(), None);
    assert!(store.list_user("bob").await.unwrap().is_empty());
    assert!(store.get(&key("k-a1")).await.unwrap().is_some());
    assert_eq!(store.sweep(t + 2000).await.unwrap(), 1);
    assert!(store.list_user("alice").await.unwrap().is_empty());

    users::run(store, store).await;
}

#[tokio::test]
async fn memory_store_conforms() {
    let store = MemoryStore::default();
    run(&store).await;
    users::hook_ids(&store, &MemoryStore::default(), false).await;
}

#[tokio::test]
async fn file_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/sessions.redb");
    let store = FileStore::open(&path, TokenSeal::none()).unwrap();
    run(&store).await;
    let other = dir.path().join("other.redb");
    users::hook_ids(
        &store,
        &FileStore::open(&other, TokenSeal::none()).unwrap(),
        false,
    )
    .await;
}

async fn redis_store_conforms(flavor: Flavor) {
    let redis = RedisServer::of(flavor);
    run(&RedisStore::open(&redis.url(), "suite".into(), TokenSeal::none()).unwrap()).await;
}

async fn two_redis_instances_write_users_and_tokens_apart_and_share_hook_ids(flavor: Flavor) {
    let redis = RedisServer::of(flavor);
    let a = RedisStore::open(&redis.url(), "a".into(), TokenSeal::none()).unwrap();
    let b = RedisStore::open(&redis.url(), "b".into(), TokenSeal::none()).unwrap();
    users::run(&a, &b).await;
    users::hook_ids(&a, &b, true).await;
}

#[tokio::test]
async fn a_sealing_file_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.redb");
    run(&FileStore::open(&path, at_rest::seal(at_rest::KEY)).unwrap()).await;
}

async fn a_sealing_redis_store_conforms(flavor: Flavor) {
    let redis = RedisServer::of(flavor);
    let seal = at_rest::seal(at_rest::KEY);
    run(&RedisStore::open(&redis.url(), "suite".into(), seal).unwrap()).await;
}

/// A fresh session for the race suite, ending well after now.
fn race_session(id: &str) -> Session {
    session(id, "racer", t0())
}

#[tokio::test]
async fn memory_store_deletes_win_races() {
    races::run(Store::Memory(MemoryStore::default()), race_session).await;
}

#[tokio::test]
async fn file_store_deletes_win_races() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(&dir.path().join("s.redb"), TokenSeal::none()).unwrap();
    races::run(Store::File(store), race_session).await;
}

async fn redis_store_deletes_win_races(flavor: Flavor) {
    let redis = RedisServer::of(flavor);
    let store = RedisStore::open(&redis.url(), "suite".into(), TokenSeal::none()).unwrap();
    races::run(Store::Redis(Box::new(store)), race_session).await;
}

#[tokio::test]
async fn file_store_keeps_sessions_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.redb");
    let s = session("p1", "carol", t0());
    {
        let store = FileStore::open(&path, TokenSeal::none()).unwrap();
        store.insert(&key("k-p1"), &s).await.unwrap();
    }
    let store = FileStore::open(&path, TokenSeal::none()).unwrap();
    assert_eq!(store.get(&key("k-p1")).await.unwrap().as_deref(), Some(&s));
    assert_eq!(store.list_user("carol").await.unwrap().len(), 1);
}

#[tokio::test]
async fn file_store_reports_an_unusable_path() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let err = FileStore::open(&blocker.join("sessions.redb"), TokenSeal::none())
        .err()
        .unwrap();
    assert!(err.to_string().contains("cannot create"), "{err}");
}

/// Every suite of the single server, on a cluster of three primaries.
async fn redis_cluster_store_conforms(flavor: Flavor) {
    let cluster = RedisCluster::start(flavor).await;
    let open =
        |instance: &str, seal| RedisStore::open(&cluster.url(), instance.into(), seal).unwrap();
    run(&open("suite", TokenSeal::none())).await;
    run(&open("sealed", at_rest::seal(at_rest::KEY))).await;
    races::run(
        Store::Redis(Box::new(open("races", TokenSeal::none()))),
        race_session,
    )
    .await;
    let (a, b) = (open("a", TokenSeal::none()), open("b", TokenSeal::none()));
    users::run(&a, &b).await;
    users::hook_ids(&a, &b, true).await;
}

crate::on_redis_and_valkey!(
    redis_store_conforms,
    redis_cluster_store_conforms,
    two_redis_instances_write_users_and_tokens_apart_and_share_hook_ids,
    a_sealing_redis_store_conforms,
    redis_store_deletes_win_races,
);
