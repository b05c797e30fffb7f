//! `sb-cookie-proxy sessions list|revoke`: an operator's view of the
//! configured store, and revocation through the session service's common
//! path ([`SessionService::end`]), so that with Redis the running instances
//! hear of it on the eviction and ended channels and close the session's
//! Realtime sockets at once.
//!
//! The store indexes sessions by user id only. Finding sessions by email or
//! by public id scans every user's sessions: an admin command is rare, and
//! an index by email would cost a write on every sign-in and user change
//! and follow email changes on every backend.

use crate::runtime::{OsRandom, SystemClock};
use crate::session::{Environment, SessionService, SessionSettings};
use crate::store::{FileStore, SessionCache, Store};
use crate::upstream::Upstream;
use sbp_core::config::{Config, StoreSpec};
use sbp_core::edge::Timestamp;
use sbp_core::session::{EndReason, Session, SessionKey, StoreError, TokenSeal};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// Which sessions a command is about.
#[derive(Clone, Debug)]
pub enum Selector {
    User(String),
    Email(String),
    /// A session's public id.
    Session(String),
}

/// Why an admin command failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(
        "PROXY_SESSION_STORE is memory:, which lives inside each proxy process; \
         the sessions command works on a file: or redis:// store"
    )]
    MemoryStore,
    #[error(
        "the file store {0} is open in another process (a running proxy?): \
         only one process may open it; stop the proxy first, or use a Redis store"
    )]
    FileInUse(String),
    #[error("the session store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Setup(#[from] crate::Error),
}

/// One session as the command shows it: no token, no key.
#[derive(Serialize)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub email: Option<String>,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl SessionRow {
    fn of(session: &Session) -> SessionRow {
        SessionRow {
            id: session.id.clone(),
            user_id: session.user_id.clone(),
            email: email_of(session),
            created_at: Timestamp(session.created_at),
            last_seen_at: Timestamp(session.last_seen_at),
            expires_at: Timestamp(session.expires_at),
            ip: session.ip.clone(),
            user_agent: session.user_agent.clone(),
        }
    }

    /// One line, tab-separated, `-` for what is absent.
    pub fn line(&self) -> String {
        let json = serde_json::to_value(self).unwrap_or_default();
        let field = |name: &str| match &json[name] {
            serde_json::Value::String(s) => s.replace(['\t', '\n'], " "),
            _ => "-".to_string(),
        };
        [
            "id",
            "user_id",
            "email",
            "created_at",
            "last_seen_at",
            "expires_at",
            "ip",
            "user_agent",
        ]
        .map(field)
        .join("\t")
    }
}

/// The column names of [`SessionRow::line`].
pub const HEADER: &str = "id\tuser_id\temail\tcreated_at\tlast_seen_at\texpires_at\tip\tuser_agent";

fn email_of(session: &Session) -> Option<String> {
    session.user.to_value()["email"]
        .as_str()
        .map(str::to_string)
}

/// The configured store behind a session service, as the proxy opens it.
pub struct Admin {
    sessions: SessionService,
}

impl Admin {
    /// Opens the configured store; runs inside the runtime.
    pub fn open(config: &Config) -> Result<Admin, AdminError> {
        let hex: String = OsRandom
            .bytes::<8>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let instance = format!("admin-{hex}");
        let seal = TokenSeal::new(config.store_keys.clone(), Arc::new(OsRandom));
        let store = match &config.session_store {
            StoreSpec::Memory => return Err(AdminError::MemoryStore),
            StoreSpec::File(path) => {
                Store::open(&config.session_store, instance, seal).map_err(|e| {
                    if FileStore::held_elsewhere(&e) {
                        AdminError::FileInUse(path.display().to_string())
                    } else {
                        AdminError::Store(e)
                    }
                })?
            }
            StoreSpec::Redis(_) => Store::open(&config.session_store, instance, seal)?,
        };
        let tls = crate::tls::client_config(config.upstream_ca.as_deref())?;
        let upstream = Arc::new(Upstream::new(
            config.supabase_url.clone(),
            &config.anon_key,
            Duration::from_secs(config.limits.upstream_timeout),
            tls,
            Default::default(),
        )?);
        let cache = SessionCache::new(store, 1, Duration::ZERO);
        let env = Environment {
            clock: Arc::new(SystemClock),
            rng: Arc::new(OsRandom),
        };
        let settings = SessionSettings::from_config(config);
        Ok(Admin {
            sessions: SessionService::new(cache, upstream, settings, env),
        })
    }

    /// The live sessions `selector` names, oldest first (then by id).
    pub async fn list(&self, selector: &Selector) -> Result<Vec<SessionRow>, AdminError> {
        let found = self.find(selector).await?;
        Ok(found.iter().map(|(_, s)| SessionRow::of(s)).collect())
    }

    /// Ends the sessions `selector` names; returns them as they were.
    pub async fn revoke(&self, selector: &Selector) -> Result<Vec<SessionRow>, AdminError> {
        let mut ended = Vec::new();
        for (key, _) in self.find(selector).await? {
            if let Some(session) = self.sessions.end(&key, EndReason::Admin).await? {
                ended.push(SessionRow::of(&session));
            }
        }
        Ok(ended)
    }

    async fn find(&self, selector: &Selector) -> Result<Vec<(SessionKey, Session)>, StoreError> {
        let mut found = match selector {
            Selector::User(id) => self.sessions.list_user(id).await?,
            Selector::Email(email) => {
                self.scan(|s| email_of(s).is_some_and(|e| e.eq_ignore_ascii_case(email)))
                    .await?
            }
            Selector::Session(id) => self.scan(|s| s.id == *id).await?,
        };
        let now = self.sessions.now();
        found.retain(|(_, s)| !s.is_expired(now));
        found.sort_by(|(_, a), (_, b)| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(found)
    }

    /// Every user's sessions that `keep` accepts.
    async fn scan(
        &self,
        keep: impl Fn(&Session) -> bool,
    ) -> Result<Vec<(SessionKey, Session)>, StoreError> {
        let users = match self.sessions.store() {
            Store::File(file) => file.user_ids().await?,
            Store::Redis(redis) => redis.user_ids().await?,
            Store::Memory(_) => Vec::new(),
        };
        let mut out = Vec::new();
        for user in users {
            let sessions = self.sessions.list_user(&user).await?;
            out.extend(sessions.into_iter().filter(|(_, s)| keep(s)));
        }
        Ok(out)
    }
}
