//! A delete that happens while a touch or a read of the same session is in
//! flight wins, on every store: the late answer puts nothing back in the
//! cache or the store. A wrapper holds the touch or read at a chosen point
//! until the delete has happened, so each interleaving is forced, not hoped for.

use sb_cookie_proxy::store::{CachedStore, SessionCache, Store};
use sbp_core::env::UnixSeconds;
use sbp_core::session::{Session, SessionKey, StoreError, UpstreamTokens, UserObject};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// Where an operation is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Point {
    /// A touch, before it reaches the store.
    BeforeTouch,
    /// A touch, after the store wrote it and before its answer is used.
    AfterTouch,
    /// A read, after the store answered and before the answer is used.
    AfterGet,
}

struct Pause {
    point: Point,
    reached: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

/// A store that holds the next operation at a [`Point`] until released.
pub struct Held {
    inner: Store,
    pause: Mutex<Option<Pause>>,
}

impl Held {
    pub fn new(inner: Store) -> Held {
        Held {
            inner,
            pause: Mutex::new(None),
        }
    }

    /// Holds the next operation at `point`: the first receiver fires when
    /// it is held, and sending on the returned sender releases it.
    pub fn hold(&self, point: Point) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
        let (reached, on_reached) = oneshot::channel();
        let (release, on_release) = oneshot::channel();
        *self.pause.lock().unwrap() = Some(Pause {
            point,
            reached,
            release: on_release,
        });
        (on_reached, release)
    }

    async fn wait_if(&self, point: Point) {
        let pause = {
            let mut slot = self.pause.lock().unwrap();
            match slot.take() {
                Some(p) if p.point == point => Some(p),
                other => {
                    *slot = other;
                    None
                }
            }
        };
        if let Some(pause) = pause {
            pause.reached.send(()).unwrap();
            pause.release.await.unwrap();
        }
    }
}

