//! Refreshing a session's upstream tokens with Auth.
//!
//! Auth's refresh tokens rotate, and replaying an old one ends the session,
//! so a session is refreshed once at a time everywhere:
//! - in this process, the first request that finds the token near expiry
//!   starts the refresh and every concurrent one waits for the same result;
//! - across processes sharing a store, the refresh holds the store's lock
//!   (with a lease renewed while it runs); the others wait until the new
//!   tokens are in the store and use them.
//!
//! The holder re-reads the session after taking the lock, so a refresh that
//! someone else already did is reused, never repeated.
//!
//! Only an answer that says the Auth session is gone
//! ([`sbp_core::auth::read_refresh_answer`]) ends the session; any other
//! failure leaves it, to be used while its token is valid and refreshed later.

use super::{AuthApi, Refreshed, SessionService};
use crate::store::CachedStore;
use futures_util::FutureExt;
use sbp_core::auth::{Kept, RefreshAnswer, read_refresh_answer};
use sbp_core::config::TokenMode;
use sbp_core::session::{EndReason, SessionKey, UserObject};
use sbp_core::token::needs_new_tokens;
use std::collections::HashMap;
use std::sync::{Arc, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// Lease of the store's refresh lock; renewed every third of it while held.
const LOCK_LEASE: Duration = Duration::from_secs(30);
/// A refresh call to Auth ends well within the lease.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a waiting process looks for the holder's result.
const WAIT_STEP: Duration = Duration::from_millis(100);

impl<S: CachedStore, A: AuthApi> SessionService<S, A> {
    fn flights(&self) -> MutexGuard<'_, HashMap<SessionKey, super::Flight>> {
        crate::sync::lock(&self.in_flight)
    }

    /// Refreshes the session under `key`, or joins the refresh already running.
    pub async fn refresh(self: &Arc<Self>, key: &SessionKey) -> Refreshed {
        let flight = self
            .flights()
            .entry(key.clone())
            .or_insert_with(|| {
                let (service, key) = (self.clone(), key.clone());
                let task = tokio::spawn(async move {
                    let outcome = service.run(&key).await;
                    service.metrics().refreshed(&outcome);
                    service.flights().remove(&key);
                    outcome
                });
                async move { task.await.unwrap_or(Refreshed::Failed) }
                    .boxed()
                    .shared()
            })
            .clone();
        flight.await
    }

    /// Takes the store's refresh lock (or waits for its holder's result), then
    /// refreshes. In mint mode a new token is signed instead: no lock, since
    /// minting twice does no harm.
    async fn run(self: &Arc<Self>, key: &SessionKey) -> Refreshed {
        if let TokenMode::Mint(mint) = &self.settings.token_mode {
            return self.remint(key, mint).await;
        }
        let owner: String = self
            .random::<16>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let lease_ms = LOCK_LEASE.as_millis() as u64;
        let waiting_since = Instant::now();
        loop {
            match self.cache.lock_refresh(key, &owner, lease_ms).await {
                Ok(true) => break,
                Ok(false) if waiting_since.elapsed() > LOCK_LEASE + WAIT_STEP => {
                    return Refreshed::Failed;
                }
                Ok(false) => {
                    tokio::time::sleep(WAIT_STEP).await;
                    match self.cache.reload(key).await {
                        Ok(Some(s))
                            if !needs_new_tokens(&s, self.now(), self.settings.refresh_margin) =>
                        {
                            return Refreshed::Fresh(s);
                        }
                        Ok(Some(_)) => {}
                        Ok(None) => return Refreshed::Revoked,
                        Err(_) => return Refreshed::Failed,
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take the refresh lock");
                    return Refreshed::Failed;
                }
            }
        }
        let renewal = {
            let (service, key, owner) = (self.clone(), key.clone(), owner.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(LOCK_LEASE / 3).await;
                    if !matches!(
                        service.cache.renew_refresh(&key, &owner, lease_ms).await,
                        Ok(true)
                    ) {
                        tracing::warn!("lost the refresh lock while refreshing");
                        return;
                    }
                }
            })
        };
        let outcome = self.refresh_locked(key).await;
        renewal.abort();
        if let Err(e) = self.cache.unlock_refresh(key, &owner).await {
            tracing::warn!(error = %e, "cannot release the refresh lock; it ends with its lease");
        }
        outcome
    }

    /// Refreshes with Auth, holding the lock.
    async fn refresh_locked(&self, key: &SessionKey) -> Refreshed {
        let session = match self.cache.reload(key).await {
            Ok(Some(session)) => session,
            Ok(None) => return Refreshed::Revoked,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read session before refresh");
                return Refreshed::Failed;
            }
        };
        if !needs_new_tokens(&session, self.now(), self.settings.refresh_margin) {
            return Refreshed::Fresh(session);
        }
        let call = self.auth.refresh_grant(&session.tokens.refresh_token);
        let answer = match tokio::time::timeout(REFRESH_TIMEOUT, call).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "refresh did not reach Auth");
                return Refreshed::Failed;
            }
            Err(_) => {
                tracing::warn!("Auth did not answer a refresh in time");
                return Refreshed::Failed;
            }
        };
        let status = answer.status;
        match read_refresh_answer(status, answer.error_code.as_deref(), &answer.body) {
            RefreshAnswer::Tokens(grant) => match self
                .cache
                .update_tokens(
                    key,
                    &grant.tokens,
                    Some(&UserObject::from_value(&grant.user)),
                    session.tokens_outdated.as_deref(),
                )
                .await
            {
                Ok(Some(session)) => Refreshed::Fresh(session),
                Ok(None) => Refreshed::Revoked,
                Err(e) => {
                    tracing::error!(error = %e, "refreshed tokens could not be stored");
                    Refreshed::Failed
                }
            },
            RefreshAnswer::Keep(Kept::UnreadableTokens) => {
                tracing::warn!("Auth answered a refresh with an unreadable body");
                Refreshed::Failed
            }
            RefreshAnswer::EndsSession(code) => {
                tracing::info!(status, code, "Auth ended the session; ending it here");
                if let Err(e) = self.end(key, EndReason::AuthEnded).await {
                    tracing::warn!(error = %e, "cannot delete a revoked session");
                }
                Refreshed::Revoked
            }
            RefreshAnswer::Keep(Kept::Refused) => {
                tracing::warn!(status, "Auth did not refresh; the session is kept");
                Refreshed::Failed
            }
        }
    }
}
