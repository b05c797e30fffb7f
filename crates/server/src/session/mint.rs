//! Mint mode at run time: the session's upstream token is signed here from
//! the claims Auth gave it, once per token lifetime, never per request and
//! never with a call to Auth for tokens; and sessions in use are checked
//! with Auth now and then ([`MintChecks`]), so that revocations are noticed.

use crate::app::App;
use crate::refresh::Refreshed;
use http::header::AUTHORIZATION;
use http::{Method, Request};
use sbp_core::ProxyError;
use sbp_core::auth::session_gone;
use sbp_core::config::TokenMode;
use sbp_core::session::{Session, SessionKey, StoreError, UpstreamTokens, UserObject};
use sbp_core::token::{MintKey, claims_for_user, needs_refresh, read_claims};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn mint_tokens(
    app: &App,
    mint: &MintKey,
    claims: &Map<String, Value>,
    refresh_token: &str,
) -> Result<UpstreamTokens, ProxyError> {
    let (access_token, issued_at, expires_at) = mint
        .mint(claims, app.now(), app.config.mint_ttl)
        .map_err(|e| {
        tracing::error!(error = %e, "cannot mint a token");
        ProxyError::Internal
    })?;
    Ok(UpstreamTokens {
        access_token,
        // Auth's own refresh token is kept, unused, so the session survives
        // a switch back to refresh mode.
        refresh_token: refresh_token.to_string(),
        issued_at,
        expires_at,
    })
}

/// Tokens for a new session signed in with Auth's `tokens` and `claims`.
pub fn first_tokens(
    app: &App,
    mint: &MintKey,
    claims: &Map<String, Value>,
    tokens: &UpstreamTokens,
) -> Result<UpstreamTokens, ProxyError> {
    mint_tokens(app, mint, claims, &tokens.refresh_token)
}

/// The claims to mint from: those of the session's current token (Auth's
/// own for a session made in refresh mode, or a minted one).
fn session_claims(session: &Session) -> Map<String, Value> {
    read_claims(&session.tokens.access_token).map_or_else(
        || Map::from_iter([("sub".to_string(), Value::from(session.user_id.clone()))]),
        |c| c.all,
    )
}

/// Signs a new token for the session when its current one is near expiry,
/// then checks the session with Auth when a check is due (a session used
/// only by a Realtime socket is re-minted without HTTP requests).
pub async fn remint(app: &Arc<App>, key: &SessionKey, mint: &MintKey) -> Refreshed {
    let session = match app.sessions.reload(key).await {
        Ok(Some(session)) => session,
        Ok(None) => return Refreshed::Revoked,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read session before minting");
            return Refreshed::Failed;
        }
    };
    if !needs_refresh(&session.tokens, app.now(), app.config.refresh_margin) {
        check_if_due(app, key, &session);
        return Refreshed::Fresh(session);
    }
    let claims = session_claims(&session);
    let Ok(tokens) = mint_tokens(app, mint, &claims, &session.tokens.refresh_token) else {
        return Refreshed::Failed;
    };
    match app
        .sessions
        .update_tokens(key, &tokens, &session.user)
        .await
    {
        Ok(Some(session)) => {
            check_if_due(app, key, &session);
            Refreshed::Fresh(session)
        }
        Ok(None) => Refreshed::Revoked,
        Err(e) => {
            tracing::warn!(error = %e, "cannot store a minted token");
            Refreshed::Failed
        }
    }
}

/// Records Auth's updated user object and mints from its claims from now on.
pub async fn update_user(
    app: &App,
    mint: &MintKey,
    key: &SessionKey,
    session: &Session,
    user: Value,
) -> Result<Option<Arc<Session>>, StoreError> {
    let claims = claims_for_user(&session_claims(session), &user);
    let Ok(tokens) = mint_tokens(app, mint, &claims, &session.tokens.refresh_token) else {
        return Ok(None);
    };
    let user = UserObject::from_value(&user);
    app.sessions.update_tokens(key, &tokens, &user).await
}

