//! The session side of a relayed socket: keeps the injected token fresh and
//! says when the socket must close because its session ended.
//!
//! The keeper wakes when the token enters its refresh margin (the same
//! policy as a forwarded request: [`needs_refresh`], refreshed through the
//! session service's single-flight [`SessionService::refresh`]) and at
//! least every [`CHECK_INTERVAL`] to look the session up (expiry, deletion
//! by another instance or by the sweep). A session ended on this instance
//! wakes it at once through its
//! [`SessionWatch`](super::sockets::SessionWatch).
//!
//! A socket whose frames flow is use of its session: at each look after a
//! frame went either way, the session's last-seen is recorded as a request
//! would record it (no more often), so idle expiry spares a busy socket.

use crate::realtime::SessionLink;
use crate::realtime::sockets::SessionSockets;
use crate::realtime::state::SocketState;
use crate::session::{AuthApi, Refreshed, SessionService};
use crate::store::CachedStore;
use sbp_core::env::UnixSeconds;
use sbp_core::realtime::SessionEnd;
use sbp_core::session::{Session, SessionKey};
use sbp_core::token::{effective_margin, needs_refresh};
use std::sync::Arc;
use std::time::Duration;

/// How often a socket looks its session up.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// Keeps the socket's token fresh until its session ends; never returns for
/// an anonymous socket.
/// `sockets` wakes it when the session is ended on this instance.
pub async fn keep<S: CachedStore, A: AuthApi>(
    sessions: &Arc<SessionService<S, A>>,
    sockets: &SessionSockets,
    link: Option<SessionLink>,
    state: &SocketState,
) -> SessionEnd {
    let Some(SessionLink { key, mut session }) = link else {
        return std::future::pending().await;
    };
    let mut watch = sockets.watch(&key);
    let mut looked_at = tokio::time::Instant::now();
    loop {
        let pause = until_next_look(sessions, &session);
        tokio::select! {
            () = watch.ended() => return SessionEnd::Deleted,
            () = tokio::time::sleep(pause) => {}
        }
        session = match look_up(sessions, &key, session).await {
            Ok(session) => session,
            Err(end) => return end,
        };
        if state.last_frame_at() > looked_at {
            session = record_use(sessions, &key, session).await;
        }
        looked_at = tokio::time::Instant::now();
        state.set_token(&session.tokens.access_token);
    }
}

/// Records use of the session when a request would (see
/// `Session::needs_touch`); a store failure keeps the session as it was.
async fn record_use<S: CachedStore, A: AuthApi>(
    sessions: &SessionService<S, A>,
    key: &SessionKey,
    session: Arc<Session>,
) -> Arc<Session> {
    let now = sessions.now();
    if !session.needs_touch(now, sessions.settings().idle_ttl) {
        return session;
    }
    match sessions.touch(key, &session, now).await {
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
fn until_next_look<S: CachedStore, A: AuthApi>(
    sessions: &SessionService<S, A>,
    session: &Session,
) -> Duration {
    let (now, margin) = (sessions.now(), sessions.settings().refresh_margin);
    if needs_refresh(&session.tokens, now, margin) {
        return CHECK_INTERVAL;
    }
    let refresh_at = session.tokens.expires_at - effective_margin(&session.tokens, margin);
    until(now, refresh_at).min(CHECK_INTERVAL)
}

/// Time from the Unix second `now` until the Unix second `at`.
fn until(now: UnixSeconds, at: UnixSeconds) -> Duration {
    Duration::from_secs(u64::try_from(at.saturating_sub(now)).unwrap_or(0))
}

/// The session as it is now, refreshed when due; `Err` when it ended.
async fn look_up<S: CachedStore, A: AuthApi>(
    sessions: &Arc<SessionService<S, A>>,
    key: &SessionKey,
    current: Arc<Session>,
) -> Result<Arc<Session>, SessionEnd> {
    let session = match sessions.get(key).await {
        Ok(Some(session)) => session,
        Ok(None) => return Err(SessionEnd::Deleted),
        Err(e) => {
            tracing::warn!(error = %e, "realtime: cannot look the session up; keeping the socket");
            current
        }
    };
    let now = sessions.now();
    if session.is_expired(now) {
        return Err(SessionEnd::Expired);
    }
    if !needs_refresh(&session.tokens, now, sessions.settings().refresh_margin) {
        return Ok(session);
    }
    match sessions.refresh(key).await {
        Refreshed::Fresh(fresh) => Ok(fresh),
        Refreshed::Revoked => Err(SessionEnd::Deleted),
        // Auth or the store failed: try again at the next look.
        Refreshed::Failed => Ok(session),
    }
}
