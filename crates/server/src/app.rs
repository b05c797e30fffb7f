//! The composition root: the parts a request needs, built once at start-up
//! from the configuration and the opened store, and shared by all
//! connections. The parts know nothing of `App`; only the pipeline and the
//! listener use it.

use crate::front_door::FrontDoor;
use crate::metrics::Metrics;
use crate::rate_limiter::RateLimiter;
use crate::realtime::Realtime;
use crate::runtime::{OsRandom, SystemClock};
use crate::session::{Environment, SessionService, SessionSettings};
use crate::store::{SessionCache, Store};
use crate::upstream::Upstream;
use sbp_core::config::Config;
use sbp_core::env::UnixSeconds;
use sbp_core::flow::FLOW_KEY_PURPOSE;
use sbp_core::identity::IdentityKey;
use sbp_core::session::StoreKeys;
use sbp_core::token::PlaceholderKey;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// How many sessions the in-process cache holds.
pub const SESSION_CACHE_CAPACITY: usize = 100_000;

pub struct App {
    pub config: Arc<Config>,
    pub sessions: Arc<SessionService>,
    pub upstream: Arc<Upstream>,
    pub placeholder_key: PlaceholderKey,
    /// Realtime sockets, closed when their session ends.
    pub realtime: Realtime,
    /// Present when `PROXY_AUTH_RATE_LIMIT` is not `off`.
    pub rate_limiter: Option<RateLimiter>,
    pub rng: OsRandom,
    /// Seal the redirect flows' cookies: derived from `PROXY_STORE_KEY`
    /// (so every instance opens them), else random for this process.
    pub flow_keys: StoreKeys,
    /// The app behind the proxy, when `PROXY_APP_URL` is set.
    pub front_door: Option<FrontDoor>,
    /// Served on the admin listener (`PROXY_ADMIN_LISTEN`).
    pub metrics: Metrics,
}

impl App {
    /// Builds the parts; runs inside the runtime (Realtime starts following
    /// the sessions that end).
    pub fn new(config: Config, store: Store) -> Result<App, crate::Error> {
        let config = Arc::new(config);
        let rng = OsRandom;
        let tls = crate::tls::client_config(config.upstream_ca.as_deref())?;
        let mut metrics = Metrics::new();
        let upstream = Arc::new(Upstream::new(
            config.supabase_url.clone(),
            &config.anon_key,
            std::time::Duration::from_secs(config.limits.upstream_timeout),
            tls.clone(),
            metrics.upstream.clone(),
        )?);
        let store_ops = metrics.store.of(store.backend());
        let cache = SessionCache::new(
            store,
            SESSION_CACHE_CAPACITY,
            std::time::Duration::from_secs(config.store_grace),
        )
        .counted(metrics.cache.clone(), store_ops);
        let env = Environment {
            clock: Arc::new(SystemClock),
            rng: Arc::new(OsRandom),
        };
        let settings = SessionSettings::from_config(&config);
        let sessions = SessionService::new(cache, upstream.clone(), settings, env)
            .counted(metrics.sessions.clone());
        let sessions = Arc::new(sessions);
        let flow_keys = match &config.store_keys {
            Some(keys) => keys.derive(FLOW_KEY_PURPOSE),
            None => StoreKeys::random(&rng),
        };
        let front_door = match &config.app_url {
            Some(url) => {
                let key = config
                    .identity_key
                    .clone()
                    .unwrap_or_else(|| Arc::new(IdentityKey::generate(&rng)));
                Some(FrontDoor::new(
                    url,
                    key,
                    config.public_url.url(),
                    tls.clone(),
                )?)
            }
            None => None,
        };
        let realtime =
            Realtime::new(config.clone(), tls, sessions.ended()).counted(metrics.frames.clone());
        metrics.count_open_sockets(realtime.open_sockets());
        Ok(App {
            metrics,
            realtime,
            front_door,
            flow_keys,
            rate_limiter: config.auth_rate_limit.map(RateLimiter::new),
            placeholder_key: PlaceholderKey::generate(&rng),
            sessions,
            upstream,
            config,
            rng,
        })
    }

    /// Waits, until `deadline`, for background work (refreshes, checks,
    /// last-seen writes, Realtime sockets) to let go of the app and of its
    /// session service: then at most the proxy's owner holds the app.
    pub async fn background_done(app: &Weak<App>, deadline: Instant) {
        while held_beyond_owner(app) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn now(&self) -> UnixSeconds {
        self.sessions.now()
    }

    pub fn random<const N: usize>(&self) -> [u8; N] {
        self.sessions.random()
    }
}

/// Whether anyone but the proxy's owner holds the app, or background work
/// holds its session service.
fn held_beyond_owner(app: &Weak<App>) -> bool {
    app.strong_count() > 1
        || app
            .upgrade()
            .is_some_and(|app| Arc::strong_count(&app.sessions) > 1)
}
