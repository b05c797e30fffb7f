//! The session service: every session the proxy holds goes through it.
//!
//! It owns the session cache in front of the store, refreshes (or in mint
//! mode re-mints) a session's upstream token once at a time in this process
//! and across processes ([`refresh`]), checks minted-for sessions with Auth
//! ([`mint`]), and ends sessions: each ended session is announced on
//! [`SessionService::ended`], which Realtime follows to close its sockets.
//! Sessions stored and ended are also announced, with their public fields,
//! on [`SessionService::changes`] (the sessions table mirror follows it).
//!
//! What it needs from outside comes in through its constructor: the store
//! (any [`CachedStore`]), Auth ([`AuthApi`], the upstream client in the
//! proxy), the clock and the random source (core's [`Clock`] and
//! [`RandomSource`]), so its tests run on paused time with a fake Auth.

mod auth;
#[cfg(test)]
mod changes_tests;
mod mint;
mod mint_checks;
mod refresh;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
mod users;

pub use auth::AuthApi;
pub use sbp_core::token::Refreshed;

use crate::metrics::SessionMetrics;
use crate::store::{CachedStore, SessionCache, Store};
use crate::upstream::Upstream;
use futures_util::future::{BoxFuture, Shared};
use mint_checks::MintChecks;
use sbp_core::config::{Config, TokenMode};
use sbp_core::env::{Clock, RandomSource, UnixSeconds, random_array};
use sbp_core::session::{EndReason, Session, SessionKey, StoreError, UpstreamTokens, UserObject};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

/// How many ended sessions may wait for a slow follower of
/// [`SessionService::ended`]; one that falls further behind misses some
/// (and Realtime's periodic look-ups catch those sockets instead).
const ENDED_BACKLOG: usize = 1024;

/// A session stored or ended on this instance (see [`SessionService::changes`]).
#[derive(Clone, Debug)]
pub enum SessionChange {
    /// Stored new, or its last-seen (and idle expiry) written again.
    Stored(Arc<Session>),
    /// Deleted: the session as it was.
    Ended(Arc<Session>),
}

/// The configuration the service works with.
#[derive(Clone, Debug)]
pub struct SessionSettings {
    pub token_mode: TokenMode,
    /// `PROXY_REFRESH_MARGIN`, seconds.
    pub refresh_margin: u64,
    /// `PROXY_MINT_TTL`, seconds.
    pub mint_ttl: u64,
    /// `PROXY_MINT_CHECK`.
    pub mint_check: Duration,
    /// `PROXY_SESSION_IDLE_TTL`, seconds.
    pub idle_ttl: u64,
}

impl SessionSettings {
    pub fn from_config(config: &Config) -> SessionSettings {
        SessionSettings {
            token_mode: config.token_mode.clone(),
            refresh_margin: config.refresh_margin,
            mint_ttl: config.mint_ttl,
            mint_check: Duration::from_secs(config.mint_check),
            idle_ttl: config.session_idle_ttl,
        }
    }
}

/// The clock and random source the service reads.
pub struct Environment {
    pub clock: Arc<dyn Clock + Send + Sync>,
    pub rng: Arc<dyn RandomSource + Send + Sync>,
}

/// A refresh under way, awaited by every request that needs it.
type Flight = Shared<BoxFuture<'static, Refreshed>>;

/// The sessions of this instance, over the store `S`, asking Auth through
/// `A`. Held in an `Arc`: refreshes and checks run in tasks of their own,
/// so a request that gives up does not cut a refresh short.
pub struct SessionService<S = Store, A = Upstream> {
    cache: SessionCache<S>,
    auth: Arc<A>,
    settings: SessionSettings,
    env: Environment,
    /// Refreshes running in this process, by session.
    in_flight: Mutex<HashMap<SessionKey, Flight>>,
    mint_checks: MintChecks,
    /// Announces each ended session (see [`SessionService::ended`]).
    ended: broadcast::Sender<SessionKey>,
    /// Announces sessions stored and ended (see [`SessionService::changes`]).
    changes: broadcast::Sender<SessionChange>,
    metrics: SessionMetrics,
}

impl<S: CachedStore, A: AuthApi> SessionService<S, A> {
    pub fn new(
        cache: SessionCache<S>,
        auth: Arc<A>,
        settings: SessionSettings,
        env: Environment,
    ) -> SessionService<S, A> {
        SessionService {
            cache,
            auth,
            settings,
            env,
            in_flight: Mutex::default(),
            mint_checks: MintChecks::default(),
            ended: broadcast::channel(ENDED_BACKLOG).0,
            changes: broadcast::channel(ENDED_BACKLOG).0,
            metrics: SessionMetrics::default(),
        }
    }

    /// Counts into `metrics` (registered ones) instead of its own.
    pub fn counted(self, metrics: SessionMetrics) -> SessionService<S, A> {
        SessionService { metrics, ..self }
    }

    pub fn metrics(&self) -> &SessionMetrics {
        &self.metrics
    }

