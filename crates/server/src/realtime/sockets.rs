//! Which sessions have Realtime sockets open on this instance, so that
//! ending a session (revoke, sign-out) closes its sockets at once.
//!
//! Each socket of a signed-in session holds a [`SessionWatch`]; the
//! registry follows the session service's ended sessions
//! ([`SessionSockets::following`]) and wakes their sockets. Sessions
//! deleted elsewhere (expiry, another instance) are caught by the socket's
//! periodic check instead.

use sbp_core::session::SessionKey;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;

type Watchers = HashMap<SessionKey, watch::Sender<bool>>;

#[derive(Default)]
pub struct SessionSockets {
    watchers: Arc<Mutex<Watchers>>,
}

fn lock(watchers: &Mutex<Watchers>) -> MutexGuard<'_, Watchers> {
    crate::sync::lock(watchers)
}

impl SessionSockets {
    /// A registry that wakes the sockets of every session announced on
    /// `ended`, until its sender is gone (from a task of its own).
    pub fn following(mut ended: broadcast::Receiver<SessionKey>) -> SessionSockets {
        let sockets = SessionSockets::default();
        let watchers = Arc::downgrade(&sockets.watchers);
        tokio::spawn(async move {
            loop {
                let key = match ended.recv().await {
                    Ok(key) => key,
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(
                            missed,
                            "realtime: missed ended sessions; their sockets close at their next look"
                        );
                        continue;
                    }
                    Err(RecvError::Closed) => return,
                };
                let Some(watchers) = watchers.upgrade() else {
                    return;
                };
                wake(&watchers, &key);
            }
        });
        sockets
    }

    /// A watch that resolves when the session under `key` is ended.
    pub fn watch(&self, key: &SessionKey) -> SessionWatch {
        let receiver = lock(&self.watchers)
            .entry(key.clone())
            .or_insert_with(|| watch::channel(false).0)
            .subscribe();
        SessionWatch {
            receiver,
            key: key.clone(),
            watchers: self.watchers.clone(),
        }
    }

    /// Wakes every socket of the session under `key`.
    #[cfg(test)]
    fn session_ended(&self, key: &SessionKey) {
        wake(&self.watchers, key);
    }

    /// How many sessions have a socket open.
    #[cfg(test)]
    fn watched(&self) -> usize {
        lock(&self.watchers).len()
    }
}

/// Wakes every socket of the session under `key`.
fn wake(watchers: &Mutex<Watchers>, key: &SessionKey) {
    if let Some(sender) = lock(watchers).remove(key) {
        sender.send_replace(true);
    }
}

/// One socket's interest in its session; dropping it forgets the session
/// once no socket of it is left.
pub struct SessionWatch {
    receiver: watch::Receiver<bool>,
    key: SessionKey,
    watchers: Arc<Mutex<Watchers>>,
}

impl SessionWatch {
    /// Resolves when the session is ended (at once if it already was).
    pub async fn ended(&mut self) {
        // An error means the sender is gone, which only `session_ended` does.
        let _ = self.receiver.wait_for(|ended| *ended).await;
    }
}

impl Drop for SessionWatch {
    fn drop(&mut self) {
        let mut watchers = lock(&self.watchers);
        // An ended channel was already removed (under this lock), and the
        // key may name a newer one by now; a live one is this socket's.
        if *self.receiver.borrow() {
            return;
        }
        if watchers
            .get(&self.key)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            watchers.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::time::timeout;

    const SOON: Duration = Duration::from_secs(1);

    #[tokio::test(start_paused = true)]
    async fn ending_a_session_wakes_its_sockets_only() {
        let sockets = SessionSockets::default();
        let (a, b) = (SessionKey::from_stored("a"), SessionKey::from_stored("b"));
        let mut a1 = sockets.watch(&a);
        let mut a2 = sockets.watch(&a);
        let mut b1 = sockets.watch(&b);
        sockets.session_ended(&a);
        timeout(SOON, a1.ended()).await.expect("first socket woken");
        timeout(SOON, a2.ended())
            .await
            .expect("second socket woken");
        assert!(
            timeout(Duration::from_millis(50), b1.ended())
                .await
                .is_err()
        );
        assert_eq!(sockets.watched(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn sessions_announced_as_ended_wake_their_sockets() {
        let (ended, follow) = broadcast::channel(4);
        let sockets = SessionSockets::following(follow);
        let (a, b) = (SessionKey::from_stored("a"), SessionKey::from_stored("b"));
        let mut a1 = sockets.watch(&a);
        let mut b1 = sockets.watch(&b);
        ended.send(a.clone()).unwrap();
        timeout(SOON, a1.ended())
            .await
            .expect("the ended session's socket is woken");
        assert!(
            timeout(SOON, b1.ended()).await.is_err(),
            "the other one is not"
        );
        assert_eq!(sockets.watched(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn watches_are_forgotten_with_their_last_socket() {
        let sockets = SessionSockets::default();
        let key = SessionKey::from_stored("k");
        let first = sockets.watch(&key);
        let second = sockets.watch(&key);
        drop(first);
        assert_eq!(sockets.watched(), 1);
        drop(second);
        assert_eq!(sockets.watched(), 0);
        sockets.session_ended(&key); // nobody is watching: nothing happens
        let mut late = sockets.watch(&key);
        assert!(
            timeout(Duration::from_millis(50), late.ended())
                .await
                .is_err()
        );
    }
}
