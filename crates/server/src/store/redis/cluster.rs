//! The Redis store on a Redis or Valkey Cluster (`redis+cluster://`): every
//! script touches one slot, so each index is written in a step of its own.
//!
//! Layout, under the prefix `P` (`sbp:`):
//! - `P{<key>}:s`: the session hash, with the fields of the single-server
//!   layout ([`super::scripts`]) and `valid` (when it ends, idle or not),
//!   expiring when the session does.
//! - `Pu:{<user>}`: the user's session keys, scored by when each ends.
//! - `Px:{<n>}`: every session (`<user>\n<key>`) by the same score, in
//!   [`INDEX_PARTS`] parts (by the key's last byte) spread over the
//!   primaries, for the sweep and the admin command.
//! - `Pa:{<auth session id>}`: the key of the session holding that Auth
//!   session, expiring with it.
//! - `Pl:<key>` (the refresh lock) and `Ph:<id>` (hook ids) are one key each,
//!   as on one server.
//!
//! The indexes expire with their last session. They are written before a
//! session and removed after it, so a live session is always in its
//! indexes (what listing and "sign out everywhere" rely on); a step that
//! fails leaves at worst an entry that points nowhere, which listing and
//! the sweep drop.

use super::{PREFIX, RedisStore};
use redis::Script;
use sbp_core::env::UnixSeconds;
use sbp_core::session::{Session, SessionKey, StoreError};
use std::sync::LazyLock;

/// The parts of the index of every session.
pub const INDEX_PARTS: u8 = 16;
/// Sessions looked at per sweep call.
const SWEEP_BATCH: usize = 1000;

/// The session hash of `key`.
pub fn session_hash(key: &SessionKey) -> String {
    format!("{PREFIX}{{{}}}:s", key.as_str())
}

fn user_index(user_id: &str) -> String {
    format!("{PREFIX}u:{{{user_id}}}")
}

fn auth_index(auth_session_id: &str) -> String {
    format!("{PREFIX}a:{{{auth_session_id}}}")
}

fn index_part(part: u8) -> String {
    format!("{PREFIX}x:{{{part}}}")
}

/// The part of the index of every session that holds `key`, and its entry there.
fn every_session_entry(key: &SessionKey, user_id: &str) -> (String, String) {
    let last = key.as_str().bytes().last().unwrap_or(0);
    (
        index_part(last % INDEX_PARTS),
        format!("{user_id}\n{}", key.as_str()),
    )
}

/// KEYS: the session hash. ARGV: session JSON, user, absolute end, valid
/// until, Auth's session id ('' when none), outdated mark ('' when none).
/// Returns the user and Auth session id it held before ('' when none).
const INSERT: &str = r#"
local s = KEYS[1]
local old = redis.call('HMGET', s, 'uid', 'aid')
redis.call('DEL', s)
redis.call('HSET', s, 'session', ARGV[1], 'uid', ARGV[2], 'exp', ARGV[3], 'valid', ARGV[4])
if ARGV[5] ~= '' then redis.call('HSET', s, 'aid', ARGV[5]) end
if ARGV[6] ~= '' then redis.call('HSET', s, 'outdated', ARGV[6]) end
redis.call('EXPIREAT', s, ARGV[4])
return {old[1] or '', old[2] or ''}
"#;

/// KEYS: an index. ARGV: valid until, entry. Adds the entry (or moves its
/// end later) and keeps the index until its last session ends.
const INDEX: &str = r#"
redis.call('ZADD', KEYS[1], 'GT', ARGV[1], ARGV[2])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('EXPIREAT', KEYS[1], last[2])
return 1
"#;

/// KEYS: an Auth session's entry. ARGV: key, valid until ('': delete).
/// Changes the entry only while it points at `key`.
const AUTH_ENTRY: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then return redis.call('DEL', KEYS[1]) end
return redis.call('EXPIREAT', KEYS[1], ARGV[2])
"#;

/// KEYS: the session hash. ARGV: last seen, idle end. Returns nothing when
/// the session is gone, else user, Auth session id, valid until, then the
/// fields as GET returns them.
const TOUCH: &str = r#"
local s = KEYS[1]
local f = redis.call('HMGET', s, 'uid', 'exp', 'aid')
if not f[1] then return {} end
local valid = math.min(tonumber(ARGV[2]), tonumber(f[2]))
redis.call('HSET', s, 'seen', ARGV[1] .. ':' .. ARGV[2], 'valid', tostring(valid))
redis.call('EXPIREAT', s, valid)
local out = {f[1], f[3], tostring(valid)}
for _, v in ipairs(redis.call('HMGET', s, 'session', 'tokens', 'user', 'seen', 'outdated')) do
  table.insert(out, v)
end
return out
"#;

