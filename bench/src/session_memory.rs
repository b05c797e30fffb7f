//! `session-memory`: how much memory one cached session costs.
//!
//! Builds N sessions (100k by default) with realistic content (a Supabase
//! user object of about 1 KiB, a JWT-sized access token, Auth's short
//! refresh token, an IP, a browser user agent) and inserts them through
//! `sb_cookie_proxy::store::SessionCache` over the `memory:` store, exactly
//! as the proxy does on sign-in. It measures the heap growth with a counting
//! allocator (bytes the program asked for) and the growth of the resident
//! set (what the process really holds, allocator overhead included), then
//! repeats with the store alone to split the figure into the store's copy and
//! the cache's copy, and breaks one session down field by field.
//!
//! Human-readable lines go to stderr; one JSON object with every figure goes
//! to stdout for `bench/report.py`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sb_cookie_proxy::store::{MemoryStore, SessionCache, Store};
use sbp_core::session::{NewSession, Session, SessionKey, SessionStore, UpstreamTokens};
use serde_json::{Value, json};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;
use std::time::Duration;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The proxy's cache capacity (`SESSION_CACHE_CAPACITY` in crates/server/src/app.rs).
const CACHE_CAPACITY: usize = 100_000;
const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

/// Heap bytes in use now, as counted by the allocator. (A `realloc` is
/// already counted in `bytes_allocated`/`bytes_deallocated` by its size
/// change; `bytes_reallocated` repeats that change, so it is not added.)
fn heap_in_use() -> i64 {
    let stats = GLOBAL.stats();
    stats.bytes_allocated as i64 - stats.bytes_deallocated as i64
}

/// Resident set size of this process, in bytes.
fn rss_bytes() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Net heap bytes retained by whatever `f` builds and returns.
fn retained<T>(f: impl FnOnce() -> T) -> (T, i64) {
    let region = Region::new(GLOBAL);
    let value = f();
    let change = region.change();
    let net = change.bytes_allocated as i64 - change.bytes_deallocated as i64;
    (value, net)
}

fn uuid_like(i: usize, salt: u32) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        salt,
        (i >> 16) & 0xffff,
        i & 0xfff,
        (i >> 4) & 0xfff,
        i as u64 * 7_919
    )
}

/// A user object shaped like Supabase Auth's (email provider, one identity).
fn user(i: usize) -> Value {
    let id = uuid_like(i, 0x5b0c_0001);
    let email = format!("user{i:06}@example.com");
    let at = "2026-01-01T00:00:00.000000Z";
    json!({
        "id": id,
        "aud": "authenticated",
        "role": "authenticated",
        "email": email,
        "email_confirmed_at": at,
        "phone": "",
        "confirmed_at": at,
        "last_sign_in_at": at,
        "app_metadata": {"provider": "email", "providers": ["email"]},
        "user_metadata": {
            "email": email, "email_verified": true, "phone_verified": false, "sub": id,
            "full_name": "Ada Lovelace", "avatar_url": "https://example.com/avatars/ada.png"
        },
        "identities": [{
            "identity_id": uuid_like(i, 0x5b0c_0002),
            "id": id,
            "user_id": id,
            "identity_data": {"email": email, "email_verified": true, "phone_verified": false, "sub": id},
            "provider": "email",
            "last_sign_in_at": at,
            "created_at": at,
            "updated_at": at,
            "email": email
        }],
        "created_at": at,
        "updated_at": at,
        "is_anonymous": false
    })
}

/// An access token the size Supabase issues (HS256, the usual claims).
fn access_token(i: usize, user: &Value, session_id: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","kid":"pQ1xmwOqYh4tKQ0W","typ":"JWT"}"#);
    let claims = json!({
        "iss": "https://abcdefghijklmnopqrst.supabase.co/auth/v1",
        "sub": user["id"], "aud": "authenticated", "exp": NOW + 3600, "iat": NOW,
        "email": user["email"], "phone": "",
        "app_metadata": user["app_metadata"], "user_metadata": user["user_metadata"],
        "role": "authenticated", "aal": "aal1",
        "amr": [{"method": "password", "timestamp": NOW}],
        "session_id": session_id, "is_anonymous": false
    });
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signature = URL_SAFE_NO_PAD.encode((i as u64).to_le_bytes().repeat(4));
    format!("{header}.{payload}.{signature}")
}

