//! The per-request context: the request's head, where it came from, the
//! session it presented, and what to do with the cookie on the way out.

use crate::app::App;
use crate::pipeline::connection::Connection;
use crate::upstream::{OnLane, X_FORWARDED_FOR};
use http::header::{COOKIE, USER_AGENT};
use http::request;
use sbp_core::ProxyError;
use sbp_core::env::UnixSeconds;
use sbp_core::guard::client_ip;
use sbp_core::route::strip_base;
use sbp_core::session::{EndReason, Session, SessionKey, SessionSecret};
use sbp_core::token::{AfterRefresh, after_refresh, needs_new_tokens};
use std::sync::Arc;

/// A live session the request presented.
pub struct Live {
    pub key: SessionKey,
    pub session: Arc<Session>,
}

/// The session a request presented through its cookie.
pub enum Presented {
    /// No cookie, or one that is not a session secret.
    Anonymous,
    /// A secret whose session is gone or expired: the cookie is cleared.
    Stale(SessionKey),
    Live(Live),
}

/// What a handler decided about the browser's cookie; the response stage
/// applies it.
pub enum CookieChange {
    /// Nothing asked: the cookie is still cleared when the session it
    /// named turned out to be gone.
    None,
    /// A new session: the cookie carries its secret.
    Set(SessionSecret),
    /// Signed out: the cookie is cleared.
    Clear,
}

pub struct Ctx<'a> {
    pub app: Arc<App>,
    pub parts: request::Parts,
    /// The browser connection the request came on.
    pub connection: Arc<Connection>,
    /// That connection's lane to Supabase (the request is handled inside
    /// its `Lane::drive`).
    pub lane: OnLane<'a>,
    pub presented: Presented,
    /// What becomes of the cookie on the way out.
    pub cookie: CookieChange,
    /// The request went to the app behind the proxy: its answer gets no
    /// CORS headers from the proxy.
    pub for_app: bool,
    /// Supabase's time for a forwarded request, for the access log.
    pub upstream_time: crate::access_log::UpstreamTime,
    /// The clock, once read ([`read_once`]).
    now: Option<UnixSeconds>,
}

/// The clock in whole seconds, read at most once per request (`memo`): the
/// session's checks in each stage see the same second.
fn read_once(memo: &mut Option<UnixSeconds>, app: &App) -> UnixSeconds {
    *memo.get_or_insert_with(|| app.now())
}

impl<'a> Ctx<'a> {
    pub fn new(
        app: Arc<App>,
        parts: request::Parts,
        connection: Arc<Connection>,
        lane: OnLane<'a>,
    ) -> Ctx<'a> {
        Ctx {
            app,
            parts,
            connection,
            lane,
            presented: Presented::Anonymous,
            cookie: CookieChange::None,
            for_app: false,
            upstream_time: Default::default(),
            now: None,
        }
    }

    /// The path relative to the project root (the base path stripped).
    pub fn path(&self) -> &str {
        strip_base(
            self.parts.uri.path(),
            self.app.config.public_url.base_path(),
        )
    }

    pub fn header(&self, name: impl http::header::AsHeaderName) -> Option<&str> {
        self.parts.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The client's address: the peer, or what a trusted proxy forwarded.
    pub fn client_ip(&self) -> std::net::IpAddr {
        // Looked up only when core's rule reads it (the peer is a trusted
        // proxy): a header lookup per request otherwise.
        let forwarded = std::iter::once(&self.parts.headers)
            .flat_map(|headers| headers.get_all(&X_FORWARDED_FOR))
            .filter_map(|v| v.to_str().ok());
        client_ip(
            self.connection.peer.ip(),
            forwarded,
            &self.app.config.trusted_proxies,
        )
    }

    pub fn user_agent(&self) -> Option<String> {
        self.header(USER_AGENT).map(str::to_string)
    }

    pub fn live(&self) -> Option<&Live> {
        match &self.presented {
            Presented::Live(live) => Some(live),
            _ => None,
        }
    }

    /// The key of the presented session, live or stale.
    pub fn presented_key(&self) -> Option<&SessionKey> {
        match &self.presented {
            Presented::Live(live) => Some(&live.key),
            Presented::Stale(key) => Some(key),
            Presented::Anonymous => None,
        }
    }

    /// Finds the session the cookie names; an expired one is deleted.
    pub async fn load_session(&mut self) -> Result<(), ProxyError> {
        let cookies = self.parts.headers.get_all(COOKIE);
        let cookie_name = &self.app.config.cookie_name;
        let Some(key) = self.connection.session_key(cookies, cookie_name) else {
            return Ok(());
        };
        let found = self.app.sessions.get(&key).await.map_err(store_down)?;
        let now = read_once(&mut self.now, &self.app);
        self.presented = match found {
            Some(session) if !session.is_expired(now) => {
                let session = self.app.sessions.touch_in_background(&key, session, now);
                Presented::Live(Live { key, session })
            }
            Some(_) => {
                // Boxed: rare, and every request's future would carry it.
                Box::pin(self.app.sessions.end(&key, EndReason::Expired))
                    .await
                    .map_err(store_down)?;
                Presented::Stale(key)
            }
            None => Presented::Stale(key),
        };
        Ok(())
    }

    /// The live session with an upstream token that is not near expiry,
    /// refreshing it if needed. `None` when there is no session or Auth
    /// revoked it (the request then goes on anonymous and the cookie is cleared).
    pub async fn fresh_session(&mut self) -> Result<Option<Arc<Session>>, ProxyError> {
        let Presented::Live(live) = &self.presented else {
            return Ok(None);
        };
        let now = read_once(&mut self.now, &self.app);
        let sessions = &self.app.sessions;
        if !needs_new_tokens(&live.session, now, sessions.settings().refresh_margin) {
            sessions.check_if_due(&live.key, &live.session);
            return Ok(Some(live.session.clone()));
        }
        let key = live.key.clone();
        let outcome = sessions.refresh(&key).await;
        match after_refresh(outcome, &live.session, now) {
            AfterRefresh::Refreshed(session) => {
                self.presented = Presented::Live(Live {
                    key,
                    session: session.clone(),
                });
                Ok(Some(session))
            }
            AfterRefresh::Revoked => {
                self.presented = Presented::Stale(key);
                Ok(None)
            }
            AfterRefresh::Current => Ok(Some(live.session.clone())),
            AfterRefresh::Unavailable => Err(ProxyError::RefreshUnavailable),
        }
    }
}

pub fn store_down(e: sbp_core::session::StoreError) -> ProxyError {
    tracing::error!(error = %e, "session store failed");
    ProxyError::StoreUnavailable
}
