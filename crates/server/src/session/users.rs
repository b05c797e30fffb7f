//! User objects that change outside the tokens: Auth's answers to
//! `GET`/`PUT /auth/v1/user`, and the Auth hook's calls
//! ([`sbp_core::hooks`]) about changes made anywhere in Auth.
//!
//! The user is written on its own ([`SessionCache::update_user`](crate::store::SessionCache::update_user)),
//! never with the tokens, so a refresh under way on another instance is
//! not undone. A change that alters the token's claims marks the tokens
//! outdated (`Session::tokens_outdated`): the next use refreshes them (or
//! mints anew), so new `app_metadata` claims apply at once.

use super::{AuthApi, SessionService};
use crate::store::CachedStore;
use sbp_core::config::TokenMode;
use sbp_core::hooks::{Effect, user_from_row};
use sbp_core::session::{EndReason, Session, SessionKey, StoreError, UserObject};
use sbp_core::token::{session_claims, user_changes_claims};
use serde_json::Value;
use std::sync::Arc;

/// What a hook call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookOutcome {
    /// This many sessions got the new user.
    Updated(usize),
    /// This many sessions ended.
    Ended(usize),
    /// The call needed nothing done.
    Nothing,
}

impl<S: CachedStore, A: AuthApi> SessionService<S, A> {
    /// Records Auth's user object as it is now (its answer to `GET` or
    /// `PUT /auth/v1/user`), leaving the tokens as they are stored. In mint
    /// mode, when the user's claims changed, the token is marked outdated:
    /// the next use mints one from the new user (in refresh mode Auth's
    /// token stays, as it does for Auth's own client). `None` when the
    /// session is gone.
    pub async fn update_user(
        &self,
        key: &SessionKey,
        session: &Session,
        user: &Value,
    ) -> Result<Option<Arc<Session>>, StoreError> {
        let outdated = matches!(self.settings.token_mode, TokenMode::Mint(_))
            && user_changes_claims(&session_claims(session), user);
        let mark = outdated.then(|| self.change_mark());
        let user = UserObject::from_value(user);
        self.cache.update_user(key, &user, mark.as_deref()).await
    }

