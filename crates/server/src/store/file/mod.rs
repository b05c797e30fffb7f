//! `file:PATH`: an embedded redb database that survives restarts.
//!
//! Every write is committed with full durability before it is answered, so
//! a `kill -9` at any moment loses no answered write and leaves the file
//! consistent; writes that arrive together share a commit ([`commits`]).
//! redb calls block, so each runs on tokio's blocking pool.

mod commits;

use commits::Commits;
use redb::{
    Database, MultimapTableDefinition, ReadableDatabase, ReadableTable, TableDefinition,
    WriteTransaction,
};
use sbp_core::env::UnixSeconds;
use sbp_core::session::{
    Session, SessionKey, SessionStore, StoreError, UpstreamTokens, UserObject,
};
use std::path::Path;
use std::sync::Arc;

/// Session key → session JSON.
const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
/// User id → session keys.
const BY_USER: MultimapTableDefinition<&str, &str> = MultimapTableDefinition::new("by_user");

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn decode(bytes: &[u8]) -> Result<Session, StoreError> {
    Session::from_bytes(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[derive(Clone)]
pub struct FileStore {
    db: Arc<Database>,
    commits: Arc<Commits>,
}

impl FileStore {
    /// Opens (or creates) the database file, creating its folder if needed.
    pub fn open(path: &Path) -> Result<FileStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let db = Database::create(path)
            .map_err(|e| unavailable(format!("cannot open {}: {e}", path.display())))?;
        let txn = db.begin_write().map_err(unavailable)?;
        txn.open_table(SESSIONS).map_err(unavailable)?;
        txn.open_multimap_table(BY_USER).map_err(unavailable)?;
        txn.commit().map_err(unavailable)?;
        Ok(FileStore {
            db: Arc::new(db),
            commits: Arc::default(),
        })
    }

    /// Runs `f` on the blocking pool with the database.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(unavailable)?
    }

    /// Runs `f` in a write transaction and gives its result once that is
    /// committed; `f` may run again in a new transaction (see [`commits`]).
    async fn write<T: Send + 'static>(
        &self,
        f: impl Fn(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.commits.write(&self.db, f).await
    }
}

fn read_in(txn: &WriteTransaction, key: &str) -> Result<Option<Session>, StoreError> {
    let table = txn.open_table(SESSIONS).map_err(unavailable)?;
    let value = table.get(key).map_err(unavailable)?;
    value.map(|v| decode(v.value())).transpose()
}

fn write_in(txn: &WriteTransaction, key: &str, session: &Session) -> Result<(), StoreError> {
    let mut table = txn.open_table(SESSIONS).map_err(unavailable)?;
    table
        .insert(key, session.to_bytes().as_slice())
        .map_err(unavailable)?;
    Ok(())
}

fn remove_in(txn: &WriteTransaction, key: &str) -> Result<Option<Session>, StoreError> {
    let removed = {
        let mut table = txn.open_table(SESSIONS).map_err(unavailable)?;
        let old = table.remove(key).map_err(unavailable)?;
        old.map(|v| v.value().to_vec())
    };
    let Some(bytes) = removed else {
        return Ok(None);
    };
    // A corrupt row is still removed; its index entry cannot be found and
    // stays until the user's listing skips it.
    let session = decode(&bytes).ok();
    if let Some(s) = &session {
        let mut index = txn.open_multimap_table(BY_USER).map_err(unavailable)?;
        index.remove(s.user_id.as_str(), key).map_err(unavailable)?;
    }
    Ok(session)
}

impl SessionStore for FileStore {
    async fn get(&self, key: &SessionKey) -> Result<Option<Arc<Session>>, StoreError> {
        let key = key.as_str().to_string();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(unavailable)?;
            let table = txn.open_table(SESSIONS).map_err(unavailable)?;
            let value = table.get(key.as_str()).map_err(unavailable)?;
            value.map(|v| decode(v.value()).map(Arc::new)).transpose()
        })
        .await
    }

    async fn insert(&self, key: &SessionKey, session: &Session) -> Result<(), StoreError> {
        let (key, session) = (key.as_str().to_string(), session.clone());
        self.write(move |txn| {
            remove_in(txn, &key)?;
            write_in(txn, &key, &session)?;
            let mut index = txn.open_multimap_table(BY_USER).map_err(unavailable)?;
            index
                .insert(session.user_id.as_str(), key.as_str())
                .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn update_tokens(
        &self,
        key: &SessionKey,
        tokens: &UpstreamTokens,
        user: &UserObject,
    ) -> Result<bool, StoreError> {
        let (key, tokens, user) = (key.as_str().to_string(), tokens.clone(), user.clone());
        self.write(move |txn| {
            let Some(mut session) = read_in(txn, &key)? else {
                return Ok(false);
            };
            session.tokens = tokens.clone();
            session.user = user.clone();
            write_in(txn, &key, &session)?;
            Ok(true)
        })
        .await
    }

    async fn touch(
        &self,
        key: &SessionKey,
        last_seen_at: UnixSeconds,
        idle_expires_at: UnixSeconds,
    ) -> Result<(), StoreError> {
        let key = key.as_str().to_string();
        self.write(move |txn| {
            if let Some(mut session) = read_in(txn, &key)? {
                session.last_seen_at = last_seen_at;
                session.idle_expires_at = idle_expires_at;
                write_in(txn, &key, &session)?;
            }
            Ok(())
        })
        .await
    }

    async fn remove(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        let key = key.as_str().to_string();
        self.write(move |txn| remove_in(txn, &key)).await
    }

    async fn list_user(&self, user_id: &str) -> Result<Vec<(SessionKey, Session)>, StoreError> {
        let user_id = user_id.to_string();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(unavailable)?;
            let index = txn.open_multimap_table(BY_USER).map_err(unavailable)?;
            let table = txn.open_table(SESSIONS).map_err(unavailable)?;
            let mut out = Vec::new();
            for key in index.get(user_id.as_str()).map_err(unavailable)? {
                let key = key.map_err(unavailable)?.value().to_string();
                if let Some(value) = table.get(key.as_str()).map_err(unavailable)? {
                    out.push((SessionKey::from_stored(&key), decode(value.value())?));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn sweep(&self, now: UnixSeconds) -> Result<usize, StoreError> {
        self.write(move |txn| {
            let expired: Vec<String> = {
                let table = txn.open_table(SESSIONS).map_err(unavailable)?;
                let mut expired = Vec::new();
                for row in table.iter().map_err(unavailable)? {
                    let (key, value) = row.map_err(unavailable)?;
                    if decode(value.value()).is_ok_and(|s| s.is_expired(now)) {
                        expired.push(key.value().to_string());
                    }
                }
                expired
            };
            for key in &expired {
                remove_in(txn, key)?;
            }
            Ok(expired.len())
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.blocking(|db| db.begin_read().map(drop).map_err(unavailable))
            .await
    }
}
