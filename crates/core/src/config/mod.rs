//! The proxy's validated configuration.
//!
//! [`Config::load`] reads every setting through a [`ConfigSource`] (the
//! environment, a TOML file, or a map in tests) and either returns a complete
//! config or every problem at once, one per setting.

mod duration;
mod limits;
mod load;
mod log_format;
mod rate;
mod reader;
mod redis_cluster;
mod unknown;
mod url;

pub use duration::parse_duration;
pub use limits::{Limits, parse_size};
pub use load::KEYS;
pub use log_format::{LogFormat, parse_log_format};
pub use rate::parse_rate_limit;
pub use reader::{ConfigProblem, ConfigProblems, ConfigSource};
pub use redis_cluster::cluster_nodes;
pub use unknown::{UnknownSetting, closest_key, edit_distance, unknown_env, unknown_key};
pub use url::{Origin, PublicUrl, UpstreamUrl};

use crate::guard::{RateLimit, TrustedProxies};
use crate::token::MintKey;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// How the proxy obtains the token it sends upstream for a session.
#[derive(Debug, Clone)]
pub enum TokenMode {
    /// Keep Auth's own access and refresh tokens and refresh them server-side.
    Refresh,
    /// Sign short-lived tokens with Auth's claims, never calling Auth to refresh.
    Mint(Arc<MintKey>),
}

/// Where sessions are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSpec {
    /// In process memory; lost on restart.
    Memory,
    /// An embedded redb file that survives restarts.
    File(PathBuf),
    /// A Redis or Valkey server shared by many proxies (`redis://` or
    /// `rediss://`), or a cluster of them (`redis+cluster://`, [`cluster_nodes`]).
    Redis(String),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub supabase_url: UpstreamUrl,
    pub anon_key: String,
    pub service_role_key: Option<String>,
    pub jwt_secret: Option<String>,
    pub listen: SocketAddr,
    /// The admin listener (`PROXY_ADMIN_LISTEN`: metrics, liveness,
    /// readiness), off by default; never the public address.
    pub admin_listen: Option<SocketAddr>,
    pub public_url: PublicUrl,
    pub allowed_origins: Vec<Origin>,
    pub token_mode: TokenMode,
    pub session_store: StoreSpec,
    pub cookie_name: String,
    /// Absolute session lifetime, seconds.
    pub session_ttl: u64,
    /// Idle timeout, seconds.
    pub session_idle_ttl: u64,
    /// Lifetime of minted upstream tokens, seconds.
    pub mint_ttl: u64,
    /// Refresh this long before the upstream token expires, seconds.
    pub refresh_margin: u64,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// Per-client-IP limit on Auth calls that take secrets or send mail.
    pub auth_rate_limit: Option<RateLimit>,
    pub limits: Limits,
    /// How long sessions already in memory keep working while the shared
    /// store is unreachable, seconds.
    pub store_grace: u64,
    /// Keys that seal the upstream tokens in the store (`PROXY_STORE_KEY`);
    /// the first seals, all open.
    pub store_keys: Option<crate::session::StoreKeys>,
    /// In mint mode, how often a session in use is checked with Auth
    /// (revoked, banned or deleted users), seconds.
    pub mint_check: u64,
    /// A PEM file of CA certificates trusted for the upstream besides the
    /// public roots (a self-hosted Supabase behind a private CA); the
    /// server reads it at start.
    pub upstream_ca: Option<PathBuf>,
    /// The secrets `POST /edge/v1/hooks/auth` calls are signed with
    /// (`PROXY_HOOK_SECRET`); without them the hook is off.
    pub hook_secrets: Option<crate::hooks::HookSecrets>,
    /// Whether the proxy keeps `public.sessions` (the repository's
    /// `schema.sql`) in step through PostgREST (`PROXY_SESSIONS_TABLE=on`,
    /// which needs `SUPABASE_SERVICE_ROLE_KEY`).
    pub sessions_table: bool,
    /// The app behind the proxy (`PROXY_APP_URL`): every request that is
    /// not for Supabase or `/edge/v1` goes there.
    pub app_url: Option<UpstreamUrl>,
    /// The key the app's identity header is signed with
    /// (`PROXY_IDENTITY_KEY`); without it the server generates one at start.
    pub identity_key: Option<Arc<crate::identity::IdentityKey>>,
}

impl Config {
    /// Whether `origin` (the exact `Origin` header value) may send
    /// cookie-authenticated requests.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|o| o.matches(origin))
    }

    /// Whether the session cookie must be `Secure` (public URL is https).
    pub fn secure_cookie(&self) -> bool {
        self.public_url.is_https()
    }
}
