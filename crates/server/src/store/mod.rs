//! Session store backends and the cache in front of them.
//!
//! [`Store`] picks a backend from the configured [`StoreSpec`]; [`SessionCache`]
//! keeps recently used sessions in process memory so most requests never
//! touch the backend.

mod cache;
#[cfg(test)]
mod conformance;
mod file;
mod memory;

pub use cache::SessionCache;
pub use file::FileStore;
pub use memory::MemoryStore;

use sbp_core::config::StoreSpec;
use sbp_core::env::UnixSeconds;
use sbp_core::session::{Session, SessionKey, SessionStore, StoreError, UpstreamTokens};

/// The configured backend.
pub enum Store {
    Memory(MemoryStore),
    File(FileStore),
}

impl Store {
    /// Opens the backend named by `spec` (creating a file store's folder).
    pub fn open(spec: &StoreSpec) -> Result<Store, StoreError> {
        match spec {
            StoreSpec::Memory => Ok(Store::Memory(MemoryStore::default())),
            StoreSpec::File(path) => FileStore::open(path).map(Store::File),
        }
    }
}

impl SessionStore for Store {
    async fn get(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        match self {
            Store::Memory(s) => s.get(key).await,
            Store::File(s) => s.get(key).await,
        }
    }
    async fn insert(&self, key: &SessionKey, session: &Session) -> Result<(), StoreError> {
        match self {
            Store::Memory(s) => s.insert(key, session).await,
            Store::File(s) => s.insert(key, session).await,
        }
    }
    async fn update_tokens(
        &self,
        key: &SessionKey,
        tokens: &UpstreamTokens,
        user: &serde_json::Value,
    ) -> Result<bool, StoreError> {
        match self {
            Store::Memory(s) => s.update_tokens(key, tokens, user).await,
            Store::File(s) => s.update_tokens(key, tokens, user).await,
        }
    }
    async fn touch(
        &self,
        key: &SessionKey,
        last_seen_at: UnixSeconds,
        idle_expires_at: UnixSeconds,
    ) -> Result<(), StoreError> {
        match self {
            Store::Memory(s) => s.touch(key, last_seen_at, idle_expires_at).await,
            Store::File(s) => s.touch(key, last_seen_at, idle_expires_at).await,
        }
    }
    async fn remove(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        match self {
            Store::Memory(s) => s.remove(key).await,
            Store::File(s) => s.remove(key).await,
        }
    }
    async fn list_user(&self, user_id: &str) -> Result<Vec<(SessionKey, Session)>, StoreError> {
        match self {
            Store::Memory(s) => s.list_user(user_id).await,
            Store::File(s) => s.list_user(user_id).await,
        }
    }
    async fn sweep(&self, now: UnixSeconds) -> Result<usize, StoreError> {
        match self {
            Store::Memory(s) => s.sweep(now).await,
            Store::File(s) => s.sweep(now).await,
        }
    }
    async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Memory(s) => s.ping().await,
            Store::File(s) => s.ping().await,
        }
    }
}
