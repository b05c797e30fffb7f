//! Sealing, once `PROXY_STORE_KEY` is set, the tokens of sessions written
//! in clear before it was: at their next touch or refresh.

use super::RedisStore;
use super::codec::encode_tokens;
use crate::store::sealing::sealed;
use sbp_core::session::{Session, SessionKey, StoreError, UpstreamTokens, is_sealed};

impl RedisStore {
    /// Seals the tokens of a session written before the key was set (best
    /// effort: the session reads either way).
    pub(super) async fn reseal(
        &self,
        key: &SessionKey,
        fields: &[Option<String>],
        session: &Session,
    ) {
        let read = fields.get(1).cloned().flatten().unwrap_or_default();
        let stored = sealed(&self.seal, key, session);
        let tokens = encode_tokens(&stored.tokens);
        let json = String::from_utf8_lossy(&stored.to_bytes()).into_owned();
        let args = [read.as_str(), tokens.as_str(), json.as_str()];
        let hash = self.session_hash(key);
        let resealed = self
            .run_keyed::<i64>(&self.scripts.reseal, &[hash.as_str()], &args)
            .await;
        if let Err(e) = resealed {
            tracing::warn!(error = %e, "cannot seal a session's tokens written in clear");
        }
    }

    /// When tokens are sealed and the session's `session` field (written
    /// at sign-in) still holds tokens in clear (it was written before the
    /// key was set), that field rewritten with `tokens`; else empty.
    pub(super) async fn sealed_session_field(
        &self,
        key: &SessionKey,
        tokens: &UpstreamTokens,
    ) -> Result<String, StoreError> {
        if !self.seal.is_sealing() {
            return Ok(String::new());
        }
        let fields = self.fields(key).await?;
        let Some(Some(json)) = fields.first() else {
            return Ok(String::new());
        };
        let Ok(mut session) = Session::from_bytes(json.as_bytes()) else {
            return Ok(String::new());
        };
        if is_sealed(&session.tokens.access_token) && is_sealed(&session.tokens.refresh_token) {
            return Ok(String::new());
        }
        session.tokens = tokens.clone();
        Ok(String::from_utf8_lossy(&session.to_bytes()).into_owned())
    }
}
