//! A stand-in Supabase for the proxy's tests and demo (dev-only).
//!
//! It serves, on `127.0.0.1`, the subsets of Auth (`/auth/v1`), PostgREST
//! (`/rest/v1`), Storage (`/storage/v1`), Edge Functions (`/functions/v1`),
//! GraphQL, the Realtime broadcast REST endpoint and the Realtime WebSocket
//! (`/realtime/v1/websocket`, see [`realtime`]) that the proxy touches,
//! shaped after `reference/SUPABASE.md` and Auth's OpenAPI description. It
//! verifies the JWTs it receives, records every request, and lets tests
//! inject faults. Start one with [`Stub::start`], or behind TLS with a test
//! CA with [`Stub::start_tls`].
//!
//! Conventions where real Supabase would involve a third party:
//! - every OTP is `123456`; the email-link token of `GET /auth/v1/verify` is
//!   Auth's token hash, lower-case hex SHA-224 of `<email or phone>123456`
//!   (prefixed `pkce_` for a PKCE link);
//! - `grant_type=id_token` accepts `id_token: "stub:<email>"`;
//! - `GET /auth/v1/authorize?provider=P` signs in `P-user@example.com` at
//!   once; `GET`/`POST /auth/v1/callback` takes the same parameters;
//!   `GET /auth/v1/user/identities/authorize?provider=P` links the account
//!   `login_hint` (or `P-user@example.com`) through `/callback?state=`;
//! - with [`StubConfig::saml_enabled`], `POST /auth/v1/sso` sends the
//!   browser to a stand-in SAML identity provider (`/__stub/idp/<provider
//!   id>/sso`) that signs in `sso-user@<the provider's first domain>` at
//!   once and posts a stand-in assertion to `/auth/v1/sso/saml/acs`;
//! - the codes and links Auth would mail or text are in the outbox:
//!   [`Stub::messages`] or `GET /__stub/messages?to=`;
//! - a passkey credential whose `id` is `stub:<email>` signs that user in
//!   (`POST /auth/v1/passkeys/authentication/verify`);
//! - MFA TOTP codes are real RFC 6238 codes of the factor's secret: get the
//!   current one from [`Stub::totp_code`] or `GET /__stub/totp?secret=`.
//!
//! The real service's unkind habits are on or can be switched on: a
//! compressing CDN ([`StubConfig::compress`]), GoTrue's legacy token
//! cookies ([`StubConfig::legacy_cookies`], on by default), Go's HTML
//! redirect bodies, trailing-slash spellings of GoTrue's routes, and the
//! [`Faults`]. The Auth routes that issue tokens are listed in
//! `crates/stub/AUTH-ROUTES.md`.
//!
//! Tests that cannot call Rust use `GET /__stub/recorded`,
//! `GET /__stub/issued_tokens`, `POST /__stub/clear`,
//! `GET /__stub/totp?secret=` (`{"code"}`), `POST /__stub/set_cookies`
//! (a JSON array of `Set-Cookie` values every answer then carries; `[]`
//! stops it) and the Realtime endpoints under `/__stub/realtime/`.

mod auth;
mod clock;
mod config;
mod control;
mod edge;
mod encoding;
mod faults;
mod gateway;
mod jwt;
pub mod realtime;
mod record;
mod request;
mod response;
mod server;
mod services;
mod state;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use auth::outbox::Message;
pub use config::{SsoProvider, StubConfig};
pub use faults::{CannedAnswer, ErrorShape, Faults};
pub use realtime::{FrameData, ReceivedFrame};
pub use record::Recorded;
pub use tls::TestCa;

use state::Shared;

/// A running stub. Dropping it (or calling [`Stub::shutdown`]) stops the server.
pub struct Stub {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: ServerTask,
}

/// Aborts the server task (and with it every connection) when dropped.
struct ServerTask(Option<JoinHandle<()>>);

impl Drop for ServerTask {
    fn drop(&mut self) {
        if let Some(handle) = &self.0 {
            handle.abort();
        }
    }
}

impl Stub {
    /// Binds `127.0.0.1:0` and serves on a tokio task (many connections, HTTP/1.1 keep-alive).
    pub async fn start(config: StubConfig) -> std::io::Result<Stub> {
        Self::start_on(config, 0).await
    }

    /// Like [`Stub::start`] on a chosen port (0 picks a free one); used by the `supabase-stub` binary.
    pub async fn start_on(config: StubConfig, port: u16) -> std::io::Result<Stub> {
        Self::serve_on(config, port, None).await
    }

    /// Like [`Stub::start`], serving https and wss with a certificate for
    /// `localhost` and `127.0.0.1` issued by `ca`; [`Stub::url`] is then
    /// `https://127.0.0.1:PORT`.
    pub async fn start_tls(config: StubConfig, ca: &TestCa) -> std::io::Result<Stub> {
        Self::serve_on(config, 0, Some(ca)).await
    }

