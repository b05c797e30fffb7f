//! `memory:`: sessions in process memory, lost on restart. Each session is
//! one shared allocation: the cache in front of the store holds the same `Arc`.

use super::hook_ids::SeenHookIds;
use sbp_core::env::UnixSeconds;
use sbp_core::session::{
    Session, SessionKey, SessionStore, StoreError, UpstreamTokens, UserObject,
};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Default)]
struct Tables {
    sessions: HashMap<SessionKey, Arc<Session>>,
    by_user: HashMap<String, BTreeSet<SessionKey>>,
    /// Auth's session id → the session holding it.
    by_auth_session: HashMap<String, SessionKey>,
}

impl Tables {
    fn remove(&mut self, key: &SessionKey) -> Option<Arc<Session>> {
        let session = self.sessions.remove(key)?;
        if let Some(auth_id) = &session.auth_session_id
            && self.by_auth_session.get(auth_id) == Some(key)
        {
            self.by_auth_session.remove(auth_id);
        }
        if let Some(keys) = self.by_user.get_mut(&session.user_id) {
            keys.remove(key);
            if keys.is_empty() {
                self.by_user.remove(&session.user_id);
            }
        }
        Some(session)
    }
}

#[derive(Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
    hook_ids: SeenHookIds,
}

impl MemoryStore {
    fn lock(&self) -> MutexGuard<'_, Tables> {
        crate::sync::lock(&self.tables)
    }

    /// The stored session itself (not a copy).
    pub fn shared(&self, key: &SessionKey) -> Option<Arc<Session>> {
        self.lock().sessions.get(key).cloned()
    }
}

impl SessionStore for MemoryStore {
    async fn get(&self, key: &SessionKey) -> Result<Option<Arc<Session>>, StoreError> {
        Ok(self.shared(key))
    }

    async fn insert(&self, key: &SessionKey, session: &Session) -> Result<(), StoreError> {
        let mut t = self.lock();
        t.remove(key);
        t.by_user
            .entry(session.user_id.clone())
            .or_default()
            .insert(key.clone());
        if let Some(auth_id) = &session.auth_session_id {
            t.by_auth_session.insert(auth_id.clone(), key.clone());
        }
        t.sessions.insert(key.clone(), Arc::new(session.clone()));
        Ok(())
    }

    async fn update_tokens(
        &self,
        key: &SessionKey,
        tokens: &UpstreamTokens,
        user: Option<&UserObject>,
        outdated_seen: Option<&str>,
    ) -> Result<bool, StoreError> {
        Ok(match self.lock().sessions.get_mut(key) {
            Some(s) => {
                let s = Arc::make_mut(s);
                s.tokens = tokens.clone();
                if s.tokens_outdated.as_deref() == outdated_seen {
                    s.tokens_outdated = None;
                    if let Some(user) = user {
                        s.user = user.clone();
                    }
                }
                true
            }
            None => false,
        })
    }

    async fn update_user(
        &self,
        key: &SessionKey,
        user: &UserObject,
        outdate: Option<&str>,
    ) -> Result<bool, StoreError> {
        Ok(match self.lock().sessions.get_mut(key) {
            Some(s) => {
                let s = Arc::make_mut(s);
                s.user = user.clone();
                if let Some(mark) = outdate {
                    s.tokens_outdated = Some(mark.to_string());
                }
                true
            }
            None => false,
        })
    }

    async fn find_auth_session(
        &self,
        auth_session_id: &str,
    ) -> Result<Option<(SessionKey, Session)>, StoreError> {
        let t = self.lock();
        Ok(t.by_auth_session.get(auth_session_id).and_then(|key| {
            t.sessions
                .get(key)
                .map(|s| (key.clone(), Session::clone(s)))
        }))
    }

    async fn claim_hook_id(
        &self,
        id: &str,
        now: UnixSeconds,
        ttl: u64,
    ) -> Result<bool, StoreError> {
        Ok(self.hook_ids.claim(id, now, ttl))
    }

    async fn touch(
        &self,
        key: &SessionKey,
        last_seen_at: UnixSeconds,
        idle_expires_at: UnixSeconds,
    ) -> Result<Option<Arc<Session>>, StoreError> {
        let mut t = self.lock();
        let Some(stored) = t.sessions.get_mut(key) else {
            return Ok(None);
        };
        let s = Arc::make_mut(stored);
        s.last_seen_at = last_seen_at;
        s.idle_expires_at = idle_expires_at;
        Ok(Some(stored.clone()))
    }

    async fn remove(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        Ok(self.lock().remove(key).map(Arc::unwrap_or_clone))
    }

    async fn list_user(&self, user_id: &str) -> Result<Vec<(SessionKey, Session)>, StoreError> {
        let t = self.lock();
        Ok(t.by_user
            .get(user_id)
            .into_iter()
            .flatten()
            .filter_map(|k| t.sessions.get(k).map(|s| (k.clone(), Session::clone(s))))
            .collect())
    }

    async fn sweep(&self, now: UnixSeconds) -> Result<usize, StoreError> {
        let mut t = self.lock();
        let expired: Vec<SessionKey> = t
            .sessions
            .iter()
            .filter(|(_, s)| s.is_expired(now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in &expired {
            t.remove(key);
        }
        Ok(expired.len())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
