//! `file:PATH`: an embedded redb database that survives restarts.
//!
//! Every write is committed with full durability before it is answered, so
//! a `kill -9` at any moment loses no answered write and leaves the file
//! consistent; writes that arrive together share a commit ([`commits`]).
//! redb calls block, so each runs on tokio's blocking pool. The file is
//! readable by its owner only (0600, its folder 0700 when the proxy makes
//! it), and upstream tokens are sealed in it when `PROXY_STORE_KEY` is set.

mod commits;

use super::hook_ids::SeenHookIds;
use super::sealing::{opened, sealed};
use commits::Commits;
use redb::{
    Database, MultimapTableDefinition, ReadableDatabase, ReadableMultimapTable, ReadableTable,
    TableDefinition, WriteTransaction,
};
use sbp_core::env::UnixSeconds;
use sbp_core::session::{
    Session, SessionKey, SessionStore, StoreError, TokenSeal, UpstreamTokens, UserObject,
};
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

/// Session key → session JSON.
const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
/// User id → session keys.
const BY_USER: MultimapTableDefinition<&str, &str> = MultimapTableDefinition::new("by_user");
/// Auth's session id → the session key holding it. A file written before
/// this table existed has none: sessions made since are found, older ones
/// end with their lifetime.
const BY_AUTH_SESSION: TableDefinition<&str, &str> = TableDefinition::new("by_auth_session");

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
    seal: TokenSeal,
    /// Hook call ids are kept in memory: one process uses the file.
    hook_ids: Arc<SeenHookIds>,
}

/// Creates `dir` and its missing parents, readable by the owner only.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Opens or creates the database file with mode 0600 (an existing file
/// that others may read is made private).
fn open_private_file(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if file.metadata()?.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the session store was readable by others; making it 0600");
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(file)
}

impl FileStore {
    /// Whether `error`, from [`FileStore::open`], says another process
    /// holds the file (redb lets one process open it).
    pub fn held_elsewhere(error: &StoreError) -> bool {
        matches!(error, StoreError::Unavailable(m) if m.contains("already open"))
    }

    /// Opens (or creates) the database file, creating its folder if needed;
    /// `seal` says how upstream tokens are written.
    pub fn open(path: &Path, seal: TokenSeal) -> Result<FileStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir)
                .map_err(|e| unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let cannot_open =
            |e: &dyn std::fmt::Display| unavailable(format!("cannot open {}: {e}", path.display()));
        let file = open_private_file(path).map_err(|e| cannot_open(&e))?;
        let db = redb::Builder::new()
            .create_file(file)
            .map_err(|e| cannot_open(&e))?;
        let txn = db.begin_write().map_err(unavailable)?;
        txn.open_table(SESSIONS).map_err(unavailable)?;
        txn.open_multimap_table(BY_USER).map_err(unavailable)?;
        txn.open_table(BY_AUTH_SESSION).map_err(unavailable)?;
        txn.commit().map_err(unavailable)?;
        Ok(FileStore {
            db: Arc::new(db),
            commits: Arc::default(),
            seal,
            hook_ids: Arc::default(),
        })
    }

    /// The ids of every user with a stored session (the admin command's scan).
    pub async fn user_ids(&self) -> Result<Vec<String>, StoreError> {
        self.blocking(|db| {
            let txn = db.begin_read().map_err(unavailable)?;
            let index = txn.open_multimap_table(BY_USER).map_err(unavailable)?;
            let mut out = Vec::new();
            for entry in index.iter().map_err(unavailable)? {
                out.push(entry.map_err(unavailable)?.0.value().to_string());
            }
            Ok(out)
        })
        .await
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

/// The session under `key` with its tokens opened (`None` when it is gone
/// or its tokens cannot be opened).
fn read_in(
    txn: &WriteTransaction,
    key: &SessionKey,
    seal: &TokenSeal,
) -> Result<Option<Session>, StoreError> {
    let table = txn.open_table(SESSIONS).map_err(unavailable)?;
    let value = table.get(key.as_str()).map_err(unavailable)?;
    let session = value.map(|v| decode(v.value())).transpose()?;
    Ok(session.and_then(|s| opened(seal, key, s)))
}

/// Writes `session` under `key`, its tokens sealed.
fn write_in(
    txn: &WriteTransaction,
    key: &SessionKey,
    session: &Session,
    seal: &TokenSeal,
) -> Result<(), StoreError> {
    let mut table = txn.open_table(SESSIONS).map_err(unavailable)?;
    let stored = sealed(seal, key, session);
    table
        .insert(key.as_str(), stored.to_bytes().as_slice())
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
        if let Some(auth_id) = &s.auth_session_id {
            let mut by_auth = txn.open_table(BY_AUTH_SESSION).map_err(unavailable)?;
            let holder = by_auth
                .get(auth_id.as_str())
                .map_err(unavailable)?
                .map(|v| v.value().to_string());
            if holder.as_deref() == Some(key) {
                by_auth.remove(auth_id.as_str()).map_err(unavailable)?;
            }
        }
    }
    Ok(session)
}