/// KEYS: the session hash. Returns its fields like GET, then user and Auth
/// session id.
const REMOVE: &str = r#"
local f = redis.call('HMGET', KEYS[1], 'session', 'tokens', 'user', 'seen', 'outdated', 'uid', 'aid')
redis.call('DEL', KEYS[1])
return f
"#;

/// KEYS: the session hash. ARGV: now. Deletes the session if it ended by
/// then and returns `ended` and its Auth session id; else `gone` (no such
/// session) or `live` and when it ends.
const SWEEP: &str = r#"
local s = KEYS[1]
local f = redis.call('HMGET', s, 'valid', 'aid')
if not f[1] then return {'gone', ''} end
if tonumber(f[1]) > tonumber(ARGV[1]) then return {'live', f[1]} end
redis.call('DEL', s)
return {'ended', f[2] or ''}
"#;

struct Scripts {
    insert: Script,
    sweep: Script,
    index: Script,
    auth_entry: Script,
    touch: Script,
    remove: Script,
}

static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    insert: Script::new(INSERT),
    sweep: Script::new(SWEEP),
    index: Script::new(INDEX),
    auth_entry: Script::new(AUTH_ENTRY),
    touch: Script::new(TOUCH),
    remove: Script::new(REMOVE),
});

impl RedisStore {
    pub(super) async fn cluster_insert(
        &self,
        key: &SessionKey,
        session: &Session,
        json: &str,
    ) -> Result<(), StoreError> {
        let (end, valid) = (
            session.expires_at.to_string(),
            session.valid_until().to_string(),
        );
        let user = session.user_id.as_str();
        let aid = session.auth_session_id.as_deref().unwrap_or("");
        self.index(key, user, &valid).await?;
        if !aid.is_empty() {
            let mut set = redis::cmd("SET");
            set.arg(auth_index(aid))
                .arg(key.as_str())
                .arg("EXAT")
                .arg(&valid);
            let _: () = self.command(&set).await?;
        }
        let args = [
            json,
            user,
            &end,
            &valid,
            aid,
            session.tokens_outdated.as_deref().unwrap_or(""),
        ];
        let old: Vec<String> = self
            .run_keyed(&SCRIPTS.insert, &[&session_hash(key)], &args)
            .await?;
        // The key held another user's or Auth session before: its entries go.
        if let [old_user, old_aid] = old.as_slice() {
            self.unindex(key, Some(old_user).filter(|u| !u.is_empty() && *u != user))
                .await?;
            self.unlink_auth(key, Some(old_aid).filter(|a| !a.is_empty() && *a != aid))
                .await?;
        }
        Ok(())
    }

    /// Like GET, plus the session's user and Auth session id; `None` when gone.
    pub(super) async fn cluster_touch(
        &self,
        key: &SessionKey,
        seen: &str,
        idle: &str,
    ) -> Result<Vec<Option<String>>, StoreError> {
        let scripts = &*SCRIPTS;
        let touched: Vec<Option<String>> = self
            .run_keyed(&scripts.touch, &[&session_hash(key)], &[seen, idle])
            .await?;
        let [Some(user), aid, Some(valid), fields @ ..] = touched.as_slice() else {
            return Ok(vec![None; 5]);
        };
        self.index(key, user, valid).await?;
        if let Some(aid) = aid {
            let _: i64 = self
                .run_keyed(
                    &scripts.auth_entry,
                    &[&auth_index(aid)],
                    &[key.as_str(), valid],
                )
                .await?;
        }
        Ok(fields.to_vec())
    }

    /// The removed session's fields like GET.
    pub(super) async fn cluster_remove(
        &self,
        key: &SessionKey,
    ) -> Result<Vec<Option<String>>, StoreError> {
        let mut fields: Vec<Option<String>> = self
            .run_keyed(&SCRIPTS.remove, &[&session_hash(key)], &[])
            .await?;
        let aid = fields.pop().flatten();
        let user = fields.pop().flatten();
        self.unindex(key, user.as_ref()).await?;
        self.unlink_auth(key, aid.as_ref()).await?;
        Ok(fields)
    }

    /// Rows of key and fields (like LIST_USER's) of the user's live
    /// sessions; entries whose session is gone leave the index.
    pub(super) async fn cluster_list_user(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        let mut range = redis::cmd("ZRANGE");
        range.arg(user_index(user_id)).arg(0).arg(-1);
        let keys: Vec<String> = self.command(&range).await?;
        let mut rows = Vec::new();
        for stored in keys {
            let key = SessionKey::from_stored(&stored);
            let fields = self.fields(&key).await?;
            if fields.first().is_some_and(Option::is_some) {
                rows.push(stored);
                rows.extend(fields.into_iter().map(Option::unwrap_or_default));
            } else {
                self.unindex(&key, Some(&user_id.to_string())).await?;
            }
        }
        Ok(rows)
    }

