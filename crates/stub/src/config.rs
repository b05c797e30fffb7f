//! The stub's settings: signing secret, extra trusted public keys, token
//! lifetime, sign-up confirmation, the refresh-token reuse interval, SAML
//! SSO and its providers, and the real service's unkind habits (a
//! compressing CDN, legacy Auth cookies).

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
    /// Answer like the CDN in front of hosted Supabase: every JSON answer
    /// is brotli- (preferred) or gzip-encoded when the request's
    /// `Accept-Encoding` allows it. Off by default.
    pub compress: bool,
    /// Set `sb-access-token` and `sb-refresh-token` cookies on token
    /// responses, as GoTrue did before v2.159. On by default.
    pub legacy_cookies: bool,
    /// A new-style `sb_publishable_...` API key the project accepts as
    /// `apikey`, standing for the anon role (not a JWT).
    pub publishable_key: Option<String>,
    /// Auth's Site URL (`GOTRUE_SITE_URL`), where a refused `redirect_to`
    /// falls back to; `None`: the stub's own URL.
    pub site_url: Option<String>,
    /// Auth's redirect allow list (`GOTRUE_URI_ALLOW_LIST`), globs as
    /// `auth/redirects.rs` applies them. Default `["**"]`: a development
    /// project that allows every URL; tests of the list set their own.
    pub uri_allow_list: Vec<String>,
    /// SAML 2.0 SSO (`GOTRUE_SAML_ENABLED`). Off by default: every
    /// `/sso` route answers 404 `saml_provider_disabled`, as a project
    /// without it.
    pub saml_enabled: bool,
    /// The SSO providers an admin registered (`POST /admin/sso/providers`),
    /// each played by the stand-in identity provider under `/__stub/idp/`.
    pub sso_providers: Vec<SsoProvider>,
}

/// A SAML identity provider registered with Auth, as `POST /sso` finds it:
/// by its id or by one of its email domains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoProvider {
    /// The provider's id (a UUID), `provider_id` in `POST /sso`.
    pub id: String,
    /// The email domains it signs in (`domain` in `POST /sso`, matched
    /// exactly); its stand-in identity provider signs in
    /// `sso-user@<first domain>`.
    pub domains: Vec<String>,
}

impl SsoProvider {
    /// The account its stand-in identity provider signs in:
    /// `sso-user@<first domain>` (`sso-user@example.com` without one).
    pub fn account(&self) -> String {
        let domain = self.domains.first().map_or("example.com", String::as_str);
        format!("sso-user@{domain}")
    }
}

impl Default for StubConfig {
    fn default() -> Self {
        StubConfig {
            jwt_secret: "super-secret-jwt-token-with-at-least-32-characters-long".to_owned(),
            access_token_ttl: 3600,
            autoconfirm: true,
            refresh_reuse_interval: 0,
            trusted_jwks: Vec::new(),
            compress: false,
            legacy_cookies: true,
            publishable_key: None,
            site_url: None,
            uri_allow_list: vec!["**".to_owned()],
            saml_enabled: false,
            sso_providers: Vec::new(),
        }
    }
}
