//! `redis://` / `rediss://`: one session store shared by many proxies, on
//! one Redis or Valkey server, or on a cluster (`redis+cluster://`).
//!
//! On one server every operation is one Lua script (one atomic round trip;
//! see [`scripts`]); on a cluster each touches one slot and the indexes are
//! written in steps of their own ([`cluster`]). Changes are announced on a
//! pub/sub channel so every instance evicts its cached copy at once
//! ([`events`]). Sessions expire in
//! Redis by TTL; the refresh lock is a key with an owner token and a lease.
//! Upstream tokens are sealed in Redis when `PROXY_STORE_KEY` is set.

mod cluster;
mod codec;
mod connection;
mod events;
mod resealing;
mod scripts;

pub use events::{Eviction, follow_evictions};

use super::sealing::{opened, sealed};
use codec::{decode, encode_tokens};
use connection::Connection;
use redis::{Client, Script};
use sbp_core::env::UnixSeconds;
use sbp_core::session::{
    Session, SessionKey, SessionStore, StoreError, TokenSeal, UpstreamTokens, UserObject, is_sealed,
};
use std::sync::Arc;

/// Prefix of every key the proxy writes.
const PREFIX: &str = "sbp:";
/// The channel on which changed sessions are announced.
const EVICTIONS: &str = "sbp:evict";
/// The channel on which deleted sessions are announced.
const ENDED: &str = "sbp:ended";
/// Sessions removed per sweep call.
const SWEEP_BATCH: usize = 1000;

struct Scripts {
    insert: Script,
    get: Script,
    update_tokens: Script,
    update_user: Script,
    find_auth_session: Script,
    touch: Script,
    reseal: Script,
    remove: Script,
    list_user: Script,
    sweep: Script,
    renew_lock: Script,
    unlock: Script,
}

pub struct RedisStore {
    /// What eviction messages are followed through: the server, or each
    /// node of a cluster in turn.
    subscribers: Vec<Client>,
    connection: Connection,
    scripts: Scripts,
    /// This instance's id, so it can skip its own eviction messages.
    instance: String,
    seal: TokenSeal,
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {e}"))
}

impl RedisStore {
    /// Connects lazily: the proxy starts even while Redis is down, and the
    /// connection manager reconnects by itself.
    pub fn open(url: &str, instance: String, seal: TokenSeal) -> Result<RedisStore, StoreError> {
        let (connection, subscribers) = match sbp_core::config::cluster_nodes(url) {
            Some(nodes) => {
                let nodes = nodes.map_err(StoreError::Unavailable)?;
                let subscribers = nodes.iter().map(|node| Client::open(node.as_str()));
                (
                    Connection::cluster(&nodes).map_err(unavailable)?,
                    subscribers.collect::<Result<_, _>>().map_err(unavailable)?,
                )
            }
            None => {
                let client = Client::open(url).map_err(unavailable)?;
                let connection = Connection::single(client.clone()).map_err(unavailable)?;
                (connection, vec![client])
            }
        };
        Ok(RedisStore {
            subscribers,
            connection,
            scripts: Scripts {
                insert: Script::new(scripts::INSERT),
                get: Script::new(scripts::GET),
                update_tokens: Script::new(scripts::UPDATE_TOKENS),
                update_user: Script::new(scripts::UPDATE_USER),
                find_auth_session: Script::new(scripts::FIND_AUTH_SESSION),
                touch: Script::new(scripts::TOUCH),
                reseal: Script::new(scripts::RESEAL),
                remove: Script::new(scripts::REMOVE),
                list_user: Script::new(scripts::LIST_USER),
                sweep: Script::new(scripts::SWEEP),
                renew_lock: Script::new(scripts::RENEW_LOCK),
                unlock: Script::new(scripts::UNLOCK),
            },
            instance,
            seal,
        })
    }

    /// The ids of every user with a stored session (the admin command's
    /// scan), from the index of every session (`P x`, `<user>\n<key>`).
    pub async fn user_ids(&self) -> Result<Vec<String>, StoreError> {
        if self.connection.is_cluster() {
            let mut users = self.cluster_user_ids().await?;
            users.sort();
            users.dedup();
            return Ok(users);
        }
        let mut connection = self.connection.clone();
        let entries: Vec<String> = redis::cmd("ZRANGE")
            .arg(format!("{PREFIX}x"))
            .arg(0)
            .arg(-1)
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        let mut users: Vec<String> = entries
            .iter()
            .filter_map(|entry| entry.split_once('\n').map(|(user, _)| user.to_string()))
            .collect();
        users.sort();
        users.dedup();
        Ok(users)
    }

    /// Sessions in rows of key and fields (as LIST_USER returns them, empty
    /// strings for absent fields), with their tokens opened.
    fn read_rows(&self, flat: &[String]) -> Result<Vec<(SessionKey, Session)>, StoreError> {
        let mut out = Vec::new();
        for row in flat.chunks(6) {
            let fields: Vec<Option<String>> = row[1..]
                .iter()
                .map(|f| (!f.is_empty()).then(|| f.clone()))
                .collect();
            let key = SessionKey::from_stored(&row[0]);
            if let Some(session) = self.read(&key, &fields)? {
                out.push((key, session));
            }
        }
        Ok(out)
    }