/// One session as the proxy builds it on sign-in, and its store key.
fn session(i: usize) -> (SessionKey, Session) {
    let user = user(i);
    let auth_session_id = uuid_like(i, 0x5b0c_0003);
    let tokens = UpstreamTokens {
        access_token: access_token(i, &user, &auth_session_id),
        // Auth's refresh tokens are short opaque strings.
        refresh_token: format!("r{i:011}x"),
        issued_at: NOW,
        expires_at: NOW + 3600,
    };
    let new = NewSession {
        id: uuid_like(i, 0x5b0c_0004),
        user_id: user["id"].as_str().unwrap_or_default().to_string(),
        user: user.into(),
        auth_session_id: Some(auth_session_id),
        tokens,
        ip: Some(format!("203.0.113.{}", i % 250)),
        user_agent: Some(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 \
             (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
                .into(),
        ),
        country: Some("NL".into()),
    };
    // The store key is base64url(SHA-256(secret)): 43 characters.
    let key = SessionKey::from_stored(&URL_SAFE_NO_PAD.encode([(i % 251) as u8; 32]))
        .as_str()
        .chars()
        .take(31)
        .chain(format!("{i:012}").chars())
        .collect::<String>();
    let key = SessionKey::from_stored(&key);
    (key, Session::new(new, NOW, 30 * 86_400, 7 * 86_400))
}

/// Heap and RSS growth per session for inserting `n` sessions with `insert`.
struct Growth {
    heap: f64,
    rss: f64,
}

fn per_session(n: usize, before: (i64, i64), after: (i64, i64)) -> Growth {
    Growth {
        heap: (after.0 - before.0) as f64 / n as f64,
        rss: (after.1 - before.1) as f64 / n as f64,
    }
}

fn main() {
    let n: usize = std::env::args()
        .skip_while(|a| a != "--sessions")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");

    // One session taken apart: what each field retains on the heap.
    let (_, sample) = session(7);
    let (_, session_heap) = retained(|| sample.clone());
    let (_, user_heap) = retained(|| sample.user.clone());
    let (_, tokens_heap) = retained(|| sample.tokens.clone());
    let user_json_len = sample.user.as_json().len();
    let access_len = sample.tokens.access_token.len();
    let session_inline = std::mem::size_of::<Session>();

    // Each measurement grows into fresh memory: nothing is freed before the
    // last one, so freed blocks cannot be reused and hide growth.
    // 1. The memory: store alone, to split the total into store and cache.
    let store = MemoryStore::default();
    let before = (heap_in_use(), rss_bytes());
    runtime.block_on(async {
        for i in 0..n {
            let (key, session) = session(i);
            store.insert(&key, &session).await.expect("memory insert");
        }
    });
    let after = (heap_in_use(), rss_bytes());
    let store_only = per_session(n, before, after);

    // 2. SessionCache over the memory: store, as PROXY_SESSION_STORE=memory:.
    let mut keys = Vec::with_capacity(n);
    let before = (heap_in_use(), rss_bytes());
    // The grace period (serving while the store is down) costs no memory.
    let cache = SessionCache::new(
        Store::Memory(MemoryStore::default()),
        CACHE_CAPACITY,
        Duration::ZERO,
    );
    runtime.block_on(async {
        for i in 0..n {
            let (key, session) = session(i);
            cache.insert(&key, session).await.expect("memory insert");
            keys.push(key);
        }
    });
    // The benchmark's own list of keys is not the proxy's memory (its vector
    // was counted before, but its pages became resident while it filled).
    let key_strings: i64 = keys.iter().map(|k| k.as_str().len() as i64).sum();
    let key_vector = (keys.capacity() * std::mem::size_of::<SessionKey>()) as i64;
    let after = (
        heap_in_use() - key_strings,
        rss_bytes() - key_strings - key_vector,
    );
    let total = per_session(n, before, after);
    // How many of them the cache (not only the store) holds: drop the store's
    // copies and see which keys are still served.
    let cached = runtime.block_on(async {
        for key in &keys {
            cache.store().remove(key).await.expect("memory remove");
        }
        let mut cached = 0usize;
        for key in &keys {
            if cache.get(key).await.ok().flatten().is_some() {
                cached += 1;
            }
        }
        cached
    });
    drop((cache, keys, store));

    let cache_heap = total.heap - store_only.heap;
    let cache_rss = total.rss - store_only.rss;
    eprintln!("sessions inserted: {n}; held by the cache: {cached}");
    eprintln!(
        "SessionCache over memory: store: {:.0} B/session heap, {:.0} B/session RSS",
        total.heap, total.rss
    );
    eprintln!(
        "  of which the store's copy: {:.0} B heap, {:.0} B RSS; the cache's: {:.0} B heap, {:.0} B RSS",
        store_only.heap, store_only.rss, cache_heap, cache_rss
    );
    eprintln!(
        "one Session: {session_inline} B inline + {session_heap} B heap; user {user_heap} B \
         heap for {user_json_len} B of JSON; tokens {tokens_heap} B heap (access token {access_len} B)"
    );
    let report = json!({
        "sessions": n,
        "cached": cached,
        "cache_capacity": CACHE_CAPACITY,
        "total_heap_per_session": total.heap.round(),
        "total_rss_per_session": total.rss.round(),
        "store_heap_per_session": store_only.heap.round(),
        "store_rss_per_session": store_only.rss.round(),
        "cache_heap_per_session": cache_heap.round(),
        "cache_rss_per_session": cache_rss.round(),
        "session_inline_bytes": session_inline,
        "session_heap_bytes": session_heap,
        "user_heap_bytes": user_heap,
        "user_json_bytes": user_json_len,
        "tokens_heap_bytes": tokens_heap,
        "access_token_bytes": access_len,
    });
    println!("{report}");
}
