//! Unit tests of [`SessionService::changes`](super::SessionService::changes):
//! what the sessions table mirror is told.

use super::SessionChange;
use super::testing::{FakeAuth, SharedStore, refresh_settings, service, signed_in};
use sbp_core::session::EndReason;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::TryRecvError;

#[tokio::test(start_paused = true)]
async fn stored_touched_and_ended_sessions_are_announced_with_their_public_fields() {
    let sessions = service(
        SharedStore::default(),
        Arc::new(FakeAuth::default()),
        refresh_settings(),
    );
    let mut changes = sessions.changes();
    let key = signed_in(&sessions, sessions.now() + 3600).await;
    let SessionChange::Stored(stored) = changes.try_recv().unwrap() else {
        panic!("a new session is announced as stored");
    };
    assert_eq!(stored.id, "00000000-0000-4000-8000-000000000001");

    tokio::time::advance(Duration::from_secs(120)).await;
    let now = sessions.now();
    sessions.touch(&key, &stored, now).await.unwrap();
    let SessionChange::Stored(touched) = changes.try_recv().unwrap() else {
        panic!("a last-seen write is announced as stored");
    };
    assert_eq!(touched.last_seen_at, now);

    sessions.end(&key, EndReason::SignOut).await.unwrap();
    let SessionChange::Ended(ended) = changes.try_recv().unwrap() else {
        panic!("an ended session is announced");
    };
    assert_eq!(ended.id, stored.id);
    // Ending it again (already gone) announces nothing more.
    sessions.end(&key, EndReason::SignOut).await.unwrap();
    assert_eq!(changes.try_recv().unwrap_err(), TryRecvError::Empty);
}