impl CachedStore for Held {
    fn is_shared(&self) -> bool {
        self.inner.is_shared()
    }
    fn in_process_copy(&self, key: &SessionKey) -> Option<Arc<Session>> {
        self.inner.in_process_copy(key)
    }
    async fn get(&self, key: &SessionKey) -> Result<Option<Arc<Session>>, StoreError> {
        let found = self.inner.get(key).await;
        self.wait_if(Point::AfterGet).await;
        found
    }
    async fn insert(&self, key: &SessionKey, session: &Session) -> Result<(), StoreError> {
        self.inner.insert(key, session).await
    }
    async fn update_tokens(
        &self,
        key: &SessionKey,
        tokens: &UpstreamTokens,
        user: Option<&UserObject>,
        outdated_seen: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.inner
            .update_tokens(key, tokens, user, outdated_seen)
            .await
    }
    async fn update_user(
        &self,
        key: &SessionKey,
        user: &UserObject,
        outdate: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.inner.update_user(key, user, outdate).await
    }
    async fn find_auth_session(
        &self,
        auth_session_id: &str,
    ) -> Result<Option<(SessionKey, Session)>, StoreError> {
        self.inner.find_auth_session(auth_session_id).await
    }
    async fn claim_hook_id(
        &self,
        id: &str,
        now: UnixSeconds,
        ttl: u64,
    ) -> Result<bool, StoreError> {
        self.inner.claim_hook_id(id, now, ttl).await
    }
    async fn touch(
        &self,
        key: &SessionKey,
        last_seen_at: UnixSeconds,
        idle_expires_at: UnixSeconds,
    ) -> Result<Option<Arc<Session>>, StoreError> {
        self.wait_if(Point::BeforeTouch).await;
        let touched = self.inner.touch(key, last_seen_at, idle_expires_at).await;
        self.wait_if(Point::AfterTouch).await;
        touched
    }
    async fn remove(&self, key: &SessionKey) -> Result<Option<Session>, StoreError> {
        self.inner.remove(key).await
    }
    async fn list_user(&self, user_id: &str) -> Result<Vec<(SessionKey, Session)>, StoreError> {
        self.inner.list_user(user_id).await
    }
    async fn sweep(&self, now: UnixSeconds) -> Result<usize, StoreError> {
        self.inner.sweep(now).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

/// How the session is deleted while the operation is held.
#[derive(Clone, Copy, Debug)]
enum Delete {
    /// Through this cache (a logout or revocation here).
    Here,
    /// In the store by someone else, then announced to this cache (another
    /// instance's eviction message).
    Elsewhere,
}

type Cache = SessionCache<Held>;

/// Runs `operation` held at `point`, deletes the session meanwhile, then
/// releases it; afterwards neither the cache nor the store has the session.
async fn deleted_while_held<F: Future>(
    cache: &Cache,
    key: &SessionKey,
    point: Point,
    delete: Delete,
    operation: F,
) {
    let (reached, release) = cache.store().hold(point);
    let deleting = async {
        reached.await.unwrap();
        match delete {
            Delete::Here => {
                cache
                    .remove(key)
                    .await
                    .unwrap()
                    .expect("the session existed");
            }
            Delete::Elsewhere => {
                cache.store().inner.remove(key).await.unwrap();
                cache.evict(key);
            }
        }
        release.send(()).unwrap();
    };
    tokio::join!(operation, deleting);
    let what = format!("{point:?} with a delete {delete:?}");
    assert_eq!(
        cache.get(key).await.unwrap(),
        None,
        "{what}: back in the cache"
    );
    assert_eq!(
        cache.store().inner.get(key).await.unwrap(),
        None,
        "{what}: back in the store"
    );
}

/// Every forced interleaving of a delete with a touch or a read, and of a
/// token update with a touch, on `store`. `session` makes a fresh session.
pub async fn run(store: Store, session: impl Fn(&str) -> Session) {
    let cache: Cache = SessionCache::new(Held::new(store), 64, Duration::ZERO);
    let mut n = 0;
    for point in [Point::BeforeTouch, Point::AfterTouch, Point::AfterGet] {
        for delete in [Delete::Here, Delete::Elsewhere] {
            n += 1;
            let key = SessionKey::from_stored(&format!("race-{n}"));
            let stored = cache.insert(&key, session(&format!("r{n}"))).await.unwrap();
            let now = stored.last_seen_at + 60;
            match point {
                Point::AfterGet => {
                    // A read that missed the cache (say, after an eviction).
                    cache.evict(&key);
                    let read = async {
                        assert!(
                            cache.get(&key).await.unwrap().is_some(),
                            "read before the delete"
                        );
                    };
                    deleted_while_held(&cache, &key, point, delete, read).await;
                }
                _ => {
                    let touch = async {
                        cache.touch(&key, &stored, now, 100).await.unwrap();
                    };
                    deleted_while_held(&cache, &key, point, delete, touch).await;
                }
            }
        }
    }

    // A touch that read the session before a refresh stored new tokens does
    // not write the old tokens back.
    let key = SessionKey::from_stored("race-refresh");
    let stored = cache.insert(&key, session("rr")).await.unwrap();
    let tokens = UpstreamTokens {
        access_token: "access-after-refresh".into(),
        refresh_token: "refresh-after-refresh".into(),
        issued_at: stored.tokens.issued_at + 1,
        expires_at: stored.tokens.expires_at + 1,
    };
    let (reached, release) = cache.store().hold(Point::AfterTouch);
    let touch = async {
        cache
            .touch(&key, &stored, stored.last_seen_at + 60, 100)
            .await
            .unwrap();
    };
    let refresh = async {
        reached.await.unwrap();
        let user = stored.user.clone();
        let updated = cache
            .update_tokens(&key, &tokens, Some(&user), None)
            .await
            .unwrap();
        assert_eq!(updated.unwrap().tokens, tokens);
        release.send(()).unwrap();
    };
    tokio::join!(touch, refresh);
    let cached = cache.get(&key).await.unwrap().unwrap();
    assert_eq!(
        cached.tokens, tokens,
        "the touch wrote back the tokens it read"
    );
    assert_eq!(
        cached.last_seen_at,
        stored.last_seen_at + 60,
        "the touch landed"
    );
}
