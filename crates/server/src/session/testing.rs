//! Test doubles for the session service and its users: a store shared by
//! several services (as Redis is by several proxies), Auth with scripted
//! answers, and a clock that follows tokio's (paused) time.

use super::auth::AuthAnswer;
use super::{AuthApi, Environment, SessionService, SessionSettings};
use crate::runtime::OsRandom;
use crate::store::{CachedStore, MemoryStore, SessionCache};
use bytes::Bytes;
use sbp_core::config::TokenMode;
use sbp_core::env::{Clock, UnixSeconds};
use sbp_core::session::{
    NewSession, Session, SessionKey, SessionStore, StoreError, UpstreamTokens, UserObject,
};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The Unix time at which a test starts.
pub const START: UnixSeconds = 1_700_000_000;

/// [`START`] plus the tokio time elapsed since the clock was made.
pub struct TokioClock {
    started: Instant,
}

impl TokioClock {
    pub fn new() -> TokioClock {
        TokioClock {
            started: Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> UnixSeconds {
        START + self.started.elapsed().as_secs() as i64
    }
}

/// A memory store that says it is shared and keeps refresh locks (with
/// their leases on tokio's time), as a shared Redis does. Clones are the
/// same store.
#[derive(Clone, Default)]
pub struct SharedStore {
    sessions: Arc<MemoryStore>,
    locks: Arc<Mutex<HashMap<SessionKey, (String, Instant)>>>,
}

impl CachedStore for SharedStore {
    fn is_shared(&self) -> bool {
        true
    }
    fn in_process_copy(&self, _: &SessionKey) -> Option<Arc<Session>> {
        None
    }
    async fn get(&self, key: &SessionKey) -> Result<Option<Arc<Session>>, StoreError> {
        self.sessions.get(key).await
    }
    async fn insert(&self, key: &SessionKey, session: &Session) -> Result<(), StoreError> {
        self.sessions.insert(key, session).await
    }
    async fn update_tokens(
        &self,
        key: &SessionKey,
        tokens: &UpstreamTokens,
        user: Option<&UserObject>,
        outdated_seen: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.sessions
            .update_tokens(key, tokens, user, outdated_seen)
            .await
    }
    async fn update_user(
        &self,
        key: &SessionKey,
        user: &UserObject,
        outdate: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.sessions.update_user(key, user, outdate).await
    }
    async fn find_auth_session(
        &self,
        auth_session_id: &str,
    ) -> Result<Option<(SessionKey, Session)>, StoreError> {
        self.sessions.find_auth_session(auth_session_id).await
    }
    async fn claim_hook_id(
        &self,
        id: &str,
        now: UnixSeconds,
        ttl: u64,
    ) -> Result<bool, StoreError> {
        self.sessions.claim_hook_id(id, now, ttl).await
    }
    async fn touch(
        &self,
        key: &SessionKey,
        last_seen_at: UnixSeconds,
        idle_expires_at: UnixSeconds,
    ) -> Result<Option<Arc<Session>>, StoreError> {
        self.sessions
            .touch(key, last_seen_at, idle_expires_at)
            .await
    }
    async fn remove(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        self.sessions.remove(key).await
    }
    async fn list_user(&self, user_id: &str) -> Result<Vec<(SessionKey, Session)>, StoreError> {
        self.sessions.list_user(user_id).await
    }
    async fn sweep(&self, now: UnixSeconds) -> Result<usize, StoreError> {
        self.sessions.sweep(now).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
    async fn lock_refresh(
        &self,
        key: &SessionKey,
        owner: &str,
        lease_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut locks = crate::sync::lock(&self.locks);
        let now = Instant::now();
        if locks.get(key).is_some_and(|(_, until)| *until > now) {
            return Ok(false);
        }
        let until = now + Duration::from_millis(lease_ms);
        locks.insert(key.clone(), (owner.to_string(), until));
        Ok(true)
    }
    async fn renew_refresh(
        &self,
        key: &SessionKey,
        owner: &str,
        lease_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut locks = crate::sync::lock(&self.locks);
        match locks.get_mut(key) {
            Some((holder, until)) if holder == owner => {
                *until = Instant::now() + Duration::from_millis(lease_ms);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
    async fn unlock_refresh(&self, key: &SessionKey, owner: &str) -> Result<(), StoreError> {
        let mut locks = crate::sync::lock(&self.locks);
        if locks.get(key).is_some_and(|(holder, _)| holder == owner) {
            locks.remove(key);
        }
        Ok(())
    }
}

/// One scripted answer: what Auth says, after how long.
type Scripted = (Duration, Result<AuthAnswer, String>);

/// Auth with scripted answers, counting the calls it gets.
#[derive(Default)]
pub struct FakeAuth {
    refreshes: Mutex<VecDeque<Scripted>>,
    users: Mutex<VecDeque<Scripted>>,
    /// The refresh tokens the refresh grant was called with.
    pub refreshed: Mutex<Vec<String>>,
    /// The access tokens `GET /user` was called with.
    pub checked: Mutex<Vec<String>>,
}

impl FakeAuth {
    /// The next refresh grant is answered with `answer` after `delay`.
    pub fn answer_refresh(&self, delay: Duration, answer: Result<AuthAnswer, String>) {
        crate::sync::lock(&self.refreshes).push_back((delay, answer));
    }

    /// The next `GET /user` is answered with `answer`.
    pub fn answer_user(&self, answer: Result<AuthAnswer, String>) {
        crate::sync::lock(&self.users).push_back((Duration::ZERO, answer));
    }

    pub fn refresh_calls(&self) -> usize {
        crate::sync::lock(&self.refreshed).len()
    }

    pub fn user_calls(&self) -> usize {
        crate::sync::lock(&self.checked).len()
    }
}

async fn play(script: &Mutex<VecDeque<Scripted>>) -> Result<AuthAnswer, String> {
    let next = crate::sync::lock(script).pop_front();
    let (delay, answer) = next.unwrap_or((Duration::ZERO, Err("nothing scripted".into())));
    tokio::time::sleep(delay).await;
    answer
}

impl AuthApi for FakeAuth {
    async fn refresh_grant(&self, refresh_token: &str) -> Result<AuthAnswer, String> {
        crate::sync::lock(&self.refreshed).push(refresh_token.to_string());
        play(&self.refreshes).await
    }
    async fn user(&self, access_token: &str) -> Result<AuthAnswer, String> {
        crate::sync::lock(&self.checked).push(access_token.to_string());
        play(&self.users).await
    }
}

/// An answer with `status`, no error-code header and `body`.
pub fn answer(status: u16, body: &str) -> Result<AuthAnswer, String> {
    Ok(AuthAnswer {
        status,
        error_code: None,
        body: Bytes::from(body.to_string()),
    })
}

/// A JWT as Auth issues it (signed with a key the proxy does not know),
/// for `sub` "u", valid from `iat` to `exp`.
pub fn auth_token(iat: UnixSeconds, exp: UnixSeconds) -> String {
    let claims = serde_json::json!({
        "sub": "u", "iat": iat, "exp": exp, "session_id": "auth-s", "role": "authenticated",
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"Auth's own secret"),
    )
    .expect("a token")
}

/// Auth's answer to a refresh grant: a new token valid from `now` for an
/// hour, and the refresh token `refresh_token`.
pub fn token_answer(now: UnixSeconds, refresh_token: &str) -> Result<AuthAnswer, String> {
    let body = serde_json::json!({
        "access_token": auth_token(now, now + 3600),
        "refresh_token": refresh_token,
        "expires_in": 3600,
        "token_type": "bearer",
        "user": {"id": "u"},
    });
    answer(200, &body.to_string())
}

/// Refresh mode with a 60 s margin; a day of idle lifetime.
pub fn refresh_settings() -> SessionSettings {
    SessionSettings {
        token_mode: TokenMode::Refresh,
        refresh_margin: 60,
        mint_ttl: 300,
        mint_check: Duration::from_secs(60),
        idle_ttl: 86_400,
    }
}

/// Mint mode with an HS256 key, 300 s tokens, a 60 s margin and a check
/// every 60 s.
pub fn mint_settings() -> SessionSettings {
    let key = sbp_core::token::MintKey::from_secret("a test secret of thirty-two characters")
        .expect("a mint key");
    SessionSettings {
        token_mode: TokenMode::Mint(Arc::new(key)),
        ..refresh_settings()
    }
}

pub type TestService = SessionService<SharedStore, FakeAuth>;

/// A service over `store` asking `auth`, on the tokio clock.
pub fn service(
    store: SharedStore,
    auth: Arc<FakeAuth>,
    settings: SessionSettings,
) -> Arc<TestService> {
    let cache = SessionCache::new(store, 64, Duration::ZERO);
    let env = Environment {
        clock: Arc::new(TokioClock::new()),
        rng: Arc::new(OsRandom),
    };
    Arc::new(SessionService::new(cache, auth, settings, env))
}

/// Stores a session of user "u" whose hour-long Auth token expires at
/// `expires_at`; returns its key.
pub async fn signed_in(service: &TestService, expires_at: UnixSeconds) -> SessionKey {
    let now = service.now();
    let issued_at = expires_at - 3600;
    let new = NewSession {
        id: "00000000-0000-4000-8000-000000000001".into(),
        user_id: "u".into(),
        user: serde_json::json!({"id": "u"}).into(),
        auth_session_id: Some("auth-s".into()),
        tokens: UpstreamTokens {
            access_token: auth_token(issued_at, expires_at),
            refresh_token: "r1".into(),
            issued_at,
            expires_at,
        },
        ip: None,
        user_agent: None,
        country: None,
    };
    let key = SessionKey::from_stored("session-key");
    let session = Session::new(new, now, 30 * 86_400, 86_400);
    service.insert(&key, session).await.expect("stored");
    key
}
