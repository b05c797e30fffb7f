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
use sbp_core::session::{Session, SessionKey, StoreError, UserObject};
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
                    self.end(key).await?;
                }
                Ok(HookOutcome::Ended(sessions.len()))
            }
            Effect::EndAuthSession { session_id } => {
                match self.cache.find_auth_session(&session_id).await? {
                    Some((key, _)) => {
                        self.end(&key).await?;
                        Ok(HookOutcome::Ended(1))
                    }
                    None => Ok(HookOutcome::Ended(0)),
                }
            }
        }
    }
}
