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
//! ([`sbp_core::auth::session_gone`]) ends the session; any other failure
//! leaves it, to be used while its token is valid and refreshed later.

use crate::app::App;
use crate::body::full;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use http::{Method, Request};
use sbp_core::auth::{read_token_response, session_gone};
use sbp_core::config::TokenMode;
use sbp_core::session::{Session, SessionKey, SessionStore, UserObject};
use sbp_core::token::needs_refresh;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Largest Auth response the proxy reads to refresh a session.
const REFRESH_RESPONSE_LIMIT: usize = 1 << 20;
/// Lease of the store's refresh lock; renewed every third of it while held.
const LOCK_LEASE: Duration = Duration::from_secs(30);
/// A refresh call to Auth ends well within the lease.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a waiting process looks for the holder's result.
const WAIT_STEP: Duration = Duration::from_millis(100);

/// How a refresh ended.
#[derive(Clone, Debug)]
pub enum Refreshed {
    /// The session with tokens that are not near expiry.
    Fresh(Arc<Session>),
    /// Auth said the session is gone (one of its session-ending error
    /// codes): the session was deleted.
    Revoked,
    /// Auth, the path to it or the store failed, or Auth refused for a
    /// reason that does not end the session; the current token may still
    /// be usable.
    Failed,
}

type Flight = Shared<BoxFuture<'static, Refreshed>>;

#[derive(Default)]
pub struct Refresher {
    in_flight: Mutex<HashMap<SessionKey, Flight>>,
    /// Mint mode's counterpart of refreshing with Auth: checking with it.
    pub mint_checks: crate::mint::MintChecks,
}

impl Refresher {
    fn flights(&self) -> std::sync::MutexGuard<'_, HashMap<SessionKey, Flight>> {
        crate::sync::lock(&self.in_flight)
    }

    /// Refreshes the session under `key`, or joins the refresh already running.
    pub async fn refresh(app: &Arc<App>, key: &SessionKey) -> Refreshed {
        let flight = app
            .refresher
            .flights()
            .entry(key.clone())
            .or_insert_with(|| {
                let (app, key) = (app.clone(), key.clone());
                let task = tokio::spawn(async move {
                    let outcome = run(&app, &key).await;
                    app.refresher.flights().remove(&key);
                    outcome
                });
                async move { task.await.unwrap_or(Refreshed::Failed) }
                    .boxed()
                    .shared()
            })
            .clone();
        flight.await
    }
}

/// Takes the store's refresh lock (or waits for its holder's result), then
/// refreshes. In mint mode a new token is signed instead: no lock, since
/// minting twice does no harm.
async fn run(app: &Arc<App>, key: &SessionKey) -> Refreshed {
    if let TokenMode::Mint(mint) = &app.config.token_mode {
        return crate::mint::remint(app, key, mint).await;
    }
    let store = app.sessions.store();
    let owner: String = app
        .random::<16>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let lease_ms = LOCK_LEASE.as_millis() as u64;
    let waiting_since = Instant::now();
    loop {
        match store.lock_refresh(key, &owner, lease_ms).await {
            Ok(true) => break,
            Ok(false) if waiting_since.elapsed() > LOCK_LEASE + WAIT_STEP => {
                return Refreshed::Failed;
            }
            Ok(false) => {
                tokio::time::sleep(WAIT_STEP).await;
                match app.sessions.reload(key).await {
                    Ok(Some(s))
                        if !needs_refresh(&s.tokens, app.now(), app.config.refresh_margin) =>
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
        let (app, key, owner) = (app.clone(), key.clone(), owner.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(LOCK_LEASE / 3).await;
                if !matches!(
                    app.sessions
                        .store()
                        .renew_refresh(&key, &owner, lease_ms)
                        .await,
                    Ok(true)
                ) {
                    tracing::warn!("lost the refresh lock while refreshing");
                    return;
                }
            }
        })
    };
    let outcome = refresh_locked(app, key).await;
    renewal.abort();
    if let Err(e) = store.unlock_refresh(key, &owner).await {
        tracing::warn!(error = %e, "cannot release the refresh lock; it ends with its lease");
    }
    outcome
}

/// Refreshes with Auth, holding the lock.
async fn refresh_locked(app: &App, key: &SessionKey) -> Refreshed {
    let session = match app.sessions.reload(key).await {
        Ok(Some(session)) => session,
        Ok(None) => return Refreshed::Revoked,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read session before refresh");
            return Refreshed::Failed;
        }
    };
    if !needs_refresh(&session.tokens, app.now(), app.config.refresh_margin) {
        return Refreshed::Fresh(session);
    }
    let body = serde_json::json!({"refresh_token": session.tokens.refresh_token}).to_string();
    let request = Request::builder()
        .method(Method::POST)
        .uri("/auth/v1/token?grant_type=refresh_token")
        .header("authorization", app.upstream.anon_bearer.clone())
        .header("content-type", "application/json")
        .header("x-supabase-api-version", "2024-01-01")
        .body(full(body));
    let Ok(request) = request else {
        return Refreshed::Failed;
    };
    let call = app.upstream.call(request, REFRESH_RESPONSE_LIMIT);
    let (parts, bytes) = match tokio::time::timeout(REFRESH_TIMEOUT, call).await {
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
    match parts.status.as_u16() {
        200 => match read_token_response(&bytes) {
            Some(grant) => match app
                .sessions
                .update_tokens(key, &grant.tokens, &UserObject::from_value(&grant.user))
                .await
            {
                Ok(Some(session)) => Refreshed::Fresh(session),
                Ok(None) => Refreshed::Revoked,
                Err(e) => {
                    tracing::error!(error = %e, "refreshed tokens could not be stored");
                    Refreshed::Failed
                }
            },
            None => {
                tracing::warn!("Auth answered a refresh with an unreadable body");
                Refreshed::Failed
            }
        },
        status => {
            let error_code = parts
                .headers
                .get("x-sb-error-code")
                .and_then(|v| v.to_str().ok());
            match session_gone(status, error_code, &bytes) {
                Some(code) => {
                    tracing::info!(status, code, "Auth ended the session; ending it here");
                    if let Err(e) = app.end_session(key).await {
                        tracing::warn!(error = %e, "cannot delete a revoked session");
                    }
                    Refreshed::Revoked
                }
                None => {
                    tracing::warn!(status, "Auth did not refresh; the session is kept");
                    Refreshed::Failed
                }
            }
        }
    }
}
