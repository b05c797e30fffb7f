//! The session store of `PROXY_SESSION_STORE`: a file store opened (and
//! created, as start-up does), a Redis server answering `PING`; shown
//! without the password a Redis URL may hold.

use super::line::{Line, timed};
use crate::runtime::OsRandom;
use crate::store::{FileStore, Store};
use sbp_core::config::{Config, StoreSpec};
use sbp_core::session::{SessionStore, StoreError, TokenSeal};
use std::sync::Arc;

pub async fn probe(config: &Config) -> Line {
    let spec = &config.session_store;
    let (where_, on_timeout) = match spec {
        StoreSpec::Memory => {
            return Line::ok(
                "store",
                "memory: (sessions live in this process and end with it)",
            );
        }
        StoreSpec::File(path) => (
            format!("file:{}", path.display()),
            "check that the file is on a local disk",
        ),
        StoreSpec::Redis(url) => (
            without_password(url),
            "check PROXY_SESSION_STORE's host and port, and that the server runs",
        ),
    };
    timed("store", on_timeout, async {
        let seal = TokenSeal::new(config.store_keys.clone(), Arc::new(OsRandom));
        let owned = spec.clone();
        // Opening a file store reads the disk: off the runtime, so the time
        // limit holds.
        let opened =
            tokio::task::spawn_blocking(move || Store::open(&owned, "check".to_string(), seal))
                .await
                .map_err(|e| format!("{where_}: the store could not be opened: {e}"))?;
        let pinged = match opened {
            Ok(store) => store.ping().await,
            Err(e) => Err(e),
        };
        judge(spec, &where_, pinged)
    })
    .await
}

/// The line's note when the store answers, else what is wrong.
fn judge(spec: &StoreSpec, where_: &str, pinged: Result<(), StoreError>) -> Result<String, String> {
    match (spec, pinged) {
        (_, Ok(())) => Ok(where_.to_string()),
        (StoreSpec::File(_), Err(e)) if FileStore::held_elsewhere(&e) => Ok(format!(
            "{where_} (open in another process, a running proxy? A second one could not open it)"
        )),
        (StoreSpec::File(_), Err(e)) => Err(format!(
            "{where_}: {e}; PROXY_SESSION_STORE's file must be in a folder this user can write"
        )),
        (_, Err(e)) => Err(format!(
            "{where_}: {e}; check PROXY_SESSION_STORE (host, port, password, rediss:// for TLS) \
             and that the server runs"
        )),
    }
}

/// A Redis URL without the password (or user) it may hold.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "redis".to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => format!("{scheme}://{rest}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn a_redis_url_is_shown_without_its_password() {
        assert_eq!(
            without_password("redis://:s3cret@cache.internal:6379/0"),
            "redis://cache.internal:6379/0"
        );
        assert_eq!(
            without_password("rediss://user:p%40ss@h:6380"),
            "rediss://h:6380"
        );
        assert_eq!(
            without_password("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }

    #[test]
    fn store_failures_name_the_setting() {
        let redis = StoreSpec::Redis("redis://h:1".into());
        let down = Err(StoreError::Unavailable("redis: Connection refused".into()));
        assert_eq!(
            judge(&redis, "redis://h:1", down).unwrap_err(),
            "redis://h:1: session store unavailable: redis: Connection refused; check \
             PROXY_SESSION_STORE (host, port, password, rediss:// for TLS) and that the server runs"
        );
        let file = StoreSpec::File(PathBuf::from("/x/s.redb"));
        let held = Err(StoreError::Unavailable(
            "Database already open. Cannot acquire lock.".into(),
        ));
        assert!(
            judge(&file, "file:/x/s.redb", held)
                .unwrap()
                .contains("a running proxy?")
        );
        let denied = Err(StoreError::Unavailable(
            "cannot create /x: Permission denied".into(),
        ));
        assert!(
            judge(&file, "file:/x/s.redb", denied)
                .unwrap_err()
                .ends_with("this user can write")
        );
        assert_eq!(
            judge(&file, "file:/x/s.redb", Ok(())),
            Ok("file:/x/s.redb".into())
        );
    }
}
