//! The session side of a relayed socket: keeps the injected token fresh and
//! says when the socket must close because its session ended.
//!
//! The keeper wakes when the token enters its refresh margin (the same
//! policy as a forwarded request: [`needs_refresh`], refreshed through the
//! single-flight [`Refresher`]) and at least every [`CHECK_INTERVAL`] to
//! look the session up (expiry, deletion by another instance or by the
//! sweep). A session ended on this instance wakes it at once through its
//! [`SessionWatch`](super::sockets::SessionWatch).
//!
//! A socket whose frames flow is use of its session: at each look after a
//! frame went either way, the session's last-seen is recorded as a request
//! would record it (no more often), so idle expiry spares a busy socket.

use crate::app::App;
use crate::realtime::SessionLink;
use crate::realtime::state::SocketState;
use crate::refresh::{Refreshed, Refresher};
use sbp_core::env::UnixSeconds;
use sbp_core::realtime::SessionEnd;
use sbp_core::session::{Session, SessionKey};
use sbp_core::token::{effective_margin, needs_refresh};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often a socket looks its session up.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// Keeps the socket's token fresh until its session ends; never returns for
/// an anonymous socket.
pub async fn keep(app: &Arc<App>, link: Option<SessionLink>, state: &SocketState) -> SessionEnd {
    let Some(SessionLink { key, mut session }) = link else {
        return std::future::pending().await;
    };
    let mut watch = app.realtime.sockets.watch(&key);
    let mut looked_at = tokio::time::Instant::now();
    loop {
        let pause = until_next_look(app, &session);
        tokio::select! {
            () = watch.ended() => return SessionEnd::Deleted,
            () = tokio::time::sleep(pause) => {}
        }
        session = match look_up(app, &key, session).await {
            Ok(session) => session,
            Err(end) => return end,
        };
        if state.last_frame_at() > looked_at {
            session = record_use(app, &key, session).await;
        }
        looked_at = tokio::time::Instant::now();
        state.set_token(&session.tokens.access_token);
    }
}

/// Records use of the session when a request would (see
/// `Session::needs_touch`); a store failure keeps the session as it was.
async fn record_use(app: &App, key: &SessionKey, session: Arc<Session>) -> Arc<Session> {
    let (now, idle_ttl) = (app.now(), app.config.session_idle_ttl);
    if !session.needs_touch(now, idle_ttl) {
        return session;
    }
    match app.sessions.touch(key, &session, now, idle_ttl).await {
        Ok(Some(touched)) => touched,
        // Gone: the socket closes when its session's end is announced.
        Ok(None) => session,
        Err(e) => {
            tracing::warn!(error = %e, "realtime: cannot record session use");
            session
        }
    }
}

/// Until the token's refresh moment, but no longer than [`CHECK_INTERVAL`]
/// (and a full interval when a refresh is already due, i.e. just failed).
fn until_next_look(app: &App, session: &Session) -> Duration {
    let margin = app.config.refresh_margin;
    if needs_refresh(&session.tokens, app.now(), margin) {
        return CHECK_INTERVAL;
    }
    let refresh_at = session.tokens.expires_at - effective_margin(&session.tokens, margin);
    until(refresh_at).min(CHECK_INTERVAL)
}

/// Time from now until the Unix second `at` begins.
fn until(at: UnixSeconds) -> Duration {
    let at = UNIX_EPOCH + Duration::from_secs(u64::try_from(at).unwrap_or(0));
    at.duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
}

/// The session as it is now, refreshed when due; `Err` when it ended.
async fn look_up(
    app: &Arc<App>,
    key: &SessionKey,
    current: Arc<Session>,
) -> Result<Arc<Session>, SessionEnd> {
    let session = match app.sessions.get(key).await {
        Ok(Some(session)) => session,
        Ok(None) => return Err(SessionEnd::Deleted),
        Err(e) => {
            tracing::warn!(error = %e, "realtime: cannot look the session up; keeping the socket");
            current
        }
    };
    let now = app.now();
    if session.is_expired(now) {
        return Err(SessionEnd::Expired);
    }
    if !needs_refresh(&session.tokens, now, app.config.refresh_margin) {
        return Ok(session);
    }
    match Refresher::refresh(app, key).await {
        Refreshed::Fresh(fresh) => Ok(fresh),
        Refreshed::Revoked => Err(SessionEnd::Deleted),
        // Auth or the store failed: try again at the next look.
        Refreshed::Failed => Ok(session),
    }
}