    /// A row like LIST_USER's for the session holding that Auth session.
    pub(super) async fn cluster_find_auth_session(
        &self,
        auth_session_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let mut get = redis::cmd("GET");
        get.arg(auth_index(auth_session_id));
        let Some(stored): Option<String> = self.command(&get).await? else {
            return Ok(Vec::new());
        };
        let fields = self.fields(&SessionKey::from_stored(&stored)).await?;
        if fields.first().is_none_or(Option::is_none) {
            return Ok(Vec::new());
        }
        let mut row = vec![stored];
        row.extend(fields.into_iter().map(Option::unwrap_or_default));
        Ok(row)
    }

    /// The ids of every user with a stored session (the admin command's
    /// scan), from the index of every session.
    pub(super) async fn cluster_user_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut users = Vec::new();
        for part in 0..INDEX_PARTS {
            let mut range = redis::cmd("ZRANGE");
            range.arg(index_part(part)).arg(0).arg(-1);
            let entries: Vec<String> = self.command(&range).await?;
            users.extend(
                entries
                    .iter()
                    .filter_map(|entry| entry.split_once('\n').map(|(user, _)| user.to_string())),
            );
        }
        Ok(users)
    }

    /// Deletes the sessions that ended at `now`, with their index entries
    /// (and the entries of sessions Redis expired); returns how many.
    pub(super) async fn cluster_sweep(&self, now: UnixSeconds) -> Result<usize, StoreError> {
        let (now, batch) = (now.to_string(), SWEEP_BATCH.to_string());
        let mut swept = 0;
        for part in 0..INDEX_PARTS {
            loop {
                let mut ended = redis::cmd("ZRANGEBYSCORE");
                ended
                    .arg(index_part(part))
                    .arg("-inf")
                    .arg(&now)
                    .arg("LIMIT")
                    .arg(0)
                    .arg(&batch);
                let entries: Vec<String> = self.command(&ended).await?;
                for entry in &entries {
                    if let Some((user, key)) = entry.split_once('\n') {
                        swept += self
                            .sweep_one(&SessionKey::from_stored(key), user, &now)
                            .await?;
                    }
                }
                if entries.len() < SWEEP_BATCH {
                    break;
                }
            }
        }
        Ok(swept)
    }

    /// Deletes the session of an entry that ended by its score, if it did
    /// end; a session touched since gets its entries' ends moved instead.
    async fn sweep_one(
        &self,
        key: &SessionKey,
        user: &str,
        now: &str,
    ) -> Result<usize, StoreError> {
        let answer: Vec<String> = self
            .run_keyed(&SCRIPTS.sweep, &[&session_hash(key)], &[now])
            .await?;
        match answer.as_slice() {
            [state, valid] if state == "live" => {
                self.index(key, user, valid).await?;
                Ok(0)
            }
            [_, aid] => {
                self.unindex(key, Some(&user.to_string())).await?;
                self.unlink_auth(key, Some(aid).filter(|a| !a.is_empty()))
                    .await?;
                Ok(1)
            }
            _ => Ok(0),
        }
    }

    /// Puts `key` in its user's index and in the index of every session,
    /// ending at `valid`.
    async fn index(&self, key: &SessionKey, user: &str, valid: &str) -> Result<(), StoreError> {
        let scripts = &*SCRIPTS;
        let _: i64 = self
            .run_keyed(&scripts.index, &[&user_index(user)], &[valid, key.as_str()])
            .await?;
        let (part, entry) = every_session_entry(key, user);
        let _: i64 = self
            .run_keyed(&scripts.index, &[&part], &[valid, &entry])
            .await?;
        Ok(())
    }

    /// Takes `key` out of `user`'s index and the index of every session.
    async fn unindex(&self, key: &SessionKey, user: Option<&String>) -> Result<(), StoreError> {
        let Some(user) = user else { return Ok(()) };
        let mut remove = redis::cmd("ZREM");
        remove.arg(user_index(user)).arg(key.as_str());
        let _: i64 = self.command(&remove).await?;
        let (part, entry) = every_session_entry(key, user);
        let mut remove = redis::cmd("ZREM");
        remove.arg(part).arg(entry);
        let _: i64 = self.command(&remove).await?;
        Ok(())
    }

    /// Deletes the Auth session's entry while it points at `key`.
    async fn unlink_auth(&self, key: &SessionKey, aid: Option<&String>) -> Result<(), StoreError> {
        let Some(aid) = aid else { return Ok(()) };
        let _: i64 = self
            .run_keyed(
                &SCRIPTS.auth_entry,
                &[&auth_index(aid)],
                &[key.as_str(), ""],
            )
            .await?;
        Ok(())
    }
}