/// Changes the session under `key` with `change`, in `txn`; `false` when
/// it is gone.
fn change_in(
    txn: &WriteTransaction,
    key: &SessionKey,
    seal: &TokenSeal,
    change: impl FnOnce(&mut Session),
) -> Result<bool, StoreError> {
    let Some(mut session) = read_in(txn, key, seal)? else {
        return Ok(false);
    };
    change(&mut session);
    write_in(txn, key, &session, seal)?;
    Ok(true)
}

impl SessionStore for FileStore {
    async fn get(&self, key: &SessionKey) -> Result<Option<Arc<Session>>, StoreError> {
        let (key, seal) = (key.clone(), self.seal.clone());
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(unavailable)?;
            let table = txn.open_table(SESSIONS).map_err(unavailable)?;
            let value = table.get(key.as_str()).map_err(unavailable)?;
            let session = value.map(|v| decode(v.value())).transpose()?;
            Ok(session.and_then(|s| opened(&seal, &key, s)).map(Arc::new))
        })
        .await
    }

    async fn insert(&self, key: &SessionKey, session: &Session) -> Result<(), StoreError> {
        let (key, session, seal) = (key.clone(), session.clone(), self.seal.clone());
        self.write(move |txn| {
            remove_in(txn, key.as_str())?;
            write_in(txn, &key, &session, &seal)?;
            let mut index = txn.open_multimap_table(BY_USER).map_err(unavailable)?;
            index
                .insert(session.user_id.as_str(), key.as_str())
                .map_err(unavailable)?;
            if let Some(auth_id) = &session.auth_session_id {
                let mut by_auth = txn.open_table(BY_AUTH_SESSION).map_err(unavailable)?;
                by_auth
                    .insert(auth_id.as_str(), key.as_str())
                    .map_err(unavailable)?;
            }
            Ok(())
        })
        .await
    }

    async fn update_tokens(
        &self,
        key: &SessionKey,
        tokens: &UpstreamTokens,
        user: Option<&UserObject>,
        outdated_seen: Option<&str>,
    ) -> Result<bool, StoreError> {
        let (key, tokens, user) = (key.clone(), tokens.clone(), user.cloned());
        let (seen, seal) = (outdated_seen.map(str::to_string), self.seal.clone());
        self.write(move |txn| {
            change_in(txn, &key, &seal, |session| {
                session.tokens = tokens.clone();
                if session.tokens_outdated == seen {
                    session.tokens_outdated = None;
                    if let Some(user) = &user {
                        session.user = user.clone();
                    }
                }
            })
        })
        .await
    }

    async fn update_user(
        &self,
        key: &SessionKey,
        user: &UserObject,
        outdate: Option<&str>,
    ) -> Result<bool, StoreError> {
        let (key, user, seal) = (key.clone(), user.clone(), self.seal.clone());
        let outdate = outdate.map(str::to_string);
        self.write(move |txn| {
            change_in(txn, &key, &seal, |session| {
                session.user = user.clone();
                if outdate.is_some() {
                    session.tokens_outdated = outdate.clone();
                }
            })
        })
        .await
    }

    async fn find_auth_session(
        &self,
        auth_session_id: &str,
    ) -> Result<Option<(SessionKey, Session)>, StoreError> {
        let (auth_id, seal) = (auth_session_id.to_string(), self.seal.clone());
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(unavailable)?;
            let by_auth = txn.open_table(BY_AUTH_SESSION).map_err(unavailable)?;
            let Some(key) = by_auth.get(auth_id.as_str()).map_err(unavailable)? else {
                return Ok(None);
            };
            let key = SessionKey::from_stored(key.value());
            let table = txn.open_table(SESSIONS).map_err(unavailable)?;
            let Some(value) = table.get(key.as_str()).map_err(unavailable)? else {
                return Ok(None);
            };
            let session = opened(&seal, &key, decode(value.value())?);
            Ok(session
                .filter(|s| s.auth_session_id.as_deref() == Some(auth_id.as_str()))
                .map(|s| (key, s)))
        })
        .await
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
        let (key, seal) = (key.clone(), self.seal.clone());
        self.write(move |txn| {
            let Some(mut session) = read_in(txn, &key, &seal)? else {
                return Ok(None);
            };
            session.last_seen_at = last_seen_at;
            session.idle_expires_at = idle_expires_at;
            write_in(txn, &key, &session, &seal)?;
            Ok(Some(Arc::new(session)))
        })
        .await
    }

    async fn remove(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        let removed = {
            let key = key.as_str().to_string();
            self.write(move |txn| remove_in(txn, &key)).await?
        };
        Ok(removed.and_then(|s| opened(&self.seal, key, s)))
    }

    async fn list_user(&self, user_id: &str) -> Result<Vec<(SessionKey, Session)>, StoreError> {
        let (user_id, seal) = (user_id.to_string(), self.seal.clone());
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(unavailable)?;
            let index = txn.open_multimap_table(BY_USER).map_err(unavailable)?;
            let table = txn.open_table(SESSIONS).map_err(unavailable)?;
            let mut out = Vec::new();
            for key in index.get(user_id.as_str()).map_err(unavailable)? {
                let key = key.map_err(unavailable)?.value().to_string();
                if let Some(value) = table.get(key.as_str()).map_err(unavailable)? {
                    let key = SessionKey::from_stored(&key);
                    if let Some(session) = opened(&seal, &key, decode(value.value())?) {
                        out.push((key, session));
                    }
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