    /// A new id for a change that outdates a session's tokens.
    fn change_mark(&self) -> String {
        self.random::<12>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Remembers a hook call's `webhook-id` for `ttl` seconds; `false` when
    /// it was seen already (by any instance sharing the store).
    pub async fn claim_hook_id(&self, id: &str, ttl: u64) -> Result<bool, StoreError> {
        self.cache.claim_hook_id(id, self.now(), ttl).await
    }

    /// Does what a hook call's payload means ([`sbp_core::hooks::decide`]):
    /// a changed user reaches every session of the user, with their tokens
    /// marked outdated; a banned or deleted user, or a deleted Auth
    /// session, ends the sessions (announced, so sockets close).
    pub async fn apply_hook(&self, effect: Effect) -> Result<HookOutcome, StoreError> {
        match effect {
            Effect::Nothing => Ok(HookOutcome::Nothing),
            Effect::UpdateUser { user_id, row } => {
                let mark = self.change_mark();
                let mut updated = 0;
                for (key, session) in self.list_user(&user_id).await? {
                    let user =
                        UserObject::from_value(&user_from_row(&session.user.to_value(), &row));
                    if self
                        .cache
                        .update_user(&key, &user, Some(&mark))
                        .await?
                        .is_some()
                    {
                        updated += 1;
                    }
                }
                Ok(HookOutcome::Updated(updated))
            }
            Effect::EndUser { user_id } => {
                let sessions = self.list_user(&user_id).await?;
                for (key, _) in &sessions {
                    self.end(key, EndReason::Hook).await?;
                }
                Ok(HookOutcome::Ended(sessions.len()))
            }
            Effect::EndAuthSession { session_id } => {
                match self.cache.find_auth_session(&session_id).await? {
                    Some((key, _)) => {
                        self.end(&key, EndReason::Hook).await?;
                        Ok(HookOutcome::Ended(1))
                    }
                    None => Ok(HookOutcome::Ended(0)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Refreshed;
    use crate::session::testing::{
        FakeAuth, SharedStore, mint_settings, refresh_settings, service, signed_in, token_answer,
    };
    use serde_json::json;
    use std::time::Duration;

    /// A second session of user "u", beside the one `signed_in` made.
    async fn second_session(sessions: &crate::session::testing::TestService) -> SessionKey {
        let first = sessions
            .get(&SessionKey::from_stored("session-key"))
            .await
            .unwrap()
            .unwrap();
        let mut second = (*first).clone();
        second.id = "00000000-0000-4000-8000-000000000002".into();
        second.auth_session_id = Some("auth-s2".into());
        let key = SessionKey::from_stored("session-key-2");
        sessions.insert(&key, second).await.unwrap();
        key
    }

    fn promoted(plan: &str) -> Effect {
        let row = json!({"id": "u", "raw_app_meta_data": {"plan": plan}, "email": null});
        Effect::UpdateUser {
            user_id: "u".into(),
            row: row.as_object().unwrap().clone(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_user_update_reaches_every_session_and_gets_them_new_tokens_once() {
        let auth = Arc::new(FakeAuth::default());
        let sessions = service(SharedStore::default(), auth.clone(), refresh_settings());
        let first = signed_in(&sessions, sessions.now() + 3000).await;
        let second = second_session(&sessions).await;
        let outcome = sessions.apply_hook(promoted("pro")).await.unwrap();
        assert_eq!(outcome, HookOutcome::Updated(2));
        for key in [&first, &second] {
            let session = sessions.get(key).await.unwrap().unwrap();
            assert_eq!(session.user.to_value()["app_metadata"]["plan"], "pro");
            assert_eq!(session.user.to_value()["email"], "");
            assert!(session.tokens_outdated.is_some());
        }
        // The token is far from expiry, yet replaced: once.
        auth.answer_refresh(Duration::ZERO, token_answer(sessions.now(), "r2"));
        match sessions.refresh(&first).await {
            Refreshed::Fresh(s) => {
                assert_eq!(s.tokens.refresh_token, "r2");
                assert_eq!(s.tokens_outdated, None);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            sessions.refresh(&first).await,
            Refreshed::Fresh(_)
        ));
        assert_eq!(auth.refresh_calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_made_while_a_refresh_is_under_way_still_outdates_its_tokens() {
        let auth = Arc::new(FakeAuth::default());
        let sessions = service(SharedStore::default(), auth.clone(), refresh_settings());
        let key = signed_in(&sessions, sessions.now() + 3000).await;
        sessions.apply_hook(promoted("pro")).await.unwrap();
        auth.answer_refresh(Duration::from_secs(1), token_answer(sessions.now(), "r2"));
        let refresh = {
            let (sessions, key) = (sessions.clone(), key.clone());
            tokio::spawn(async move { sessions.refresh(&key).await })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        sessions.apply_hook(promoted("team")).await.unwrap();
        assert!(matches!(refresh.await.unwrap(), Refreshed::Fresh(_)));
        let session = sessions.get(&key).await.unwrap().unwrap();
        assert_eq!(session.tokens.refresh_token, "r2");
        assert!(
            session.tokens_outdated.is_some(),
            "the tokens Auth gave before the second change are outdated by it"
        );
        assert_eq!(session.user.to_value()["app_metadata"]["plan"], "team");
    }

    #[tokio::test(start_paused = true)]
    async fn bans_deletions_and_ended_auth_sessions_end_sessions_and_announce_it() {
        let auth = Arc::new(FakeAuth::default());
        let sessions = service(SharedStore::default(), auth, refresh_settings());
        let mut ended = sessions.ended();
        let key = signed_in(&sessions, sessions.now() + 3000).await;
        let gone = Effect::EndAuthSession {
            session_id: "auth-other".into(),
        };
        assert_eq!(sessions.apply_hook(gone).await, Ok(HookOutcome::Ended(0)));
        let gone = Effect::EndAuthSession {
            session_id: "auth-s".into(),
        };
        assert_eq!(sessions.apply_hook(gone).await, Ok(HookOutcome::Ended(1)));
        assert_eq!(ended.try_recv().unwrap(), key);
        assert!(sessions.get(&key).await.unwrap().is_none());

        let keys = [
            signed_in(&sessions, sessions.now() + 3000).await,
            second_session(&sessions).await,
        ];
        let banned = Effect::EndUser {
            user_id: "u".into(),
        };
        assert_eq!(sessions.apply_hook(banned).await, Ok(HookOutcome::Ended(2)));
        let mut announced = vec![ended.try_recv().unwrap(), ended.try_recv().unwrap()];
        announced.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        let mut expected = keys.to_vec();
        expected.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        assert_eq!(announced, expected);
        assert_eq!(
            sessions.apply_hook(Effect::Nothing).await,
            Ok(HookOutcome::Nothing)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn user_answers_outdate_minted_tokens_only_when_claims_change() {
        let auth = Arc::new(FakeAuth::default());
        let sessions = service(SharedStore::default(), auth.clone(), refresh_settings());
        let key = signed_in(&sessions, sessions.now() + 3000).await;
        let session = sessions.get(&key).await.unwrap().unwrap();
        let user = json!({"id": "u", "app_metadata": {"plan": "pro"}});
        let kept = sessions
            .update_user(&key, &session, &user)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(kept.user.to_value(), user);
        assert_eq!(kept.tokens, session.tokens);
        assert_eq!(
            kept.tokens_outdated, None,
            "refresh mode keeps Auth's token"
        );

        let minting = service(SharedStore::default(), auth, mint_settings());
        let key = signed_in(&minting, minting.now() + 3000).await;
        let session = minting.get(&key).await.unwrap().unwrap();
        let same = minting
            .update_user(&key, &session, &json!({"id": "u", "identities": []}))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(same.tokens_outdated, None);
        let changed = minting
            .update_user(&key, &same, &user)
            .await
            .unwrap()
            .unwrap();
        assert!(changed.tokens_outdated.is_some());
        match minting.refresh(&key).await {
            Refreshed::Fresh(s) => {
                let claims = sbp_core::token::read_claims(&s.tokens.access_token).unwrap();
                assert_eq!(claims.all["app_metadata"]["plan"], "pro");
                assert_eq!(s.tokens_outdated, None);
            }
            other => panic!("{other:?}"),
        }
    }
}