    /// The session in `fields` (as GET returns them) with its tokens opened.
    fn read(
        &self,
        key: &SessionKey,
        fields: &[Option<String>],
    ) -> Result<Option<Session>, StoreError> {
        Ok(decode(fields)?.and_then(|s| opened(&self.seal, key, s)))
    }

    /// Runs a single-server `script` with `args` (the prefix first).
    async fn run<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        args: &[&str],
    ) -> Result<T, StoreError> {
        let mut invocation = script.prepare_invoke();
        invocation.arg(PREFIX);
        for arg in args {
            invocation.arg(*arg);
        }
        self.invoke(invocation).await
    }

    /// Runs `script` on `keys` with `args` (on a cluster: at their slot).
    async fn run_keyed<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[&str],
    ) -> Result<T, StoreError> {
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(*key);
        }
        for arg in args {
            invocation.arg(*arg);
        }
        self.invoke(invocation).await
    }

    /// A call on a connection that dropped (Redis restarted) is retried
    /// once: the connection has been made again by then.
    async fn invoke<T: redis::FromRedisValue>(
        &self,
        invocation: redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut connection = self.connection.clone();
        match invocation.invoke_async(&mut connection).await {
            Err(e) if e.is_connection_dropped() || e.is_io_error() => invocation
                .invoke_async(&mut connection)
                .await
                .map_err(unavailable),
            result => result.map_err(unavailable),
        }
    }

    /// One command.
    async fn command<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let mut connection = self.connection.clone();
        cmd.query_async(&mut connection).await.map_err(unavailable)
    }

    /// The session hash of `key` in this store's layout.
    fn session_hash(&self, key: &SessionKey) -> String {
        if self.connection.is_cluster() {
            cluster::session_hash(key)
        } else {
            format!("{PREFIX}s:{}", key.as_str())
        }
    }

    /// The refresh lock of `key`.
    fn lock(key: &SessionKey) -> String {
        format!("{PREFIX}l:{}", key.as_str())
    }

    /// The stored fields of `key`, as GET returns them.
    async fn fields(&self, key: &SessionKey) -> Result<Vec<Option<String>>, StoreError> {
        let hash = self.session_hash(key);
        self.run_keyed(&self.scripts.get, &[&hash], &[]).await
    }

    /// Tells the other instances that `key` changed.
    async fn announce(&self, key: &SessionKey) {
        self.publish(EVICTIONS, key).await;
    }

    /// Publishes `key` on `channel`, as this instance's.
    async fn publish(&self, channel: &str, key: &SessionKey) {
        let message = format!("{}:{}", self.instance, key.as_str());
        let mut connection = self.connection.clone();
        let sent: Result<i64, _> = redis::cmd("PUBLISH")
            .arg(channel)
            .arg(message)
            .query_async(&mut connection)
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "cannot announce a session change; other instances rely on their cache lifetime");
        }
    }
}

impl SessionStore for RedisStore {
    async fn get(&self, key: &SessionKey) -> Result<Option<Arc<Session>>, StoreError> {
        let fields = self.fields(key).await?;
        Ok(self.read(key, &fields)?.map(Arc::new))
    }

    async fn insert(&self, key: &SessionKey, session: &Session) -> Result<(), StoreError> {
        let stored = sealed(&self.seal, key, session);
        let json = String::from_utf8_lossy(&stored.to_bytes()).into_owned();
        if self.connection.is_cluster() {
            self.cluster_insert(key, session, &json).await?;
            self.announce(key).await;
            return Ok(());
        }
        let (end, valid) = (
            session.expires_at.to_string(),
            session.valid_until().to_string(),
        );
        let args = [
            key.as_str(),
            session.user_id.as_str(),
            json.as_str(),
            end.as_str(),
            valid.as_str(),
            session.auth_session_id.as_deref().unwrap_or(""),
            session.tokens_outdated.as_deref().unwrap_or(""),
        ];
        let _: i64 = self.run(&self.scripts.insert, &args).await?;
        self.announce(key).await;
        Ok(())
    }

    async fn update_tokens(
        &self,
        key: &SessionKey,
        tokens: &UpstreamTokens,
        user: Option<&UserObject>,
        outdated_seen: Option<&str>,
    ) -> Result<bool, StoreError> {
        let tokens = self.seal.seal(key, tokens);
        let session_field = self.sealed_session_field(key, &tokens).await?;
        let tokens = encode_tokens(&tokens);
        let user = user.map_or("", UserObject::as_json);
        let args = [
            tokens.as_str(),
            user,
            &session_field,
            outdated_seen.unwrap_or(""),
        ];
        let hash = self.session_hash(key);
        let updated: i64 = self
            .run_keyed(&self.scripts.update_tokens, &[&hash], &args)
            .await?;
        self.announce(key).await;
        Ok(updated == 1)
    }

