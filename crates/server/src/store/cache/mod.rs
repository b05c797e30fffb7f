//! A bounded in-process cache in front of the session store.
//!
//! Reads are served from memory when possible; every write goes to the store
//! first and then to the cache, so the cache never holds something the store
//! refused. A fill that raced with another change of the same session (a
//! touch or a read under way while the session was deleted) is refused
//! ([`ledger`]), so a deleted session is never put back. When other
//! processes share the store, entries also have a short lifetime (a safety
//! net behind the store's eviction messages), and while the store is
//! unreachable an entry keeps serving for a grace period.
//!
//! The cache is generic over the store behind it ([`CachedStore`]), so the
//! session service's tests can put a store of their own behind it.

mod ledger;

use crate::metrics::{CacheMetrics, StoreMetrics, StoreOp};
use ledger::Ledger;
use sbp_core::env::UnixSeconds;
use sbp_core::session::{Session, SessionKey, StoreError, UpstreamTokens, UserObject};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a cached session is trusted when other processes share the store.
const SHARED_LIFETIME: Duration = Duration::from_secs(10);

/// The store behind the cache: a [`sbp_core::session::SessionStore`]'s operations with
/// futures that may move between threads (so the session service can run
/// them in tasks of its own), and what the cache needs to know about it.
pub trait CachedStore: Send + Sync + 'static {
    /// Whether other processes share this store (then cached sessions may
    /// be stale and refreshes need the store's lock).
    fn is_shared(&self) -> bool;
    /// The store's own copy of a session, when it keeps sessions in this
    /// process: the cache then holds that copy instead of a second one.
    fn in_process_copy(&self, key: &SessionKey) -> Option<Arc<Session>>;
    /// See [`sbp_core::session::SessionStore::get`].
    fn get(&self, key: &SessionKey) -> impl Future<Output = Found> + Send;
    /// See [`sbp_core::session::SessionStore::insert`].
    fn insert(
        &self,
        key: &SessionKey,
        session: &Session,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// See [`sbp_core::session::SessionStore::update_tokens`].
    fn update_tokens(
        &self,
        key: &SessionKey,
        tokens: &UpstreamTokens,
        user: Option<&UserObject>,
        outdated_seen: Option<&str>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// See [`sbp_core::session::SessionStore::update_user`].
    fn update_user(
        &self,
        key: &SessionKey,
        user: &UserObject,
        outdate: Option<&str>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// See [`sbp_core::session::SessionStore::find_auth_session`].
    fn find_auth_session(
        &self,
        auth_session_id: &str,
    ) -> impl Future<Output = Result<Option<(SessionKey, Session)>, StoreError>> + Send;
    /// See [`sbp_core::session::SessionStore::claim_hook_id`].
    fn claim_hook_id(
        &self,
        id: &str,
        now: UnixSeconds,
        ttl: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// See [`sbp_core::session::SessionStore::touch`].
    fn touch(
        &self,
        key: &SessionKey,
        last_seen_at: UnixSeconds,
        idle_expires_at: UnixSeconds,
    ) -> impl Future<Output = Found> + Send;
    /// See [`sbp_core::session::SessionStore::remove`].
    fn remove(
        &self,
        key: &SessionKey,
    ) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send;
    /// See [`sbp_core::session::SessionStore::list_user`].
    fn list_user(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Vec<(SessionKey, Session)>, StoreError>> + Send;
    /// See [`sbp_core::session::SessionStore::sweep`].
    fn sweep(&self, now: UnixSeconds) -> impl Future<Output = Result<usize, StoreError>> + Send;
    /// See [`sbp_core::session::SessionStore::ping`].
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// See [`sbp_core::session::SessionStore::lock_refresh`] (by default
    /// there is no lock: a store used by a single process needs none).
    fn lock_refresh(
        &self,
        _key: &SessionKey,
        _owner: &str,
        _lease_ms: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        std::future::ready(Ok(true))
    }
    /// See [`sbp_core::session::SessionStore::renew_refresh`].
    fn renew_refresh(
        &self,
        _key: &SessionKey,
        _owner: &str,
        _lease_ms: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        std::future::ready(Ok(true))
    }
    /// See [`sbp_core::session::SessionStore::unlock_refresh`].
    fn unlock_refresh(
        &self,
        _key: &SessionKey,
        _owner: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        std::future::ready(Ok(()))
    }
}

/// A session read from the store.
pub type Found = Result<Option<Arc<Session>>, StoreError>;

#[derive(Clone)]
struct Entry {
    session: Arc<Session>,
    cached_at: Instant,
}

impl Entry {
    fn new(session: Arc<Session>) -> Entry {
        Entry {
            session,
            cached_at: Instant::now(),
        }
    }
}

pub struct SessionCache<S> {
    store: S,
    cache: Ledger<Entry>,
    /// `None`: the cache is the only writer's and never goes stale.
    lifetime: Option<Duration>,
    /// How long an entry may serve while the store is unreachable.
    grace: Duration,
    counts: CacheMetrics,
    /// Every operation sent to the store, and its failures.
    ops: StoreMetrics,
}

impl<S: CachedStore> SessionCache<S> {
    pub fn new(store: S, capacity: usize, grace: Duration) -> Self {
        Self {
            lifetime: store.is_shared().then_some(SHARED_LIFETIME),
            store,
            cache: Ledger::new(capacity),
            grace,
            counts: CacheMetrics::default(),
            ops: StoreMetrics::default(),
        }
    }

    /// Counts hits and misses into `counts`, and the store's operations
    /// into `ops` (registered ones).
    pub fn counted(self, counts: CacheMetrics, ops: StoreMetrics) -> Self {
        Self {
            counts,
            ops,
            ..self
        }
    }

    /// The counters of the store's operations.
    #[cfg(test)]
    pub fn ops(&self) -> &StoreMetrics {
        &self.ops
    }

    /// What the store now holds for `key`, written as `session`: the
    /// store's own copy if it keeps one in this process, so that a session
    /// is in memory once.
    fn shared_with_store(&self, key: &SessionKey, session: Session) -> Arc<Session> {
        match self.store.in_process_copy(key) {
            Some(copy) if *copy == session => copy,
            _ => Arc::new(session),
        }
    }

    /// Drops one cached session (another instance changed it); a read or
    /// write under way will not put it back.
    pub fn evict(&self, key: &SessionKey) {
        self.cache.evict(key);
    }

    /// Drops every cached session (eviction messages may have been missed).
    pub fn clear(&self) {
        self.cache.clear();
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// The session for `key`, from memory or else from the store.
    pub async fn get(&self, key: &SessionKey) -> Result<Option<Arc<Session>>, StoreError> {
        // Misses are boxed: the store's futures are large, and every
        // request's future would carry their size.
        let Some(entry) = self.cache.get(key) else {
            self.counts.misses.inc();
            return Box::pin(self.reload(key)).await;
        };
        // The age of an entry that outlived its lifetime. Entries of a store
        // no other process writes have none: no clock read for them.
        let outlived = self.lifetime.and_then(|lifetime| {
            let age = entry.cached_at.elapsed();
            (age >= lifetime).then_some(age)
        });
        let Some(age) = outlived else {
            self.counts.hits.inc();
            return Ok(Some(entry.session));
        };
        self.counts.misses.inc();
        match Box::pin(self.reload(key)).await {
            Err(e) if age < self.grace => {
                tracing::warn!(error = %e, "store unreachable; serving a cached session within its grace");
                Ok(Some(entry.session))
            }
            result => result,
        }
    }

    /// Reads the session from the store, bypassing (and refreshing) the cache.
    pub async fn reload(&self, key: &SessionKey) -> Result<Option<Arc<Session>>, StoreError> {
        let ticket = self.cache.read_ticket();
        let found = self.ops.counted(StoreOp::Get, self.store.get(key).await)?;
        self.cache.fill(key, ticket, found.clone().map(Entry::new));
        Ok(found)
    }

    pub async fn insert(
        &self,
        key: &SessionKey,
        session: Session,
    ) -> Result<Arc<Session>, StoreError> {
        let write = self.cache.begin_write(key);
        let stored = self.store.insert(key, &session).await;
        self.ops.counted(StoreOp::Insert, stored)?;
        let session = self.shared_with_store(key, session);
        write.finish(Some(Entry::new(session.clone())));
        Ok(session)
    }

    /// Stores refreshed tokens (see [`CachedStore::update_tokens`]);
    /// `None` when the session is gone.
    pub async fn update_tokens(
        &self,
        key: &SessionKey,
        tokens: &UpstreamTokens,
        user: Option<&UserObject>,
        outdated_seen: Option<&str>,
    ) -> Result<Option<Arc<Session>>, StoreError> {
        let write = self.cache.begin_write(key);
        let updated = self
            .store
            .update_tokens(key, tokens, user, outdated_seen)
            .await;
        if !self.ops.counted(StoreOp::UpdateTokens, updated)? {
            write.finish(None);
            return Ok(None);
        }
        let stored = self.ops.counted(StoreOp::Get, self.store.get(key).await)?;
        write.finish(stored.clone().map(Entry::new));
        Ok(stored)
    }

    /// Stores a new cached user, leaving the tokens as they are stored
    /// (see [`CachedStore::update_user`]); `None` when the session is gone.
    pub async fn update_user(
        &self,
        key: &SessionKey,
        user: &UserObject,
        outdate: Option<&str>,
    ) -> Result<Option<Arc<Session>>, StoreError> {
        let write = self.cache.begin_write(key);
        let updated = self.store.update_user(key, user, outdate).await;
        if !self.ops.counted(StoreOp::UpdateUser, updated)? {
            write.finish(None);
            return Ok(None);
        }
        let stored = self.ops.counted(StoreOp::Get, self.store.get(key).await)?;
        write.finish(stored.clone().map(Entry::new));
        Ok(stored)
    }

    /// The session holding Auth's session `auth_session_id` (from the store).
    pub async fn find_auth_session(
        &self,
        auth_session_id: &str,
    ) -> Result<Option<(SessionKey, Session)>, StoreError> {
        let found = self.store.find_auth_session(auth_session_id).await;
        self.ops.counted(StoreOp::FindAuthSession, found)
    }

    /// See [`CachedStore::claim_hook_id`].
    pub async fn claim_hook_id(
        &self,
        id: &str,
        now: UnixSeconds,
        ttl: u64,
    ) -> Result<bool, StoreError> {
        let claimed = self.store.claim_hook_id(id, now, ttl).await;
        self.ops.counted(StoreOp::ClaimHookId, claimed)
    }

    /// Records that `session` was used at `now`; returns the session as the
    /// store now holds it, `None` when it is gone (it is not brought back).
    pub async fn touch(
        &self,
        key: &SessionKey,
        session: &Session,
        now: UnixSeconds,
        idle_ttl: u64,
    ) -> Result<Option<Arc<Session>>, StoreError> {
        let mut touched = session.clone();
        touched.touch(now, idle_ttl);
        let write = self.cache.begin_write(key);
        let stored = self
            .store
            .touch(key, touched.last_seen_at, touched.idle_expires_at)
            .await;
        let stored = self.ops.counted(StoreOp::Touch, stored)?;
        write.finish(stored.clone().map(Entry::new));
        Ok(stored)
    }

    pub async fn remove(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        let write = self.cache.begin_delete(key);
        let removed = self.store.remove(key).await;
        write.finish(None);
        self.ops.counted(StoreOp::Remove, removed)
    }

    pub async fn list_user(&self, user_id: &str) -> Result<Vec<(SessionKey, Session)>, StoreError> {
        let listed = self.store.list_user(user_id).await;
        self.ops.counted(StoreOp::ListUser, listed)
    }

    /// Deletes expired sessions from the store (the cache checks expiry on use).
    pub async fn sweep(&self, now: UnixSeconds) -> Result<usize, StoreError> {
        let swept = self.store.sweep(now).await;
        self.ops.counted(StoreOp::Sweep, swept)
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let answered = self.store.ping().await;
        self.ops.counted(StoreOp::Ping, answered)
    }

    /// See [`CachedStore::lock_refresh`].
    pub async fn lock_refresh(
        &self,
        key: &SessionKey,
        owner: &str,
        lease_ms: u64,
    ) -> Result<bool, StoreError> {
        let locked = self.store.lock_refresh(key, owner, lease_ms).await;
        self.ops.counted(StoreOp::Lock, locked)
    }

    /// See [`CachedStore::renew_refresh`].
    pub async fn renew_refresh(
        &self,
        key: &SessionKey,
        owner: &str,
        lease_ms: u64,
    ) -> Result<bool, StoreError> {
        let renewed = self.store.renew_refresh(key, owner, lease_ms).await;
        self.ops.counted(StoreOp::RenewLock, renewed)
    }

    /// See [`CachedStore::unlock_refresh`].
    pub async fn unlock_refresh(&self, key: &SessionKey, owner: &str) -> Result<(), StoreError> {
        let unlocked = self.store.unlock_refresh(key, owner).await;
        self.ops.counted(StoreOp::Unlock, unlocked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MemoryStore, Store};

    fn session(id: &str) -> Session {
        crate::test_support::session(id, "a")
    }

    #[tokio::test]
    async fn reads_from_memory_are_hits_and_reads_from_the_store_misses() {
        let counts = CacheMetrics::default();
        let cache = SessionCache::new(Store::Memory(MemoryStore::default()), 4, Duration::ZERO)
            .counted(counts.clone(), StoreMetrics::default());
        let key = SessionKey::from_stored("k0");
        assert!(cache.get(&key).await.unwrap().is_none());
        assert_eq!((counts.hits.get(), counts.misses.get()), (0, 1));
        cache.insert(&key, session("s0")).await.unwrap();
        cache.get(&key).await.unwrap().unwrap();
        cache.get(&key).await.unwrap().unwrap();
        assert_eq!((counts.hits.get(), counts.misses.get()), (2, 1));
        // Only the miss and the insert reached the store.
        assert_eq!(cache.ops().count(StoreOp::Get), (1, 0));
        assert_eq!(cache.ops().count(StoreOp::Insert), (1, 0));
    }

    #[tokio::test]
    async fn lookups_are_served_from_memory_and_the_cache_is_bounded() {
        let cache = SessionCache::new(Store::Memory(MemoryStore::default()), 4, Duration::ZERO);
        let key = SessionKey::from_stored("k0");
        cache.insert(&key, session("s0")).await.unwrap();
        // Deleted behind the cache's back: still served from memory.
        cache.store().remove(&key).await.unwrap();
        assert_eq!(cache.get(&key).await.unwrap().unwrap().id, "s0");
        // A reload sees the truth and forgets the entry.
        assert!(cache.reload(&key).await.unwrap().is_none());
        assert!(cache.get(&key).await.unwrap().is_none());

        // More sessions than the capacity: the cache keeps at most 4.
        for i in 0..50 {
            let key = SessionKey::from_stored(&format!("k{i}"));
            cache.insert(&key, session(&format!("s{i}"))).await.unwrap();
        }
        assert!(
            cache.cache.len() <= 4,
            "{} entries cached",
            cache.cache.len()
        );
        let oldest = SessionKey::from_stored("k1");
        assert_eq!(
            cache.get(&oldest).await.unwrap().unwrap().id,
            "s1",
            "evicted entries come from the store"
        );
    }

    #[tokio::test]
    async fn a_memory_store_and_its_cache_hold_one_copy() {
        let cache = SessionCache::new(Store::Memory(MemoryStore::default()), 16, Duration::ZERO);
        let key = SessionKey::from_stored("k");
        let inserted = cache.insert(&key, session("s")).await.unwrap();
        let stored = cache.store().in_process_copy(&key).unwrap();
        assert!(Arc::ptr_eq(&inserted, &stored));
        let touched = cache
            .touch(&key, &inserted, 70, 100)
            .await
            .unwrap()
            .unwrap();
        let stored = cache.store().in_process_copy(&key).unwrap();
        assert!(Arc::ptr_eq(&touched, &stored), "a touch keeps one copy");
        assert!(Arc::ptr_eq(
            &cache.get(&key).await.unwrap().unwrap(),
            &stored
        ));
    }

    #[tokio::test]
    async fn writes_reach_the_store_and_the_cache() {
        let cache = SessionCache::new(Store::Memory(MemoryStore::default()), 16, Duration::ZERO);
        let key = SessionKey::from_stored("k");
        let stored = cache.insert(&key, session("s")).await.unwrap();
        let touched = cache.touch(&key, &stored, 50, 100).await.unwrap().unwrap();
        assert_eq!(touched.last_seen_at, 50);
        assert_eq!(
            cache.store().get(&key).await.unwrap().unwrap().last_seen_at,
            50
        );
        let tokens = UpstreamTokens {
            access_token: "new".into(),
            refresh_token: "new-r".into(),
            issued_at: 60,
            expires_at: 3660,
        };
        let updated = cache
            .update_tokens(
                &key,
                &tokens,
                Some(&serde_json::json!({"id": "u"}).into()),
                None,
            )
            .await
            .unwrap();
        assert_eq!(updated.unwrap().tokens.access_token, "new");
        let renamed = cache
            .update_user(
                &key,
                &serde_json::json!({"id": "u", "name": "b"}).into(),
                None,
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(renamed.user.to_value()["name"], "b");
        assert_eq!(
            cache.get(&key).await.unwrap().unwrap().tokens.access_token,
            "new",
            "a user update keeps the tokens"
        );
        assert_eq!(
            cache.get(&key).await.unwrap().unwrap().last_seen_at,
            50,
            "touch survives a token update"
        );
        cache.remove(&key).await.unwrap();
        assert!(cache.get(&key).await.unwrap().is_none());
        assert!(
            cache
                .update_tokens(&key, &tokens, None, None)
                .await
                .unwrap()
                .is_none()
        );
    }
}
