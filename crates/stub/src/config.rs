//! The stub's settings: signing secret, extra trusted public keys, token
//! lifetime, sign-up confirmation and the refresh-token reuse interval.

/// How the stub behaves; [`StubConfig::default`] matches a local Supabase.
#[derive(Debug, Clone)]
pub struct StubConfig {
    /// HS256 secret for every JWT the stub signs and verifies.
    pub jwt_secret: String,
    /// Lifetime of issued access tokens, in seconds.
    pub access_token_ttl: u64,
    /// Whether sign-ups are confirmed at once (token response) or need a confirmation (bare user).
    pub autoconfirm: bool,
    /// Seconds during which a rotated refresh token may be replayed and get the same child back.
    pub refresh_reuse_interval: u64,
    /// Public keys (with `kid`) whose ES256/RS256 tokens are accepted
    /// besides the HS256 secret, as a project with asymmetric signing keys;
    /// served at `/auth/v1/.well-known/jwks.json`.
    pub trusted_jwks: Vec<jsonwebtoken::jwk::Jwk>,
    /// A new-style `sb_publishable_...` key the gateway accepts as `apikey`
    /// besides the anon JWT (see `gateway`).
    pub publishable_key: Option<String>,
}

impl Default for StubConfig {
    fn default() -> Self {
        StubConfig {
            jwt_secret: "super-secret-jwt-token-with-at-least-32-characters-long".to_owned(),
            access_token_ttl: 3600,
            autoconfirm: true,
            refresh_reuse_interval: 0,
            trusted_jwks: Vec::new(),
            publishable_key: None,
        }
    }
}
