//! What the file and Redis stores keep at rest: a file only its owner can
//! read, and with `PROXY_STORE_KEY` no upstream token in the bytes a dump
//! holds; sessions written before the key was set still read and are sealed
//! when next written; a session sealed with a key no longer set is gone.

use super::{key, session, t0};
use redb::{ReadableDatabase, TableDefinition};
use sb_cookie_proxy::store::{FileStore, RedisStore};
use sbp_core::env::RandomSource;
use sbp_core::session::{
    Session, SessionStore, StoreKeys, TokenSeal, UpstreamTokens, UserObject, is_sealed,
};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const OTHER_KEY: &str = "__79_Pv6-fj39vX08_Lx8O_u7ezr6uno5-bl5OPi4eA";

/// Distinct bytes on every call (nonces must not repeat; secrecy does not
/// matter in a test).
#[derive(Default)]
struct Counter(AtomicU64);
impl RandomSource for Counter {
    fn fill(&self, buf: &mut [u8]) {
        let n = self.0.fetch_add(1, Ordering::Relaxed).to_le_bytes();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = n[i % 8] ^ (i as u8);
        }
    }
}

pub fn seal(keys: &str) -> TokenSeal {
    TokenSeal::new(
        Some(StoreKeys::parse(keys).unwrap()),
        Arc::new(Counter::default()),
    )
}

/// Writes sessions the way the proxy does (sign-ins, a refresh, a touch)
/// and returns every token string they ever held.
async fn sign_ins(store: &impl SessionStore) -> Vec<String> {
    let t = t0();
    let mut tokens = Vec::new();
    for id in ["d1", "d2", "d3"] {
        let s = session(id, "dana", t);
        tokens.extend([
            s.tokens.access_token.clone(),
            s.tokens.refresh_token.clone(),
        ]);
        store.insert(&key(&format!("k-{id}")), &s).await.unwrap();
    }
    let refreshed = UpstreamTokens {
        access_token: "refreshed-access-d1".into(),
        refresh_token: "refreshed-refresh-d1".into(),
        issued_at: t,
        expires_at: t + 3600,
    };
    tokens.extend([
        refreshed.access_token.clone(),
        refreshed.refresh_token.clone(),
    ]);
    let user = UserObject::from(serde_json::json!({"id": "dana", "email": "dana@example.com"}));
    assert!(
        store
            .update_tokens(&key("k-d1"), &refreshed, Some(&user), None)
            .await
            .unwrap()
    );
    assert!(
        store
            .touch(&key("k-d2"), t + 60, t + 160)
            .await
            .unwrap()
            .is_some()
    );
    tokens
}

fn tokens_in<'a>(dump: &[u8], tokens: &'a [String]) -> Vec<&'a str> {
    let dump = String::from_utf8_lossy(dump);
    tokens
        .iter()
        .map(String::as_str)
        .filter(|t| dump.contains(t))
        .collect()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn the_file_store_is_private_to_its_owner() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/nested/sessions.redb");
    drop(FileStore::open(&path, TokenSeal::none()).unwrap());
    assert_eq!(mode(&path), 0o600, "the database file");
    assert_eq!(
        mode(&dir.path().join("data")),
        0o700,
        "a folder the proxy made"
    );
    assert_eq!(mode(&dir.path().join("data/nested")), 0o700);

    // A file others could read is made private when opened.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(FileStore::open(&path, TokenSeal::none()).unwrap());
    assert_eq!(mode(&path), 0o600);
}

/// The sessions table read directly, as a dump would.
fn stored_rows(path: &Path) -> Vec<Session> {
    const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
    let db = redb::Database::create(path).unwrap();
    let txn = db.begin_read().unwrap();
    let table = txn.open_table(SESSIONS).unwrap();
    let rows = redb::ReadableTable::iter(&table).unwrap();
    rows.map(|row| Session::from_bytes(row.unwrap().1.value()).unwrap())
        .collect()
}

