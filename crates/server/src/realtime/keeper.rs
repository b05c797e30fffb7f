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

use crate::realtime::sockets::SessionSockets;
use crate::realtime::state::SocketState;
use crate::session::{AuthApi, Refreshed, SessionService};
use crate::store::CachedStore;
use sbp_core::env::UnixSeconds;
use sbp_core::realtime::SessionEnd;
use sbp_core::session::{Session, SessionKey};
use sbp_core::token::{effective_margin, needs_new_tokens, needs_refresh};
use std::sync::Arc;
use std::time::Duration;

/// The signed-in session a socket belongs to.
pub struct SessionLink {
    pub key: SessionKey,
    pub session: Arc<Session>,
}

/// How often a socket looks its session up.
pub const CHECK_INTERVAL: Duration = Duration::from_millis(500);

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
    if !needs_new_tokens(&session, now, sessions.settings().refresh_margin) {
        return Ok(session);
    }
    match sessions.refresh(key).await {
        Refreshed::Fresh(fresh) => Ok(fresh),
        Refreshed::Revoked => Err(SessionEnd::Deleted),
        // Auth or the store failed: try again at the next look.
        Refreshed::Failed => Ok(session),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::testing::{
        FakeAuth, SharedStore, TestService, answer, refresh_settings, service, signed_in,
        token_answer,
    };
    use sbp_core::session::EndReason;
    use std::pin::pin;
    use tokio::time::{Instant, sleep};
    use tokio_tungstenite::tungstenite::Message;

    const JOIN: &str = r#"["1","1","realtime:room","phx_join",{}]"#;

    /// A signed-in socket whose hour-long token expires in 100 s (so it is
    /// refreshed 60 s before, at 40 s), with a channel joined.
    async fn socket(auth: Arc<FakeAuth>) -> (Arc<TestService>, SessionLink, SocketState) {
        let sessions = service(SharedStore::default(), auth, refresh_settings());
        let key = signed_in(&sessions, sessions.now() + 100).await;
        let session = sessions.get(&key).await.unwrap().unwrap();
        let state = SocketState::new(Some(session.tokens.access_token.clone()));
        state.client_text(JOIN.into());
        (sessions, SessionLink { key, session }, state)
    }

    fn injected(state: &SocketState) -> String {
        match state.client_text(JOIN.into()) {
            Message::Text(text) => text.to_string(),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_token_is_refreshed_at_its_margin_and_pushed() {
        let auth = Arc::new(FakeAuth::default());
        let (sessions, link, state) = socket(auth.clone()).await;
        let sockets = SessionSockets::following(sessions.ended());
        let (key, old_token) = (link.key.clone(), link.session.tokens.access_token.clone());
        auth.answer_refresh(Duration::ZERO, token_answer(sessions.now() + 40, "r2"));
        let mut keeper = pin!(keep(&sessions, &sockets, Some(link), &state));
        tokio::select! {
            end = &mut keeper => panic!("ended: {end:?}"),
            () = sleep(Duration::from_secs(39)) => {}
        }
        assert_eq!(auth.refresh_calls(), 0, "not before the margin");
        assert!(state.take_pushes().is_empty());
        tokio::select! {
            end = &mut keeper => panic!("ended: {end:?}"),
            () = sleep(Duration::from_secs(2)) => {}
        }
        assert_eq!(auth.refresh_calls(), 1);
        let pushes = state.take_pushes();
        assert_eq!(pushes.len(), 1, "the joined channel gets the new token");
        assert!(!pushes[0].contains(&old_token));
        let refreshed = sessions.get(&key).await.unwrap().unwrap();
        let new_token = &refreshed.tokens.access_token;
        assert_eq!(refreshed.tokens.refresh_token, "r2");
        assert!(pushes[0].contains(new_token.as_str()), "{}", pushes[0]);
        assert!(
            injected(&state).contains(new_token.as_str()),
            "joins carry it too"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_ended_on_this_instance_ends_the_socket_at_once() {
        let (sessions, link, state) = socket(Arc::new(FakeAuth::default())).await;
        let sockets = SessionSockets::following(sessions.ended());
        let key = link.key.clone();
        let started = Instant::now();
        let ending = async {
            // Between two of the keeper's looks (every 2 s).
            sleep(Duration::from_secs(5)).await;
            sessions.end(&key, EndReason::SignOut).await.unwrap();
            std::future::pending::<()>().await;
        };
        let end = tokio::select! {
            end = keep(&sessions, &sockets, Some(link), &state) => end,
            () = ending => unreachable!(),
        };
        assert_eq!(end, SessionEnd::Deleted);
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "before the next look"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_refresh_auth_refuses_for_good_ends_the_socket() {
        let auth = Arc::new(FakeAuth::default());
        let (sessions, link, state) = socket(auth.clone()).await;
        let sockets = SessionSockets::following(sessions.ended());
        auth.answer_refresh(Duration::ZERO, answer(500, "{}"));
        auth.answer_refresh(
            Duration::ZERO,
            answer(400, r#"{"code":"session_not_found","message":"x"}"#),
        );
        let started = Instant::now();
        let end = keep(&sessions, &sockets, Some(link), &state).await;
        assert_eq!(end, SessionEnd::Deleted);
        assert_eq!(auth.refresh_calls(), 2, "a failed refresh is tried again");
        assert!(started.elapsed() >= Duration::from_secs(40));
    }
}
