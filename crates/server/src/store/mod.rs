//! Session store backends and the cache in front of them.
//!
//! [`Store`] picks a backend from the configured [`StoreSpec`]; [`SessionCache`]
//! keeps recently used sessions in process memory so most requests never
//! touch the backend.

mod cache;
mod cached;
mod file;
mod hook_ids;
mod memory;
mod redis;
mod sealing;

pub use cache::{CachedStore, SessionCache};
pub use file::FileStore;
pub use memory::MemoryStore;
pub use redis::{Eviction, RedisStore, follow_evictions};

use sbp_core::config::StoreSpec;
use sbp_core::env::UnixSeconds;
use sbp_core::session::{
    Session, SessionKey, SessionStore, StoreError, TokenSeal, UpstreamTokens, UserObject,
};
use std::sync::Arc;

/// The configured backend.
pub enum Store {
    Memory(MemoryStore),
    File(FileStore),
    /// Boxed: the client and its scripts are large, and there is one store.
    Redis(Box<RedisStore>),
}

impl Store {
    /// Opens the backend named by `spec` (creating a file store's folder).
    /// `instance` names this process to the other users of a shared store;
    /// `seal` says how the stores that keep sessions outside the process
    /// write upstream tokens (the memory store keeps them in the process,
    /// where the key is too).
    pub fn open(spec: &StoreSpec, instance: String, seal: TokenSeal) -> Result<Store, StoreError> {
        match spec {
            StoreSpec::Memory => Ok(Store::Memory(MemoryStore::default())),
            StoreSpec::File(path) => FileStore::open(path, seal).map(Store::File),
            StoreSpec::Redis(url) => {
                RedisStore::open(url, instance, seal).map(|s| Store::Redis(Box::new(s)))
            }
        }
    }

    /// The backend's name, for the metrics' `backend` label.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Memory(_) => "memory",
            Store::File(_) => "file",
            Store::Redis(_) => "redis",
        }
    }

    /// Whether other processes share this store (then cached sessions may
    /// be stale and refreshes need the store's lock).
    pub fn is_shared(&self) -> bool {
        matches!(self, Store::Redis(_))
    }

    /// The store's own copy of a session, when it keeps sessions in this
    /// process: the cache then holds that copy instead of a second one.
    pub fn in_process_copy(&self, key: &SessionKey) -> Option<Arc<Session>> {
        match self {
            Store::Memory(memory) => memory.shared(key),
            Store::File(_) | Store::Redis(_) => None,
        }
    }
}

/// Calls `$method` on whichever backend `$store` is.
macro_rules! dispatch {
    ($store:expr, $s:ident => $call:expr) => {
        match $store {
            Store::Memory($s) => $call,
            Store::File($s) => $call,
            Store::Redis($s) => $call,
        }
    };
}

impl SessionStore for Store {
    async fn get(&self, key: &SessionKey) -> Result<Option<Arc<Session>>, StoreError> {
        dispatch!(self, s => s.get(key).await)
    }
    async fn insert(&self, key: &SessionKey, session: &Session) -> Result<(), StoreError> {
        dispatch!(self, s => s.insert(key, session).await)
    }
    async fn update_tokens(
        &self,
        key: &SessionKey,
        tokens: &UpstreamTokens,
        user: Option<&UserObject>,
        outdated_seen: Option<&str>,
    ) -> Result<bool, StoreError> {
        dispatch!(self, s => s.update_tokens(key, tokens, user, outdated_seen).await)
    }
    async fn update_user(
        &self,
        key: &SessionKey,
        user: &UserObject,
        outdate: Option<&str>,
    ) -> Result<bool, StoreError> {
        dispatch!(self, s => s.update_user(key, user, outdate).await)
    }
    async fn find_auth_session(
        &self,
        auth_session_id: &str,
    ) -> Result<Option<(SessionKey, Session)>, StoreError> {
        dispatch!(self, s => s.find_auth_session(auth_session_id).await)
    }
    async fn claim_hook_id(
        &self,
        id: &str,
        now: UnixSeconds,
        ttl: u64,
    ) -> Result<bool, StoreError> {
        dispatch!(self, s => s.claim_hook_id(id, now, ttl).await)
    }
    async fn touch(
        &self,
        key: &SessionKey,
        last_seen_at: UnixSeconds,
        idle_expires_at: UnixSeconds,
    ) -> Result<Option<Arc<Session>>, StoreError> {
        dispatch!(self, s => s.touch(key, last_seen_at, idle_expires_at).await)
    }
    async fn remove(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        dispatch!(self, s => s.remove(key).await)
    }
    async fn list_user(&self, user_id: &str) -> Result<Vec<(SessionKey, Session)>, StoreError> {
        dispatch!(self, s => s.list_user(user_id).await)
    }
    async fn sweep(&self, now: UnixSeconds) -> Result<usize, StoreError> {
        dispatch!(self, s => s.sweep(now).await)
    }
    async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self, s => s.ping().await)
    }
    async fn lock_refresh(
        &self,
        key: &SessionKey,
        owner: &str,
        lease_ms: u64,
    ) -> Result<bool, StoreError> {
        dispatch!(self, s => s.lock_refresh(key, owner, lease_ms).await)
    }
    async fn renew_refresh(
        &self,
        key: &SessionKey,
        owner: &str,
        lease_ms: u64,
    ) -> Result<bool, StoreError> {
        dispatch!(self, s => s.renew_refresh(key, owner, lease_ms).await)
    }
    async fn unlock_refresh(&self, key: &SessionKey, owner: &str) -> Result<(), StoreError> {
        dispatch!(self, s => s.unlock_refresh(key, owner).await)
    }
}
