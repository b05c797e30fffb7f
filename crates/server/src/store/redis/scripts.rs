//! The Lua scripts that make each store operation one atomic round trip.
//!
//! Layout, under a prefix `P` (`sbp:`):
//! - `P s:<key>`: a hash per session: `session` (JSON as created), `uid`,
//!   `exp` (absolute end), `aid` (Auth's session id, when known), and the
//!   fields later writes replace, each on its own so that writes of one
//!   never undo another's: `tokens`, `user` (JSON), `seen`
//!   (`last_seen_at:idle_expires_at`) and `outdated` (the tokens'
//!   outdated mark, absent when none). The key expires in Redis when the
//!   session does.
//! - `P u:<user>`: a sorted set of the user's session keys, scored by the
//!   moment each session ends, so listing drops ended ones in the same call.
//! - `P x`: a sorted set of every session (`<user>\n<key>`) by the same score,
//!   for sweeping index entries of sessions that ended.
//! - `P a:<auth session id>`: the key of the session holding that Auth
//!   session, expiring with it.
//! - `P l:<key>`: the refresh lock, holding its owner's token.
//! - `P h:<webhook-id>`: a hook call seen, for the replay window.
//!
//! The scripts that touch several of these keys compute them from their
//! arguments, so this layout is for a single Redis or Valkey server (with
//! replicas or Sentinel); a cluster has its own ([`super::cluster`]). The
//! scripts of one key (`KEYS[1]`: the session hash or the lock) serve both.

/// ARGV: prefix, key, user, session JSON, absolute end, valid until,
/// Auth's session id ('' when none), outdated mark ('' when none).
pub const INSERT: &str = r#"
local p, key, uid, aid = ARGV[1], ARGV[2], ARGV[3], ARGV[7]
local s = p .. 's:' .. key
local old = redis.call('HMGET', s, 'uid', 'aid')
if old[1] then
  redis.call('ZREM', p .. 'u:' .. old[1], key)
  redis.call('ZREM', p .. 'x', old[1] .. '\n' .. key)
end
if old[2] and redis.call('GET', p .. 'a:' .. old[2]) == key then
  redis.call('DEL', p .. 'a:' .. old[2])
end
redis.call('DEL', s)
redis.call('HSET', s, 'session', ARGV[4], 'uid', uid, 'exp', ARGV[5])
if ARGV[8] ~= '' then redis.call('HSET', s, 'outdated', ARGV[8]) end
redis.call('EXPIREAT', s, ARGV[6])
if aid ~= '' then
  redis.call('HSET', s, 'aid', aid)
  redis.call('SET', p .. 'a:' .. aid, key)
  redis.call('EXPIREAT', p .. 'a:' .. aid, ARGV[6])
end
redis.call('ZADD', p .. 'u:' .. uid, ARGV[6], key)
redis.call('ZADD', p .. 'x', ARGV[6], uid .. '\n' .. key)
return 1
"#;

/// KEYS: the session hash. Returns session, tokens, user, seen, outdated
/// (nil when absent).
pub const GET: &str = r#"
return redis.call('HMGET', KEYS[1], 'session', 'tokens', 'user', 'seen', 'outdated')
"#;

/// KEYS: the session hash. ARGV: tokens JSON, user JSON (empty: none
/// given), a new `session` field (empty: keep it), the outdated mark read
/// before the tokens were asked for (empty: none). While the stored mark is
/// that one, it is cleared and the user written; a newer mark and user
/// stay. Returns 1 if the session exists.
pub const UPDATE_TOKENS: &str = r#"
local s = KEYS[1]
if redis.call('EXISTS', s) == 0 then return 0 end
redis.call('HSET', s, 'tokens', ARGV[1])
if ARGV[3] ~= '' then redis.call('HSET', s, 'session', ARGV[3]) end
if (redis.call('HGET', s, 'outdated') or '') == ARGV[4] then
  redis.call('HDEL', s, 'outdated')
  if ARGV[2] ~= '' then redis.call('HSET', s, 'user', ARGV[2]) end
end
return 1
"#;

/// KEYS: the session hash. ARGV: user JSON, outdated mark (empty: leave
/// the mark). Only the `user` (and `outdated`) field changes. Returns 1 if
/// the session exists.
pub const UPDATE_USER: &str = r#"
local s = KEYS[1]
if redis.call('EXISTS', s) == 0 then return 0 end
redis.call('HSET', s, 'user', ARGV[1])
if ARGV[2] ~= '' then redis.call('HSET', s, 'outdated', ARGV[2]) end
return 1
"#;

