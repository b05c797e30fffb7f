//! A bounded in-process cache in front of the session store.
//!
//! Reads are served from memory when possible; every write goes to the store
//! first and then to the cache, so the cache never holds something the store
//! refused.

use super::Store;
use quick_cache::sync::Cache;
use sbp_core::env::UnixSeconds;
use sbp_core::session::{Session, SessionKey, SessionStore, StoreError, UpstreamTokens};
use std::sync::Arc;

pub struct SessionCache {
    store: Store,
    cache: Cache<SessionKey, Arc<Session>>,
}

impl SessionCache {
    pub fn new(store: Store, capacity: usize) -> Self {
        Self {
            store,
            cache: Cache::new(capacity),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The session for `key`, from memory or else from the store.
    pub async fn get(&self, key: &SessionKey) -> Result<Option<Arc<Session>>, StoreError> {
        if let Some(session) = self.cache.get(key) {
            return Ok(Some(session));
        }
        self.reload(key).await
    }

    /// Reads the session from the store, bypassing (and refreshing) the cache.
    pub async fn reload(&self, key: &SessionKey) -> Result<Option<Arc<Session>>, StoreError> {
        match self.store.get(key).await? {
            Some(session) => {
                let session = Arc::new(session);
                self.cache.insert(key.clone(), session.clone());
                Ok(Some(session))
            }
            None => {
                self.cache.remove(key);
                Ok(None)
            }
        }
    }

    pub async fn insert(
        &self,
        key: &SessionKey,
        session: Session,
    ) -> Result<Arc<Session>, StoreError> {
        self.store.insert(key, &session).await?;
        let session = Arc::new(session);
        self.cache.insert(key.clone(), session.clone());
        Ok(session)
    }

    /// Stores refreshed tokens; `None` when the session is gone.
    pub async fn update_tokens(
        &self,
        key: &SessionKey,
        tokens: &UpstreamTokens,
        user: &serde_json::Value,
    ) -> Result<Option<Arc<Session>>, StoreError> {
        if !self.store.update_tokens(key, tokens, user).await? {
            self.cache.remove(key);
            return Ok(None);
        }
        self.reload(key).await
    }

    /// Records that `session` was used at `now`; returns the updated copy.
    pub async fn touch(
        &self,
        key: &SessionKey,
        session: &Session,
        now: UnixSeconds,
        idle_ttl: u64,
    ) -> Result<Arc<Session>, StoreError> {
        let mut touched = session.clone();
        touched.touch(now, idle_ttl);
        self.store
            .touch(key, touched.last_seen_at, touched.idle_expires_at)
            .await?;
        let touched = Arc::new(touched);
        self.cache.insert(key.clone(), touched.clone());
        Ok(touched)
    }

    pub async fn remove(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        self.cache.remove(key);
        let removed = self.store.remove(key).await;
        self.cache.remove(key);
        removed
    }

    pub async fn list_user(&self, user_id: &str) -> Result<Vec<(SessionKey, Session)>, StoreError> {
        self.store.list_user(user_id).await
    }

    /// Deletes expired sessions from the store (the cache checks expiry on use).
    pub async fn sweep(&self, now: UnixSeconds) -> Result<usize, StoreError> {
        self.store.sweep(now).await
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }
}