    async fn update_user(
        &self,
        key: &SessionKey,
        user: &UserObject,
        outdate: Option<&str>,
    ) -> Result<bool, StoreError> {
        let args = [user.as_json(), outdate.unwrap_or("")];
        let hash = self.session_hash(key);
        let updated: i64 = self
            .run_keyed(&self.scripts.update_user, &[&hash], &args)
            .await?;
        self.announce(key).await;
        Ok(updated == 1)
    }

    async fn find_auth_session(
        &self,
        auth_session_id: &str,
    ) -> Result<Option<(SessionKey, Session)>, StoreError> {
        let flat: Vec<String> = if self.connection.is_cluster() {
            self.cluster_find_auth_session(auth_session_id).await?
        } else {
            self.run(&self.scripts.find_auth_session, &[auth_session_id])
                .await?
        };
        Ok(self
            .read_rows(&flat)?
            .into_iter()
            .find(|(_, s)| s.auth_session_id.as_deref() == Some(auth_session_id)))
    }

    async fn claim_hook_id(
        &self,
        id: &str,
        _now: UnixSeconds,
        ttl: u64,
    ) -> Result<bool, StoreError> {
        let mut connection = self.connection.clone();
        let claimed: Option<String> = redis::cmd("SET")
            .arg(format!("{PREFIX}h:{id}"))
            .arg("1")
            .arg("NX")
            .arg("EX")
            .arg(ttl.max(1))
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(claimed.is_some())
    }

    async fn touch(
        &self,
        key: &SessionKey,
        last_seen_at: UnixSeconds,
        idle_expires_at: UnixSeconds,
    ) -> Result<Option<Arc<Session>>, StoreError> {
        let (seen, idle) = (last_seen_at.to_string(), idle_expires_at.to_string());
        let fields: Vec<Option<String>> = if self.connection.is_cluster() {
            self.cluster_touch(key, &seen, &idle).await?
        } else {
            self.run(&self.scripts.touch, &[key.as_str(), &seen, &idle])
                .await?
        };
        let Some(stored) = decode(&fields)? else {
            return Ok(None);
        };
        let in_clear = !is_sealed(&stored.tokens.access_token);
        let Some(session) = opened(&self.seal, key, stored) else {
            return Ok(None);
        };
        if in_clear && self.seal.is_sealing() {
            self.reseal(key, &fields, &session).await;
        }
        Ok(Some(Arc::new(session)))
    }

    async fn remove(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        let fields: Vec<Option<String>> = if self.connection.is_cluster() {
            self.cluster_remove(key).await?
        } else {
            self.run(&self.scripts.remove, &[key.as_str()]).await?
        };
        self.announce(key).await;
        self.publish(ENDED, key).await;
        self.read(key, &fields)
    }

    async fn list_user(&self, user_id: &str) -> Result<Vec<(SessionKey, Session)>, StoreError> {
        let flat: Vec<String> = if self.connection.is_cluster() {
            self.cluster_list_user(user_id).await?
        } else {
            let now = crate::runtime::unix_now().to_string();
            self.run(&self.scripts.list_user, &[user_id, &now]).await?
        };
        self.read_rows(&flat)
    }

    async fn sweep(&self, now: UnixSeconds) -> Result<usize, StoreError> {
        if self.connection.is_cluster() {
            return self.cluster_sweep(now).await;
        }
        let (now, batch) = (now.to_string(), SWEEP_BATCH.to_string());
        let mut total = 0;
        loop {
            let removed: usize = self.run(&self.scripts.sweep, &[&now, &batch]).await?;
            total += removed;
            if removed < SWEEP_BATCH {
                return Ok(total);
            }
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let ping = redis::cmd("PING");
        let answer: Result<String, _> = match ping.query_async(&mut connection).await {
            Err(e) if e.is_connection_dropped() || e.is_io_error() => {
                ping.query_async(&mut connection).await
            }
            answer => answer,
        };
        answer.map(drop).map_err(unavailable)
    }

    async fn lock_refresh(
        &self,
        key: &SessionKey,
        owner: &str,
        lease_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut connection = self.connection.clone();
        let taken: Option<String> = redis::cmd("SET")
            .arg(RedisStore::lock(key))
            .arg(owner)
            .arg("NX")
            .arg("PX")
            .arg(lease_ms)
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(taken.is_some())
    }

    async fn renew_refresh(
        &self,
        key: &SessionKey,
        owner: &str,
        lease_ms: u64,
    ) -> Result<bool, StoreError> {
        let lease = lease_ms.to_string();
        let renewed: i64 = self
            .run_keyed(
                &self.scripts.renew_lock,
                &[&RedisStore::lock(key)],
                &[owner, &lease],
            )
            .await?;
        Ok(renewed == 1)
    }

    async fn unlock_refresh(&self, key: &SessionKey, owner: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .run_keyed(&self.scripts.unlock, &[&RedisStore::lock(key)], &[owner])
            .await?;
        Ok(())
    }
}
