//! The configured backend behind the session cache.

use super::Store;
use super::cache::{CachedStore, Found};
use sbp_core::env::UnixSeconds;
use sbp_core::session::{Session, SessionKey, StoreError, UpstreamTokens, UserObject};
use std::sync::Arc;

impl CachedStore for Store {
    fn is_shared(&self) -> bool {
        Store::is_shared(self)
    }
    fn in_process_copy(&self, key: &SessionKey) -> Option<Arc<Session>> {
        Store::in_process_copy(self, key)
    }
    fn get(&self, key: &SessionKey) -> impl Future<Output = Found> + Send {
        sbp_core::session::SessionStore::get(self, key)
    }
    fn insert(
        &self,
        key: &SessionKey,
        session: &Session,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        sbp_core::session::SessionStore::insert(self, key, session)
    }
    fn update_tokens(
        &self,
        key: &SessionKey,
        tokens: &UpstreamTokens,
        user: Option<&UserObject>,
        outdated_seen: Option<&str>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        sbp_core::session::SessionStore::update_tokens(self, key, tokens, user, outdated_seen)
    }
    fn update_user(
        &self,
        key: &SessionKey,
        user: &UserObject,
        outdate: Option<&str>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        sbp_core::session::SessionStore::update_user(self, key, user, outdate)
    }
    fn find_auth_session(
        &self,
        auth_session_id: &str,
    ) -> impl Future<Output = Result<Option<(SessionKey, Session)>, StoreError>> + Send {
        sbp_core::session::SessionStore::find_auth_session(self, auth_session_id)
    }
    fn claim_hook_id(
        &self,
        id: &str,
        now: UnixSeconds,
        ttl: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        sbp_core::session::SessionStore::claim_hook_id(self, id, now, ttl)
    }
    fn touch(
        &self,
        key: &SessionKey,
        last_seen_at: UnixSeconds,
        idle_expires_at: UnixSeconds,
    ) -> impl Future<Output = Found> + Send {
        sbp_core::session::SessionStore::touch(self, key, last_seen_at, idle_expires_at)
    }
    fn remove(
        &self,
        key: &SessionKey,
    ) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send {
        sbp_core::session::SessionStore::remove(self, key)
    }
    fn list_user(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Vec<(SessionKey, Session)>, StoreError>> + Send {
        sbp_core::session::SessionStore::list_user(self, user_id)
    }
    fn sweep(&self, now: UnixSeconds) -> impl Future<Output = Result<usize, StoreError>> + Send {
        sbp_core::session::SessionStore::sweep(self, now)
    }
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        sbp_core::session::SessionStore::ping(self)
    }
    fn lock_refresh(
        &self,
        key: &SessionKey,
        owner: &str,
        lease_ms: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        sbp_core::session::SessionStore::lock_refresh(self, key, owner, lease_ms)
    }
    fn renew_refresh(
        &self,
        key: &SessionKey,
        owner: &str,
        lease_ms: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        sbp_core::session::SessionStore::renew_refresh(self, key, owner, lease_ms)
    }
    fn unlock_refresh(
        &self,
        key: &SessionKey,
        owner: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        sbp_core::session::SessionStore::unlock_refresh(self, key, owner)
    }
}