    pub fn settings(&self) -> &SessionSettings {
        &self.settings
    }

    pub fn now(&self) -> UnixSeconds {
        self.env.clock.now()
    }

    pub fn random<const N: usize>(&self) -> [u8; N] {
        random_array(&*self.env.rng)
    }

    /// The store behind the cache.
    pub fn store(&self) -> &S {
        self.cache.store()
    }

    /// Every session ended from now on: on this instance, and (with a
    /// shared store) on the others, as their announcements arrive.
    pub fn ended(&self) -> broadcast::Receiver<SessionKey> {
        self.ended.subscribe()
    }

    /// Every session stored or ended from now on, on this instance.
    pub fn changes(&self) -> broadcast::Receiver<SessionChange> {
        self.changes.subscribe()
    }

    /// Announces `change` to the followers of [`SessionService::changes`], if any.
    fn announce(&self, change: impl FnOnce() -> SessionChange) {
        if self.changes.receiver_count() > 0 {
            let _ = self.changes.send(change());
        }
    }

    /// Deletes a session and announces its end (announced even when the
    /// store fails to delete it); counted under `reason`.
    pub async fn end(
        &self,
        key: &SessionKey,
        reason: EndReason,
    ) -> Result<Option<Session>, StoreError> {
        let removed = self.cache.remove(key).await;
        // Nobody following is not an error: no socket is open.
        let _ = self.ended.send(key.clone());
        if let Ok(Some(session)) = &removed {
            self.metrics.ended(reason, 1);
            self.announce(|| SessionChange::Ended(Arc::new(session.clone())));
        }
        removed
    }

    /// The session for `key`, from memory or else from the store.
    pub async fn get(&self, key: &SessionKey) -> Result<Option<Arc<Session>>, StoreError> {
        self.cache.get(key).await
    }

    /// Stores a new session.
    pub async fn insert(
        &self,
        key: &SessionKey,
        session: Session,
    ) -> Result<Arc<Session>, StoreError> {
        let stored = self.cache.insert(key, session).await?;
        self.metrics.created.inc();
        self.announce(|| SessionChange::Stored(stored.clone()));
        Ok(stored)
    }

    /// Stores new tokens and the user Auth gave with them; `None` when the
    /// session is gone.
    pub async fn update_tokens(
        &self,
        key: &SessionKey,
        tokens: &UpstreamTokens,
        user: &UserObject,
    ) -> Result<Option<Arc<Session>>, StoreError> {
        self.cache
            .update_tokens(key, tokens, Some(user), None)
            .await
    }

    /// Records use of the session at `now` (see `Session::touch`); `None`
    /// when it is gone.
    pub async fn touch(
        &self,
        key: &SessionKey,
        session: &Session,
        now: UnixSeconds,
    ) -> Result<Option<Arc<Session>>, StoreError> {
        let idle_ttl = self.settings.idle_ttl;
        let touched = self.cache.touch(key, session, now, idle_ttl).await?;
        if let Some(touched) = &touched {
            self.announce(|| SessionChange::Stored(touched.clone()));
        }
        Ok(touched)
    }

    /// Whether the store answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.cache.ping().await
    }

    /// Every stored session of a user.
    pub async fn list_user(&self, user_id: &str) -> Result<Vec<(SessionKey, Session)>, StoreError> {
        self.cache.list_user(user_id).await
    }

    /// Deletes the sessions expired at `now` from the store; returns how many.
    pub async fn sweep(&self, now: UnixSeconds) -> Result<usize, StoreError> {
        let swept = self.cache.sweep(now).await?;
        self.metrics.ended(EndReason::Expired, swept as u64);
        Ok(swept)
    }

    /// Drops one cached session (another instance changed it).
    pub fn evict(&self, key: &SessionKey) {
        self.cache.evict(key);
    }

    /// Another instance ended a session: drops the cached copy and
    /// announces the end here, so this instance's sockets close.
    pub fn ended_elsewhere(&self, key: &SessionKey) {
        self.cache.evict(key);
        let _ = self.ended.send(key.clone());
    }

    /// Drops every cached session (eviction messages may have been missed).
    pub fn clear(&self) {
        self.cache.clear();
    }

    /// The session as used at `now`: when its last-seen is due (see
    /// `Session::needs_touch`), the use is recorded off the request path
    /// and the session returned as it will be stored.
    pub fn touch_in_background(
        self: &Arc<Self>,
        key: &SessionKey,
        session: Arc<Session>,
        now: UnixSeconds,
    ) -> Arc<Session> {
        let idle_ttl = self.settings.idle_ttl;
        if !session.needs_touch(now, idle_ttl) {
            return session;
        }
        let mut touched = (*session).clone();
        touched.touch(now, idle_ttl);
        let (service, key) = (self.clone(), key.clone());
        tokio::spawn(async move {
            if let Err(e) = service.touch(&key, &session, now).await {
                tracing::warn!(error = %e, "cannot record session use");
            }
        });
        Arc::new(touched)
    }
}
