//! Everything a request needs, built once at start-up and shared by all connections.

use crate::rate_limiter::RateLimiter;
use crate::realtime::Realtime;
use crate::refresh::Refresher;
use crate::runtime::{OsRandom, SystemClock};
use crate::store::{SessionCache, Store};
use crate::upstream::Upstream;
use sbp_core::config::Config;
use sbp_core::env::{Clock, UnixSeconds};
use sbp_core::session::{Session, SessionKey, StoreError};
use sbp_core::token::PlaceholderKey;

/// How many sessions the in-process cache holds.
pub const SESSION_CACHE_CAPACITY: usize = 100_000;

pub struct App {
    pub config: Config,
    pub sessions: SessionCache,
    pub upstream: Upstream,
    pub placeholder_key: PlaceholderKey,
    pub refresher: Refresher,
    /// Realtime sockets, closed when their session ends.
    pub realtime: Realtime,
    /// Present when `PROXY_AUTH_RATE_LIMIT` is not `off`.
    pub rate_limiter: Option<RateLimiter>,
    pub rng: OsRandom,
    clock: SystemClock,
}

impl App {
    pub fn new(config: Config, store: Store) -> Result<App, crate::Error> {
        let rng = OsRandom;
        let tls = crate::tls::client_config(config.upstream_ca.as_deref())?;
        Ok(App {
            upstream: Upstream::new(
                config.supabase_url.clone(),
                &config.anon_key,
                std::time::Duration::from_secs(config.limits.upstream_timeout),
                tls.clone(),
            )?,
            rate_limiter: config.auth_rate_limit.map(RateLimiter::new),
            placeholder_key: PlaceholderKey::generate(&rng),
            sessions: SessionCache::new(
                store,
                SESSION_CACHE_CAPACITY,
                std::time::Duration::from_secs(config.store_grace),
            ),
            refresher: Refresher::default(),
            realtime: Realtime::new(tls),
            config,
            rng,
            clock: SystemClock,
        })
    }

    /// Deletes a session and closes its Realtime sockets on this instance
    /// (they are closed even when the store fails to delete it).
    pub async fn end_session(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        let removed = self.sessions.remove(key).await;
        self.realtime.sockets.session_ended(key);
        removed
    }

    pub fn now(&self) -> UnixSeconds {
        self.clock.now()
    }

    pub fn random<const N: usize>(&self) -> [u8; N] {
        self.rng.bytes()
    }
}
