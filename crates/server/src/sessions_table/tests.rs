//! Unit tests of the mirror's queueing and retry decisions (the requests
//! themselves are in `postgrest`; the whole loop runs in the end-to-end
//! suite against the stand-in's PostgREST).

use super::postgrest::{Job, Outcome, Postgrest};
use super::queue::{Batch, Pending};
use super::{FIRST_PAUSE, MAX_PAUSE, Mirror};
use crate::session::SessionChange;
use crate::upstream::Upstream;
use sbp_core::config::UpstreamUrl;
use sbp_core::session::{NewSession, Session, UpstreamTokens};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

fn mirror() -> Mirror {
    let tls = crate::tls::client_config(None).unwrap();
    let url = UpstreamUrl::parse("http://127.0.0.1:9").unwrap();
    let upstream =
        Upstream::new(url, "anon", Duration::from_secs(1), tls, Default::default()).unwrap();
    let postgrest = Postgrest::new(Arc::new(upstream), "service", Duration::from_secs(1)).unwrap();
    Mirror {
        postgrest: Arc::new(postgrest),
        pending: Pending::new(10),
        expiry_due: false,
        pause: FIRST_PAUSE,
        failing: false,
    }
}

fn session(id: &str) -> Arc<Session> {
    let new = NewSession {
        id: id.into(),
        user_id: "u".into(),
        user: serde_json::json!({"id": "u"}).into(),
        auth_session_id: None,
        tokens: UpstreamTokens {
            access_token: "a".into(),
            refresh_token: "r".into(),
            issued_at: 0,
            expires_at: 3600,
        },
        ip: None,
        user_agent: None,
        country: None,
    };
    Arc::new(Session::new(new, 0, 3600, 3600))
}

#[tokio::test(start_paused = true)]
async fn a_failed_write_waits_longer_each_time_up_to_a_minute_and_is_kept() {
    let mut m = mirror();
    m.queue(SessionChange::Stored(session("a")));
    let mut pauses = Vec::new();
    for _ in 0..8 {
        let job = m.next_job().expect("the write is still waiting");
        assert!(matches!(job, Job::Write(Batch::Upsert(_))));
        let resume = m.settle(job, Outcome::Retry("down".into())).unwrap();
        pauses.push((resume - Instant::now()).as_secs());
    }
    assert_eq!(pauses, [1, 2, 4, 8, 16, 32, 60, 60]);
    assert_eq!(MAX_PAUSE, Duration::from_secs(60));
    let job = m.next_job().unwrap();
    assert_eq!(m.settle(job, Outcome::Written), None);
    assert_eq!(m.pause, FIRST_PAUSE, "a success starts the pauses afresh");
    assert!(m.next_job().is_none(), "written: nothing waits");
}

#[tokio::test(start_paused = true)]
async fn a_refused_write_is_dropped_and_the_expiry_delete_comes_after_the_writes() {
    let mut m = mirror();
    m.queue(SessionChange::Stored(session("a")));
    m.queue(SessionChange::Ended(session("a")));
    m.expiry_due = true;
    let job = m.next_job().unwrap();
    assert!(
        matches!(&job, Job::Write(Batch::Delete(ids)) if ids[0].1 == "a"),
        "the end replaced the upsert: {job:?}"
    );
    assert_eq!(m.settle(job, Outcome::Refused("404".into())), None);
    let expiry = m.next_job().unwrap();
    assert!(matches!(expiry, Job::DeleteExpired(_)));
    assert!(m.next_job().is_none());
    assert!(m.settle(expiry, Outcome::Retry("down".into())).is_some());
    assert!(
        matches!(m.next_job(), Some(Job::DeleteExpired(_))),
        "a failed expiry delete is due again"
    );
}