    async fn serve_on(config: StubConfig, port: u16, ca: Option<&TestCa>) -> std::io::Result<Stub> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let scheme = if ca.is_some() { "https" } else { "http" };
        let base_url = format!("{scheme}://{addr}");
        let shared = Arc::new(Shared::new(config, addr, base_url).map_err(std::io::Error::other)?);
        let tls = ca.map(TestCa::acceptor);
        let task = ServerTask(Some(tokio::spawn(server::serve(
            listener,
            shared.clone(),
            tls,
        ))));
        Ok(Stub { shared, addr, task })
    }

    /// `http://127.0.0.1:PORT` (`https://` when started with TLS).
    pub fn url(&self) -> String {
        self.shared.base_url.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// HS256 JWT `{iss:"supabase-demo", role:"anon", exp: far future}`.
    pub fn anon_key(&self) -> String {
        self.shared.anon_key.clone()
    }

    /// Same as [`Stub::anon_key`] with role `service_role`.
    pub fn service_role_key(&self) -> String {
        self.shared.service_role_key.clone()
    }

    pub fn jwt_secret(&self) -> String {
        self.shared.config.jwt_secret.clone()
    }

    /// Every request received (except the `/__stub/` control endpoints), in arrival order.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.shared.recorder.snapshot()
    }

    /// Recorded requests with this method and exact path (no query), e.g. `("GET", "/rest/v1/todos")`.
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.shared
            .recorder
            .count(|r| r.method == method && r.path == path)
    }

    /// Recorded `POST /auth/v1/token?grant_type=refresh_token` requests.
    pub fn refresh_count(&self) -> usize {
        self.shared.recorder.count(Recorded::is_refresh_grant)
    }

    /// Forgets the recorded requests (so `count` and `refresh_count` start from zero).
    pub fn clear_recorded(&self) {
        self.shared.recorder.clear();
    }

    /// Every access token and refresh token the stub ever issued.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.shared.auth().issued_tokens().to_vec()
    }

    /// The mails and text messages Auth sent to `to` (an address or a phone number), oldest first.
    pub fn messages(&self, to: &str) -> Vec<Message> {
        let to = to.to_ascii_lowercase();
        let auth = self.shared.auth();
        auth.outbox()
            .iter()
            .filter(|m| m.to == to)
            .cloned()
            .collect()
    }

    /// Switches that make the stub misbehave; tests flip them at any time.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Creates a confirmed email user (or resets the password of an existing one); returns its id.
    pub fn create_user(&self, email: &str, password: &str) -> String {
        self.shared
            .auth()
            .create_confirmed_user(email, password)
            .to_string()
    }

    /// Like an admin sign-out: all the user's Auth sessions and refresh tokens are gone.
    pub fn revoke_user_sessions(&self, user_id: &str) {
        if let Ok(id) = user_id.parse() {
            self.shared.auth().end_user_sessions(id, None);
        }
    }

    /// Bans the user, as an admin does: Auth refuses their tokens, refresh
    /// grants and sign-ins from now on (their sessions stay in the table).
    pub fn ban_user(&self, user_id: &str) {
        if let Ok(id) = user_id.parse()
            && let Some(user) = self.shared.auth().user_mut(id)
        {
            user.banned = true;
        }
    }

    /// Deletes the user with their sessions and refresh tokens.
    pub fn delete_user(&self, user_id: &str) {
        if let Ok(id) = user_id.parse() {
            self.shared.auth().delete_user(id);
        }
    }

    /// Ids of the user's live Auth sessions, oldest first.
    pub fn auth_session_ids(&self, user_id: &str) -> Vec<String> {
        match user_id.parse() {
            Ok(id) => self
                .shared
                .auth()
                .session_ids_of(id)
                .into_iter()
                .map(|s| s.to_string())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Every frame the Realtime sockets received, in arrival order.
    pub fn realtime_frames(&self) -> Vec<ReceivedFrame> {
        self.shared.realtime.received()
    }

    /// Broadcasts `{type: "broadcast", event, payload}` to the channels joined
    /// on `topic` (e.g. `realtime:room1`); returns how many got it.
    pub fn realtime_broadcast(
        &self,
        topic: &str,
        event: &str,
        payload: &serde_json::Value,
    ) -> usize {
        self.shared.realtime.broadcast(topic, event, payload)
    }

    /// Broadcasts a binary frame (kind 4, JSON encoding) carrying `payload`
    /// to the channels joined on `topic`; returns how many got it, `None`
    /// when topic or event is longer than 255 bytes.
    pub fn realtime_binary_broadcast(
        &self,
        topic: &str,
        event: &str,
        payload: &[u8],
    ) -> Option<usize> {
        self.shared.realtime.binary_broadcast(topic, event, payload)
    }

    /// Sends a database change (`kind` INSERT, UPDATE or DELETE) to the
    /// channels whose `postgres_changes` bindings match; returns how many got it.
    pub fn realtime_postgres_change(
        &self,
        schema: &str,
        table: &str,
        kind: &str,
        record: &serde_json::Value,
    ) -> usize {
        self.shared
            .realtime
            .postgres_change(schema, table, kind, record)
    }

    /// Closes every open Realtime socket with this close code and reason
    /// (as a restarting server would); returns how many.
    pub fn realtime_disconnect(&self, code: u16, reason: &str) -> usize {
        self.shared.realtime.disconnect_all(code, reason)
    }

    /// The TOTP code an authenticator app shows now for a factor's base32
    /// `secret` (from `POST /auth/v1/factors`); `None` for a bad secret.
    pub fn totp_code(secret: &str) -> Option<String> {
        auth::factors::current_code(secret)
    }

    /// Stops the server and waits for its task to end.
    pub async fn shutdown(self) {
        let Stub { mut task, .. } = self;
        if let Some(handle) = task.0.take() {
            handle.abort();
            // The task ends as cancelled; that outcome is the expected one.
            let _ = handle.await;
        }
    }
}
