//! The writes that change a session's user apart from its tokens, the
//! outdated mark on the tokens, the index by Auth session id, and the hook
//! call ids: the same properties on every backend, and for a shared store
//! across two instances writing at once.

use super::{key, session, t0};
use sbp_core::session::{SessionStore, UpstreamTokens, UserObject};
use serde_json::json;

fn tokens(name: &str, t: i64) -> UpstreamTokens {
    UpstreamTokens {
        access_token: format!("access-{name}"),
        refresh_token: format!("refresh-{name}"),
        issued_at: t,
        expires_at: t + 3600,
    }
}

/// `writer_a` and `writer_b` are the same store, or two instances of one
/// shared store.
pub async fn run(writer_a: &impl SessionStore, writer_b: &impl SessionStore) {
    let t = t0();
    let s = session("u1", "ursula", t);
    writer_a.insert(&key("k-u1"), &s).await.unwrap();

    // A user update changes the user only; a token update with no user
    // keeps it. Each written by another writer, in either order, both land.
    let renamed = UserObject::from(json!({"id": "ursula", "user_metadata": {"name": "U"}}));
    assert!(
        writer_a
            .update_user(&key("k-u1"), &renamed, None)
            .await
            .unwrap()
    );
    assert!(
        writer_b
            .update_tokens(&key("k-u1"), &tokens("t2", t), None, None)
            .await
            .unwrap()
    );
    let both = writer_a.get(&key("k-u1")).await.unwrap().unwrap();
    assert_eq!((&both.user, &both.tokens), (&renamed, &tokens("t2", t)));
    assert_eq!((both.created_at, both.id.as_str()), (s.created_at, "u1"));
    let promoted = UserObject::from(json!({"id": "ursula", "app_metadata": {"plan": "pro"}}));
    assert!(
        writer_b
            .update_user(&key("k-u1"), &promoted, None)
            .await
            .unwrap()
    );
    let touched = writer_a.touch(&key("k-u1"), t + 5, t + 105).await.unwrap();
    let after = writer_a.get(&key("k-u1")).await.unwrap().unwrap();
    assert_eq!((&after.user, &after.tokens), (&promoted, &tokens("t2", t)));
    assert_eq!(touched.as_deref(), Some(&*after));
    assert_eq!(after.tokens_outdated, None);
    assert!(
        !writer_a
            .update_user(&key("missing"), &promoted, Some("m"))
            .await
            .unwrap(),
        "a user update never brings a session back"
    );
    assert_eq!(writer_a.get(&key("missing")).await.unwrap(), None);

    // The outdated mark: set by a user update, kept by token updates that
    // did not see it (a refresh that began before the change), cleared by
    // the one that replaced exactly it.
    assert!(
        writer_a
            .update_user(&key("k-u1"), &promoted, Some("m1"))
            .await
            .unwrap()
    );
    let marked = writer_b.get(&key("k-u1")).await.unwrap().unwrap();
    assert_eq!(marked.tokens_outdated.as_deref(), Some("m1"));
    let stale = UserObject::from(json!({"id": "ursula", "as": "Auth had it before m1"}));
    for seen in [None, Some("m0")] {
        writer_b
            .update_tokens(&key("k-u1"), &tokens("t3", t), Some(&stale), seen)
            .await
            .unwrap();
        let kept = writer_a.get(&key("k-u1")).await.unwrap().unwrap();
        assert_eq!(kept.tokens_outdated.as_deref(), Some("m1"), "seen {seen:?}");
        assert_eq!(kept.tokens, tokens("t3", t));
        assert_eq!(kept.user, promoted, "the newer user stays");
    }
    assert!(
        writer_a
            .update_user(&key("k-u1"), &promoted, Some("m2"))
            .await
            .unwrap()
    );
    writer_b
        .update_tokens(&key("k-u1"), &tokens("t4", t), None, Some("m1"))
        .await
        .unwrap();
    let newer = writer_a.get(&key("k-u1")).await.unwrap().unwrap();
    assert_eq!(
        newer.tokens_outdated.as_deref(),
        Some("m2"),
        "a newer mark stays"
    );
    let fresh = UserObject::from(json!({"id": "ursula", "as": "Auth has it after m2"}));
    writer_b
        .update_tokens(&key("k-u1"), &tokens("t5", t), Some(&fresh), Some("m2"))
        .await
        .unwrap();
    let cleared = writer_a.get(&key("k-u1")).await.unwrap().unwrap();
    assert_eq!(cleared.tokens_outdated, None);
    assert_eq!(cleared.user, fresh);
    assert_eq!(
        writer_a.list_user("ursula").await.unwrap()[0].1,
        *cleared,
        "listings read the same fields"
    );

    // The index by Auth session id follows inserts, replacements, removal and sweeps.
    let found = writer_b.find_auth_session("auth-u1").await.unwrap();
    assert_eq!(
        found.map(|(k, s)| (k, s.id)),
        Some((key("k-u1"), "u1".into()))
    );
    assert_eq!(
        writer_b.find_auth_session("auth-nobody").await.unwrap(),
        None
    );
    let mut other = session("u2", "ursula", t);
    other.auth_session_id = Some("auth-u1-next".into());
    writer_a.insert(&key("k-u1"), &other).await.unwrap();
    assert_eq!(
        writer_b.find_auth_session("auth-u1").await.unwrap(),
        None,
        "replaced"
    );
    let found = writer_b.find_auth_session("auth-u1-next").await.unwrap();
    assert_eq!(found.map(|(_, s)| s.id), Some("u2".into()));
    writer_b.remove(&key("k-u1")).await.unwrap();
    assert_eq!(
        writer_a.find_auth_session("auth-u1-next").await.unwrap(),
        None
    );
    writer_a
        .insert(&key("k-u3"), &session("u3", "ursula", t))
        .await
        .unwrap();
    assert!(
        writer_b
            .find_auth_session("auth-u3")
            .await
            .unwrap()
            .is_some()
    );
    writer_a.sweep(t + 2000).await.unwrap();
    assert_eq!(
        writer_b.find_auth_session("auth-u3").await.unwrap(),
        None,
        "swept"
    );
    let mut anonymous = session("u4", "ursula", t);
    anonymous.auth_session_id = None;
    writer_a.insert(&key("k-u4"), &anonymous).await.unwrap();
    assert_eq!(writer_b.find_auth_session("").await.unwrap(), None);
    writer_a.remove(&key("k-u4")).await.unwrap();
}

/// Hook call ids: a second claim is refused, by the same writer and (for a
/// shared store, `shared`) by the other one.
pub async fn hook_ids(writer_a: &impl SessionStore, writer_b: &impl SessionStore, shared: bool) {
    let t = t0();
    let id = format!("msg_{}", t);
    assert!(writer_a.claim_hook_id(&id, t, 600).await.unwrap());
    assert!(!writer_a.claim_hook_id(&id, t + 1, 600).await.unwrap());
    assert_eq!(
        writer_b.claim_hook_id(&id, t + 1, 600).await.unwrap(),
        !shared
    );
    assert!(
        writer_a
            .claim_hook_id(&format!("{id}-other"), t, 600)
            .await
            .unwrap()
    );
}