#[tokio::test]
async fn a_file_dump_holds_no_token_with_a_key() {
    let dir = tempfile::tempdir().unwrap();

    // Without a key the dump holds the tokens (so the check below can fail).
    let clear = dir.path().join("clear.redb");
    let tokens = sign_ins(&FileStore::open(&clear, TokenSeal::none()).unwrap()).await;
    let found = tokens_in(&std::fs::read(&clear).unwrap(), &tokens);
    assert!(
        !found.is_empty(),
        "tokens are stored in clear without a key"
    );

    let path = dir.path().join("sealed.redb");
    let tokens = sign_ins(&FileStore::open(&path, seal(KEY)).unwrap()).await;
    let dump = std::fs::read(&path).unwrap();
    assert_eq!(
        tokens_in(&dump, &tokens),
        Vec::<&str>::new(),
        "tokens in the dump"
    );
    assert!(
        String::from_utf8_lossy(&dump).contains("dana@example.com"),
        "user objects are not sealed"
    );

    // With the key they read; with the key rotated in front, too.
    let store = FileStore::open(&path, seal(KEY)).unwrap();
    let d1 = store.get(&key("k-d1")).await.unwrap().unwrap();
    assert_eq!(d1.tokens.access_token, "refreshed-access-d1");
    assert_eq!(store.list_user("dana").await.unwrap().len(), 3);
    drop(store);
    let rotated = FileStore::open(&path, seal(&format!("{OTHER_KEY},{KEY}"))).unwrap();
    assert_eq!(
        rotated
            .get(&key("k-d3"))
            .await
            .unwrap()
            .unwrap()
            .tokens
            .access_token,
        "access-d3"
    );
    // A touch seals again with the first key.
    assert!(
        rotated
            .touch(&key("k-d3"), t0() + 1, t0() + 90)
            .await
            .unwrap()
            .is_some()
    );
    drop(rotated);

    // A key no longer configured: those sessions are gone, nothing panics.
    let other = FileStore::open(&path, seal(OTHER_KEY)).unwrap();
    assert!(
        other.get(&key("k-d3")).await.unwrap().is_some(),
        "resealed with the new key"
    );
    assert_eq!(other.get(&key("k-d1")).await.unwrap(), None);
    assert_eq!(other.list_user("dana").await.unwrap().len(), 1);
    assert_eq!(
        other.touch(&key("k-d2"), t0(), t0() + 90).await.unwrap(),
        None
    );
    let user = UserObject::from(serde_json::json!({"id": "dana"}));
    let d1_tokens = d1.tokens.clone();
    assert!(
        !other
            .update_tokens(&key("k-d2"), &d1_tokens, Some(&user), None)
            .await
            .unwrap()
    );
    assert_eq!(other.remove(&key("k-d1")).await.unwrap(), None);
    drop(other);
    let unset = FileStore::open(&path, TokenSeal::none()).unwrap();
    assert_eq!(
        unset.get(&key("k-d2")).await.unwrap(),
        None,
        "sealed, and no key set"
    );
}

#[tokio::test]
async fn file_sessions_from_before_the_key_read_and_are_sealed_when_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let s = session("old", "olga", t0());
    {
        let store = FileStore::open(&path, TokenSeal::none()).unwrap();
        store.insert(&key("k-old"), &s).await.unwrap();
    }
    let store = FileStore::open(&path, seal(KEY)).unwrap();
    assert_eq!(store.get(&key("k-old")).await.unwrap().as_deref(), Some(&s));
    drop(store);
    assert!(!is_sealed(
        &stored_rows(&path).pop().unwrap().tokens.access_token
    ));
    let store = FileStore::open(&path, seal(KEY)).unwrap();
    store
        .touch(&key("k-old"), t0() + 60, t0() + 160)
        .await
        .unwrap();
    drop(store);
    let row = stored_rows(&path).pop().unwrap();
    assert!(is_sealed(&row.tokens.access_token) && is_sealed(&row.tokens.refresh_token));
    let store = FileStore::open(&path, seal(KEY)).unwrap();
    assert_eq!(
        store.get(&key("k-old")).await.unwrap().unwrap().tokens,
        s.tokens
    );
}

