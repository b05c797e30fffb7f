//! Cache coherence between instances: every change to a session is
//! published, and every instance evicts its cached copy when it hears of it.
//! A deleted session is also published on a channel of its own, so that
//! every instance closes the sockets it holds for it at once.

use super::{ENDED, EVICTIONS, RedisStore};
use futures_util::StreamExt;
use sbp_core::session::SessionKey;
use std::time::Duration;
use tokio::sync::watch;

/// What an instance must drop from its cache.
pub enum Eviction {
    /// One session changed on another instance.
    Session(SessionKey),
    /// One session was deleted on another instance.
    Ended(SessionKey),
    /// Messages may have been missed (the subscription was (re)made): drop everything.
    Everything,
}

/// Follows the eviction channel until `stopped`, reconnecting when Redis
/// goes away, and calls `evict` for each eviction.
pub async fn follow_evictions(
    store: &RedisStore,
    mut evict: impl FnMut(Eviction),
    mut stopped: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    // On a cluster, every node hears every message: a lost node is
    // followed by the next one.
    for attempt in 0.. {
        let client = &store.subscribers[attempt % store.subscribers.len()];
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&[EVICTIONS, ENDED]).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = tokio::select! {
            result = subscribed => result,
            _ = stopped.changed() => return,
        };
        match pubsub {
            Ok(pubsub) => {
                backoff = Duration::from_millis(100);
                evict(Eviction::Everything);
                let mut messages = pubsub.into_on_message();
                loop {
                    let message = tokio::select! {
                        message = messages.next() => message,
                        _ = stopped.changed() => return,
                    };
                    let Some(message) = message else { break };
                    let Ok(text) = message.get_payload::<String>() else {
                        continue;
                    };
                    let ended = message.get_channel_name() == ENDED;
                    match text.split_once(':') {
                        Some((instance, _)) if instance == store.instance => {}
                        Some((_, key)) if ended => {
                            evict(Eviction::Ended(SessionKey::from_stored(key)));
                        }
                        Some((_, key)) => evict(Eviction::Session(SessionKey::from_stored(key))),
                        None => {}
                    }
                }
                tracing::warn!("lost the Redis eviction channel; resubscribing");
            }
            Err(e) => tracing::warn!(error = %e, "cannot subscribe to Redis evictions"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stopped.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}
