//! The `public.sessions` mirror (`PROXY_SESSIONS_TABLE=on`, the table of
//! the repository's `schema.sql`): apps read their users' sessions there
//! with row-level security, while the proxy's store stays the truth.
//!
//! A task follows [`SessionService::changes`]: each session stored
//! (sign-in, a last-seen write) becomes an upsert of its row, each ended
//! one (sign-out, revocation, a hook) a delete, and once a minute the rows
//! past their expiry are deleted (the store's own sweep says nothing per
//! session). Writes wait in a bounded [`Pending`] queue, one per session,
//! and go out one batch at a time through [`Postgrest`]; a PostgREST that
//! is down or slow only delays them (retried with a growing pause, logged
//! as a warning), never a sign-in.
//!
//! [`SessionService::changes`]: crate::session::SessionService::changes

mod postgrest;
mod queue;
mod row;
#[cfg(test)]
mod tests;

use crate::app::App;
use crate::runtime::SystemClock;
use crate::session::SessionChange;
use futures_util::future::BoxFuture;
use postgrest::{Job, Outcome, Postgrest};
use queue::{Pending, Write};
use row::Row;
use sbp_core::env::Clock;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

/// How many sessions may have a write waiting; past that, writes for new
/// ones are dropped (with a warning) until PostgREST catches up.
const QUEUE_CAPACITY: usize = 100_000;
/// Rows per PostgREST request.
const BATCH: usize = 100;
/// How often the expired rows are deleted.
const EXPIRY_INTERVAL: Duration = Duration::from_secs(60);
/// The pause after the first failed write; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_secs(1);
const MAX_PAUSE: Duration = Duration::from_secs(60);

/// Starts keeping the table in step, when configured, until `stopped`.
/// Follows the session service from this call on (before any sign-in).
pub fn start(app: &App, stopped: watch::Receiver<bool>) -> Result<(), crate::Error> {
    let config = &app.config;
    let (true, Some(key)) = (config.sessions_table, config.service_role_key.as_deref()) else {
        return Ok(());
    };
    let mirror = Mirror {
        postgrest: Arc::new(Postgrest::new(
            app.upstream.clone(),
            key,
            Duration::from_secs(config.limits.upstream_timeout),
        )?),
        pending: Pending::new(QUEUE_CAPACITY),
        expiry_due: false,
        pause: FIRST_PAUSE,
        failing: false,
    };
    tokio::spawn(mirror.run(app.sessions.changes(), stopped));
    Ok(())
}

struct Mirror {
    postgrest: Arc<Postgrest>,
    pending: Pending,
    /// A delete of the expired rows is due.
    expiry_due: bool,
    /// The pause after the next failure.
    pause: Duration,
    /// The last write failed (a recovery is logged).
    failing: bool,
}

type Sending = BoxFuture<'static, (Job, Outcome)>;

impl Mirror {
    async fn run(
        mut self,
        mut changes: broadcast::Receiver<SessionChange>,
        mut stopped: watch::Receiver<bool>,
    ) {
        let mut expiry = tokio::time::interval(EXPIRY_INTERVAL);
        expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sending: Option<Sending> = None;
        let mut resume_at: Option<Instant> = None;
        loop {
            if sending.is_none() && resume_at.is_none() {
                sending = self.next_job().map(|job| self.send(job));
            }
            tokio::select! {
                change = changes.recv() => match change {
                    Ok(change) => self.queue(change),
                    Err(broadcast::error::RecvError::Lagged(missed)) => tracing::warn!(
                        missed,
                        "sessions table: session changes missed; rows may be stale until they expire"
                    ),
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = expiry.tick() => self.expiry_due = true,
                (job, outcome) = async { sending.as_mut().expect("guarded").await }, if sending.is_some() => {
                    sending = None;
                    resume_at = self.settle(job, outcome);
                }
                () = tokio::time::sleep_until(resume_at.unwrap_or_else(Instant::now)), if resume_at.is_some() => {
                    resume_at = None;
                }
                _ = stopped.changed() => {
                    if !self.pending.is_empty() {
                        tracing::warn!(
                            writes = self.pending.len(),
                            "sessions table: writes not sent before shutdown"
                        );
                    }
                    return;
                }
            }
        }
    }

    fn queue(&mut self, change: SessionChange) {
        let (id, write) = match change {
            SessionChange::Stored(session) => {
                (session.id.clone(), Write::Upsert(Row::of(&session)))
            }
            SessionChange::Ended(session) => (session.id.clone(), Write::Delete),
        };
        if !self.pending.push(id, write) {
            tracing::warn!(
                capacity = QUEUE_CAPACITY,
                "sessions table: too many writes waiting; one dropped"
            );
        }
    }

    /// Session writes first, then a due delete of the expired rows.
    fn next_job(&mut self) -> Option<Job> {
        if let Some(batch) = self.pending.take(BATCH) {
            return Some(Job::Write(batch));
        }
        if std::mem::take(&mut self.expiry_due) {
            return Some(Job::DeleteExpired(SystemClock.now()));
        }
        None
    }

    fn send(&self, job: Job) -> Sending {
        let postgrest = self.postgrest.clone();
        Box::pin(async move {
            let outcome = postgrest.send(&job).await;
            (job, outcome)
        })
    }

    /// Deals with how `job` went; returns when to send again after a failure.
    fn settle(&mut self, job: Job, outcome: Outcome) -> Option<Instant> {
        match outcome {
            Outcome::Written => {
                if std::mem::take(&mut self.failing) {
                    tracing::info!(
                        waiting = self.pending.len(),
                        "sessions table: PostgREST answers again, catching up"
                    );
                }
                self.pause = FIRST_PAUSE;
                None
            }
            Outcome::Refused(why) => {
                tracing::warn!(%why, "sessions table: a write was refused and is dropped");
                None
            }
            Outcome::Retry(why) => {
                let pause = self.pause;
                let failed = match &job {
                    Job::Write(batch) => batch.len(),
                    Job::DeleteExpired(_) => 0,
                };
                tracing::warn!(
                    %why,
                    retry_in_ms = pause.as_millis() as u64,
                    waiting = self.pending.len() + failed,
                    "sessions table: PostgREST unreachable, will retry"
                );
                match job {
                    Job::Write(batch) => self.pending.put_back(batch),
                    Job::DeleteExpired(_) => self.expiry_due = true,
                }
                self.failing = true;
                self.pause = (pause * 2).min(MAX_PAUSE);
                Some(Instant::now() + pause)
            }
        }
    }
}