#[tokio::test]
async fn a_redis_dump_holds_no_token_with_a_key() {
    let redis = support::RedisServer::start();
    let (clear_url, url) = (redis.url().replace("/0", "/1"), redis.url());

    let clear = RedisStore::open(&clear_url, "a".into(), TokenSeal::none()).unwrap();
    let tokens = sign_ins(&clear).await;
    assert!(
        !tokens_in(&support::redis_values(&clear_url).await, &tokens).is_empty(),
        "in clear without a key"
    );

    let store = RedisStore::open(&url, "a".into(), seal(KEY)).unwrap();
    let tokens = sign_ins(&store).await;
    let dump = support::redis_values(&url).await;
    assert_eq!(
        tokens_in(&dump, &tokens),
        Vec::<&str>::new(),
        "tokens in Redis"
    );
    let d1 = store.get(&key("k-d1")).await.unwrap().unwrap();
    assert_eq!(d1.tokens.access_token, "refreshed-access-d1");
    assert_eq!(store.list_user("dana").await.unwrap().len(), 3);

    let other = RedisStore::open(&url, "b".into(), seal(OTHER_KEY)).unwrap();
    assert_eq!(
        other.get(&key("k-d1")).await.unwrap(),
        None,
        "a key no longer set"
    );
    assert!(other.list_user("dana").await.unwrap().is_empty());
    assert_eq!(
        other.touch(&key("k-d2"), t0(), t0() + 90).await.unwrap(),
        None
    );

    // A session written in clear reads with the key and is sealed (its
    // sign-in copy too) by its next token write.
    let s = session("old", "olga", t0());
    clear.insert(&key("k-old"), &s).await.unwrap();
    let sealing = RedisStore::open(&clear_url, "c".into(), seal(KEY)).unwrap();
    assert_eq!(
        sealing.get(&key("k-old")).await.unwrap().as_deref(),
        Some(&s)
    );
    let fresh = UpstreamTokens {
        access_token: "access-old-2".into(),
        refresh_token: "refresh-old-2".into(),
        ..s.tokens.clone()
    };
    assert!(
        sealing
            .update_tokens(&key("k-old"), &fresh, Some(&s.user), None)
            .await
            .unwrap()
    );
    let client = redis::Client::open(clear_url.as_str()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let hash: Vec<String> = redis::cmd("HGETALL")
        .arg("sbp:s:k-old")
        .query_async(&mut c)
        .await
        .unwrap();
    let hash = hash.concat();
    for token in [
        &s.tokens.access_token,
        &s.tokens.refresh_token,
        &fresh.access_token,
    ] {
        assert!(
            !hash.contains(token.as_str()),
            "{token} still in clear: {hash}"
        );
    }
    assert_eq!(
        sealing.get(&key("k-old")).await.unwrap().unwrap().tokens,
        fresh
    );

    // ... or by its next touch.
    let s = session("old2", "olga", t0());
    clear.insert(&key("k-old2"), &s).await.unwrap();
    let touched = sealing
        .touch(&key("k-old2"), t0() + 60, t0() + 160)
        .await
        .unwrap();
    assert_eq!(touched.unwrap().tokens, s.tokens);
    let hash: Vec<String> = redis::cmd("HGETALL")
        .arg("sbp:s:k-old2")
        .query_async(&mut c)
        .await
        .unwrap();
    let hash = hash.concat();
    for token in [&s.tokens.access_token, &s.tokens.refresh_token] {
        assert!(
            !hash.contains(token.as_str()),
            "{token} still in clear: {hash}"
        );
    }
    assert_eq!(
        sealing.get(&key("k-old2")).await.unwrap().unwrap().tokens,
        s.tokens
    );
    assert_eq!(
        clear.get(&key("k-old2")).await.unwrap(),
        None,
        "sealed: no key, no session"
    );
}

use super::support;