/// ARGV: prefix, Auth's session id. Returns key, session, tokens, user,
/// seen, outdated ('' for absent fields), or nothing.
pub const FIND_AUTH_SESSION: &str = r#"
local p = ARGV[1]
local key = redis.call('GET', p .. 'a:' .. ARGV[2])
if not key then return {} end
local f = redis.call('HMGET', p .. 's:' .. key, 'session', 'tokens', 'user', 'seen', 'outdated')
if not f[1] then return {} end
local out = {key}
for i = 1, 5 do table.insert(out, f[i] or '') end
return out
"#;

/// ARGV: prefix, key, last seen, idle end. Changes only a session that
/// exists; returns its fields like GET (all nil when it is gone).
pub const TOUCH: &str = r#"
local p, key = ARGV[1], ARGV[2]
local s = p .. 's:' .. key
local fields = redis.call('HMGET', s, 'uid', 'exp', 'aid')
local uid, exp, aid = fields[1], fields[2], fields[3]
if not uid then return {false, false, false, false, false} end
local idle = tonumber(ARGV[4])
local valid = math.min(idle, tonumber(exp))
redis.call('HSET', s, 'seen', ARGV[3] .. ':' .. ARGV[4])
redis.call('EXPIREAT', s, valid)
if aid and redis.call('GET', p .. 'a:' .. aid) == key then
  redis.call('EXPIREAT', p .. 'a:' .. aid, valid)
end
redis.call('ZADD', p .. 'u:' .. uid, valid, key)
redis.call('ZADD', p .. 'x', valid, uid .. '\n' .. key)
return redis.call('HMGET', s, 'session', 'tokens', 'user', 'seen', 'outdated')
"#;

/// KEYS: the session hash. ARGV: the `tokens` field as it was read (''
/// when absent), the tokens sealed, the `session` field with them. Seals
/// tokens written in clear, unless the session is gone or its tokens
/// changed since.
pub const RESEAL: &str = r#"
local s = KEYS[1]
if redis.call('EXISTS', s) == 0 then return 0 end
if (redis.call('HGET', s, 'tokens') or '') ~= ARGV[1] then return 0 end
redis.call('HSET', s, 'tokens', ARGV[2], 'session', ARGV[3])
return 1
"#;

/// ARGV: prefix, key. Returns the removed session's fields like GET.
pub const REMOVE: &str = r#"
local p, key = ARGV[1], ARGV[2]
local s = p .. 's:' .. key
local fields = redis.call('HMGET', s, 'session', 'tokens', 'user', 'seen', 'outdated', 'uid', 'aid')
local uid, aid = fields[6], fields[7]
if uid then
  redis.call('ZREM', p .. 'u:' .. uid, key)
  redis.call('ZREM', p .. 'x', uid .. '\n' .. key)
end
if aid and redis.call('GET', p .. 'a:' .. aid) == key then
  redis.call('DEL', p .. 'a:' .. aid)
end
redis.call('DEL', s)
return {fields[1], fields[2], fields[3], fields[4], fields[5]}
"#;

/// ARGV: prefix, user, now. Drops ended sessions from the user's index and
/// returns key, session, tokens, user, seen, outdated for each live one.
pub const LIST_USER: &str = r#"
local p, uid = ARGV[1], ARGV[2]
local index = p .. 'u:' .. uid
redis.call('ZREMRANGEBYSCORE', index, '-inf', ARGV[3])
local out = {}
for _, key in ipairs(redis.call('ZRANGE', index, 0, -1)) do
  local f = redis.call('HMGET', p .. 's:' .. key, 'session', 'tokens', 'user', 'seen', 'outdated')
  if f[1] then
    table.insert(out, key)
    for i = 1, 5 do table.insert(out, f[i] or '') end
  else
    redis.call('ZREM', index, key)
  end
end
return out
"#;

/// ARGV: prefix, now, batch size. Removes up to a batch of sessions that
/// ended at `now`; returns how many.
pub const SWEEP: &str = r#"
local p = ARGV[1]
local ended = redis.call('ZRANGEBYSCORE', p .. 'x', '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(ended) do
  local cut = string.find(member, '\n', 1, true)
  local uid, key = string.sub(member, 1, cut - 1), string.sub(member, cut + 1)
  redis.call('ZREM', p .. 'x', member)
  redis.call('ZREM', p .. 'u:' .. uid, key)
  local aid = redis.call('HGET', p .. 's:' .. key, 'aid')
  if aid and redis.call('GET', p .. 'a:' .. aid) == key then
    redis.call('DEL', p .. 'a:' .. aid)
  end
  redis.call('DEL', p .. 's:' .. key)
end
return #ended
"#;

/// KEYS: the lock. ARGV: owner, lease ms. Extends the lock if still the owner's.
pub const RENEW_LOCK: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"#;

/// KEYS: the lock. ARGV: owner. Deletes the lock if still the owner's.
pub const UNLOCK: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;
