//! The session store interface every backend implements.
//!
//! No `Send` bound is required here: a Worker runtime is single-threaded.
//! Each method is one logical operation; backends make each atomic.

use super::{Session, SessionKey, UpstreamTokens, UserObject};
use crate::env::UnixSeconds;
use std::sync::Arc;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    #[error("stored session is unreadable: {0}")]
    Corrupt(String),
}

// Async methods without `Send` bounds on purpose (see the module docs); the
// server's backends are concrete types whose futures are `Send`.
#[allow(async_fn_in_trait)]
pub trait SessionStore {
    /// The session stored under `key`, expired or not.
    /// Shared: a store that keeps sessions in memory hands out its own copy.
    async fn get(&self, key: &SessionKey) -> Result<Option<Arc<Session>>, StoreError>;
    /// Stores a new session (or replaces one with the same key).
    async fn insert(&self, key: &SessionKey, session: &Session) -> Result<(), StoreError>;
    /// Replaces the tokens of an existing session; other fields are left as
    /// stored. `outdated_seen` is the session's `tokens_outdated` mark as
    /// read before the new tokens were asked for. While the mark still
    /// equals it, the mark is cleared and `user` (Auth's user given with
    /// the tokens, if any) becomes the cached user; when another mark was
    /// set meanwhile (the user changed while a refresh was under way), the
    /// mark and the newer cached user stay.
    /// Returns `false` when the session no longer exists.
    async fn update_tokens(
        &self,
        key: &SessionKey,
        tokens: &UpstreamTokens,
        user: Option<&UserObject>,
        outdated_seen: Option<&str>,
    ) -> Result<bool, StoreError>;
    /// Replaces only the cached user of an existing session (the tokens are
    /// left as stored, so a concurrent [`SessionStore::update_tokens`] on
    /// another instance is never undone). With `outdate`, also marks the
    /// tokens outdated with that id (see `Session::tokens_outdated`).
    /// Returns `false` when the session no longer exists.
    async fn update_user(
        &self,
        key: &SessionKey,
        user: &UserObject,
        outdate: Option<&str>,
    ) -> Result<bool, StoreError>;
    /// The session that holds Auth's session `auth_session_id`
    /// (`Session::auth_session_id`), if one is stored.
    async fn find_auth_session(
        &self,
        auth_session_id: &str,
    ) -> Result<Option<(SessionKey, Session)>, StoreError>;
    /// Remembers a hook call's `webhook-id` for `ttl` seconds from `now`;
    /// `false` when it was already remembered (a replay). A shared store
    /// remembers it for every instance.
    async fn claim_hook_id(&self, id: &str, now: UnixSeconds, ttl: u64)
    -> Result<bool, StoreError>;
    /// Records use of a session: only `last_seen_at` and `idle_expires_at`
    /// change, and only if the session still exists (atomically: a touch
    /// never brings back a deleted session). Returns the session as it is
    /// now stored, `None` when it is gone.
    async fn touch(
        &self,
        key: &SessionKey,
        last_seen_at: UnixSeconds,
        idle_expires_at: UnixSeconds,
    ) -> Result<Option<Arc<Session>>, StoreError>;
    /// Deletes a session, returning it if it existed.
    async fn remove(&self, key: &SessionKey) -> Result<Option<Session>, StoreError>;
    /// Every stored session of a user.
    async fn list_user(&self, user_id: &str) -> Result<Vec<(SessionKey, Session)>, StoreError>;
    /// Deletes every session that is expired at `now`; returns how many.
    async fn sweep(&self, now: UnixSeconds) -> Result<usize, StoreError>;
    /// Succeeds when the store can serve requests.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Takes the lock that allows one refresh of the session at a time
    /// across every proxy sharing this store, for `lease_ms`, as `owner`.
    /// `false` when someone else holds it. A store used by a single process
    /// needs no lock (the process serialises its own refreshes).
    async fn lock_refresh(
        &self,
        _key: &SessionKey,
        _owner: &str,
        _lease_ms: u64,
    ) -> Result<bool, StoreError> {
        Ok(true)
    }

    /// Extends a held lock; `false` when it was lost.
    async fn renew_refresh(
        &self,
        _key: &SessionKey,
        _owner: &str,
        _lease_ms: u64,
    ) -> Result<bool, StoreError> {
        Ok(true)
    }

    /// Releases a held lock (a lock held by another owner is left alone).
    async fn unlock_refresh(&self, _key: &SessionKey, _owner: &str) -> Result<(), StoreError> {
        Ok(())
    }
}
