//! Refreshing a session's upstream tokens with Auth.
//!
//! At most one refresh per session is in flight in this process: the first
//! request that finds the token near expiry starts it, every concurrent one
//! waits for the same result. The refresh re-reads the session from the
//! store first, so a refresh that another request already did is reused.

use crate::app::App;
use crate::body::full;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use http::{Method, Request};
use sbp_core::auth::read_token_response;
use sbp_core::session::{Session, SessionKey};
use sbp_core::token::needs_refresh;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Largest Auth response the proxy reads to refresh a session.
const REFRESH_RESPONSE_LIMIT: usize = 1 << 20;

/// How a refresh ended.
#[derive(Clone, Debug)]
pub enum Refreshed {
    /// The session with tokens that are not near expiry.
    Fresh(Arc<Session>),
    /// Auth refused the refresh token: the session was deleted.
    Revoked,
    /// Auth or the store failed; the current token may still be usable.
    Failed,
}

type Flight = Shared<BoxFuture<'static, Refreshed>>;

#[derive(Default)]
pub struct Refresher {
    in_flight: Mutex<HashMap<SessionKey, Flight>>,
}

impl Refresher {
    fn flights(&self) -> std::sync::MutexGuard<'_, HashMap<SessionKey, Flight>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
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

async fn run(app: &App, key: &SessionKey) -> Refreshed {
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
        .uri(app.upstream.url("/auth/v1/token?grant_type=refresh_token"))
        .header("apikey", &app.config.anon_key)
        .header("authorization", format!("Bearer {}", app.config.anon_key))
        .header("content-type", "application/json")
        .header("x-supabase-api-version", "2024-01-01")
        .body(full(body));
    let Ok(request) = request else {
        return Refreshed::Failed;
    };
    let (parts, bytes) = match app.upstream.call(request, REFRESH_RESPONSE_LIMIT).await {
        Ok(answer) => answer,
        Err(e) => {
            tracing::warn!(error = %e, "refresh did not reach Auth");
            return Refreshed::Failed;
        }
    };
    match parts.status.as_u16() {
        200 => match read_token_response(&bytes) {
            Some(grant) => match app
                .sessions
                .update_tokens(key, &grant.tokens, &grant.user)
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
        // Timeouts and rate limits say nothing about the refresh token.
        408 | 429 => Refreshed::Failed,
        400..=499 => {
            tracing::info!(
                status = parts.status.as_u16(),
                "Auth refused the refresh; ending the session"
            );
            if let Err(e) = app.sessions.remove(key).await {
                tracing::warn!(error = %e, "cannot delete a revoked session");
            }
            Refreshed::Revoked
        }
        status => {
            tracing::warn!(status, "Auth failed a refresh");
            Refreshed::Failed
        }
    }
}