/// Checks of minted-for sessions with Auth. In mint mode Auth is never
/// asked for tokens, so a session whose Auth session was revoked, or whose
/// user was banned or deleted, would keep working: a session in use is
/// checked with `GET /auth/v1/user` (with its minted token, which Auth
/// refuses once the `session_id` is gone or the user is banned or deleted)
/// at most once per `PROXY_MINT_CHECK` in this process, off the request
/// path. An answer with a session-ending code ends the session everywhere;
/// any other failure keeps it until the next check.
#[derive(Default)]
pub struct MintChecks {
    started: Mutex<Started>,
}

#[derive(Default)]
struct Started {
    /// When the last check of each session began.
    at: HashMap<SessionKey, Instant>,
    /// Old entries are dropped when the map reaches this size.
    prune_at: usize,
}

/// Smallest map size at which old entries are dropped.
const MIN_PRUNE: usize = 1024;
/// A check that takes longer is abandoned (and the session kept).
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest `GET /user` answer read.
const USER_RESPONSE_LIMIT: usize = 1 << 20;

impl MintChecks {
    /// Whether a check of `key` is due; if so it counts as started now.
    fn start(&self, key: &SessionKey, interval: Duration) -> bool {
        let mut started = crate::sync::lock(&self.started);
        let now = Instant::now();
        if let Some(at) = started.at.get(key)
            && now.duration_since(*at) < interval
        {
            return false;
        }
        if started.at.len() >= started.prune_at {
            started
                .at
                .retain(|_, at| now.duration_since(*at) < interval);
            started.prune_at = (started.at.len() * 2).max(MIN_PRUNE);
        }
        started.at.insert(key.clone(), now);
        true
    }
}

/// In mint mode, starts a check of the session with Auth when one is due;
/// `session` holds a token that is not near expiry.
pub fn check_if_due(app: &Arc<App>, key: &SessionKey, session: &Arc<Session>) {
    if !matches!(app.config.token_mode, TokenMode::Mint(_)) {
        return;
    }
    let interval = Duration::from_secs(app.config.mint_check);
    if !app.refresher.mint_checks.start(key, interval) {
        return;
    }
    let (app, key, session) = (app.clone(), key.clone(), session.clone());
    tokio::spawn(async move { check(&app, &key, &session).await });
}

/// Asks Auth for the session's user with its minted token; ends the
/// session when Auth answers that it is gone.
async fn check(app: &App, key: &SessionKey, session: &Session) {
    let Some(bearer) = crate::upstream::bearer(&session.tokens.access_token) else {
        return;
    };
    let request = Request::builder()
        .method(Method::GET)
        .uri("/auth/v1/user")
        .header(AUTHORIZATION, bearer)
        .header("x-supabase-api-version", "2024-01-01")
        .body(crate::body::empty());
    let Ok(request) = request else {
        return;
    };
    let call = app.upstream.call(request, USER_RESPONSE_LIMIT);
    let (parts, bytes) = match tokio::time::timeout(CHECK_TIMEOUT, call).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "a minted session's check did not reach Auth");
            return;
        }
        Err(_) => {
            tracing::warn!("Auth did not answer a minted session's check in time");
            return;
        }
    };
    let status = parts.status.as_u16();
    if status == 200 {
        return;
    }
    let error_code = parts
        .headers
        .get("x-sb-error-code")
        .and_then(|v| v.to_str().ok());
    match session_gone(status, error_code, &bytes) {
        Some(code) => {
            tracing::info!(
                status,
                code,
                "Auth ended a minted-for session; ending it here"
            );
            if let Err(e) = app.end_session(key).await {
                tracing::warn!(error = %e, "cannot delete a revoked session");
            }
        }
        None => tracing::warn!(
            status,
            "a minted session's check failed; the session is kept"
        ),
    }
}
