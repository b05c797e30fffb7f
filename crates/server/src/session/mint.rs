//! Mint mode at run time: the session's upstream token is signed here from
//! the claims Auth gave it, once per token lifetime, never per request and
//! never with a call to Auth for tokens; and sessions in use are checked
//! with Auth now and then ([`MintChecks`](super::mint_checks::MintChecks)),
//! so that revocations are noticed.

use super::{AuthApi, Refreshed, SessionService};
use crate::store::CachedStore;
use sbp_core::ProxyError;
use sbp_core::auth::session_gone;
use sbp_core::config::TokenMode;
use sbp_core::session::{EndReason, Session, SessionKey, UpstreamTokens};
use sbp_core::token::{MintKey, claims_for_user, needs_new_tokens, session_claims};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// A check that takes longer is abandoned (and the session kept).
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

impl<S: CachedStore, A: AuthApi> SessionService<S, A> {
    fn mint_tokens(
        &self,
        mint: &MintKey,
        claims: &Map<String, Value>,
        refresh_token: &str,
    ) -> Result<UpstreamTokens, ProxyError> {
        let (access_token, issued_at, expires_at) = mint
            .mint(claims, self.now(), self.settings.mint_ttl)
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
        &self,
        mint: &MintKey,
        claims: &Map<String, Value>,
        tokens: &UpstreamTokens,
    ) -> Result<UpstreamTokens, ProxyError> {
        self.mint_tokens(mint, claims, &tokens.refresh_token)
    }

    /// Signs a new token for the session when its current one is near expiry,
    /// then checks the session with Auth when a check is due (a session used
    /// only by a Realtime socket is re-minted without HTTP requests).
    pub(super) async fn remint(self: &Arc<Self>, key: &SessionKey, mint: &MintKey) -> Refreshed {
        let session = match self.cache.reload(key).await {
            Ok(Some(session)) => session,
            Ok(None) => return Refreshed::Revoked,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read session before minting");
                return Refreshed::Failed;
            }
        };
        if !needs_new_tokens(&session, self.now(), self.settings.refresh_margin) {
            self.check_if_due(key, &session);
            return Refreshed::Fresh(session);
        }
        // The cached user is the latest word on the claims it holds (a hook
        // call or a `/user` answer may have changed it since the last mint).
        let claims = claims_for_user(&session_claims(&session), &session.user.to_value());
        let Ok(tokens) = self.mint_tokens(mint, &claims, &session.tokens.refresh_token) else {
            return Refreshed::Failed;
        };
        let outdated = session.tokens_outdated.as_deref();
        match self.cache.update_tokens(key, &tokens, None, outdated).await {
            Ok(Some(session)) => {
                self.check_if_due(key, &session);
                Refreshed::Fresh(session)
            }
            Ok(None) => Refreshed::Revoked,
            Err(e) => {
                tracing::warn!(error = %e, "cannot store a minted token");
                Refreshed::Failed
            }
        }
    }

    /// In mint mode, starts a check of the session with Auth when one is due;
    /// `session` holds a token that is not near expiry.
    pub fn check_if_due(self: &Arc<Self>, key: &SessionKey, session: &Arc<Session>) {
        if !matches!(self.settings.token_mode, TokenMode::Mint(_)) {
            return;
        }
        if !self.mint_checks.start(key, self.settings.mint_check) {
            return;
        }
        let (service, key, session) = (self.clone(), key.clone(), session.clone());
        tokio::spawn(async move { service.check(&key, &session).await });
    }

    /// Asks Auth for the session's user with its minted token; ends the
    /// session when Auth answers that it is gone.
    async fn check(&self, key: &SessionKey, session: &Session) {
        let call = self.auth.user(&session.tokens.access_token);
        let answer = match tokio::time::timeout(CHECK_TIMEOUT, call).await {
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
        let status = answer.status;
        if status == 200 {
            return;
        }
        match session_gone(status, answer.error_code.as_deref(), &answer.body) {
            Some(code) => {
                tracing::info!(
                    status,
                    code,
                    "Auth ended a minted-for session; ending it here"
                );
                if let Err(e) = self.end(key, EndReason::AuthEnded).await {
                    tracing::warn!(error = %e, "cannot delete a revoked session");
                }
            }
            None => tracing::warn!(
                status,
                "a minted session's check failed; the session is kept"
            ),
        }
    }
}
