//! Step two: a bounded-time mixed load over the sessions of step one. Each
//! worker repeats a visit: a random session on a random instance (the load
//! balancer has no stickiness), `GET /edge/v1/session`, then three
//! `GET /rest/v1/todos` with the session's cookie and placeholder, as
//! supabase-js sends them. Every answer is checked: 200, and for REST the
//! stand-in's row for this session's user (the stand-in verifies the
//! token, so an expired one is a 401).
//!
//! It also predicts the refreshes the proxies should send to Auth: a
//! session's token is due `lifetime - min(margin, lifetime / 4)` after it
//! was issued, and is refreshed by the first forwarded request after that
//! (one refresh across all instances); the prediction replays that rule on
//! the visits as they happen.

use crate::client::{Http, new_client, send};
use crate::tally::{Tally, in_parallel};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The proxy's session cache capacity (`SESSION_CACHE_CAPACITY` in
/// crates/server/src/app.rs).
const CACHE_CAPACITY: usize = 100_000;

/// REST requests per visit.
const REST_PER_VISIT: usize = 3;

#[derive(Debug, clap::Args)]
pub struct Options {
    /// The project's anon key.
    #[arg(long)]
    anon_key: String,
    /// The proxies' URLs, comma-separated, in the order of step one.
    #[arg(long, value_delimiter = ',', required = true)]
    proxies: Vec<String>,
    /// The sessions file of step one.
    #[arg(long)]
    sessions: String,
    /// How long the load runs, in seconds.
    #[arg(long)]
    secs: u64,
    /// Visits in flight at once.
    #[arg(long)]
    conns: usize,
    /// The stand-in's access token lifetime, in seconds.
    #[arg(long)]
    token_ttl: u64,
    /// The proxies' `PROXY_REFRESH_MARGIN`, in seconds.
    #[arg(long)]
    refresh_margin: u64,
}

/// A session as step one wrote it.
struct Session {
    instance: usize,
    cookie: String,
    authorization: String,
    user_id: String,
    /// When its token is next due for a refresh (unix seconds).
    due: AtomicU64,
    /// Per instance: whether a visit went there.
    visited: Vec<AtomicBool>,
}

/// Everything the workers share.
struct Run {
    options: Options,
    sessions: Vec<Session>,
    /// Seconds from a token's issue to its refresh.
    refresh_after: u64,
    predicted_refreshes: AtomicU64,
    deadline: Instant,
}

pub async fn run(options: Options) -> Result<Value, String> {
    let refresh_after = options.token_ttl - options.refresh_margin.min(options.token_ttl / 4);
    let sessions = read_sessions(&options.sessions, options.proxies.len(), refresh_after)?;
    if sessions.is_empty() {
        return Err(format!("no sessions in {}", options.sessions));
    }
    let started = Instant::now();
    let run = Arc::new(Run {
        deadline: started + Duration::from_secs(options.secs),
        options,
        sessions,
        refresh_after,
        predicted_refreshes: AtomicU64::new(0),
    });
    let client = new_client();
    let mut tally = Tally::default();
    let mut visits = 0;
    let work = |worker| visit_until_deadline(client.clone(), run.clone(), worker as u64);
    for (worker_tally, worker_visits) in in_parallel(run.options.conns, work).await {
        tally.merge(worker_tally);
        visits += worker_visits;
    }
    let secs = started.elapsed().as_secs_f64();
    let requests = tally.ok_count() + tally.error_count();
    Ok(json!({
        "secs": secs,
        "visits": visits,
        "requests": requests,
        "requests_per_second": requests as f64 / secs,
        "cached_estimate": cached_estimate(&run),
        "refresh_after_secs": run.refresh_after,
        "predicted_refreshes": run.predicted_refreshes.load(Ordering::Relaxed),
        "load": tally.json(),
    }))
}

/// Per instance: the sessions it signed in or was visited with, which it
/// holds in its cache (at most its capacity).
fn cached_estimate(run: &Run) -> Vec<usize> {
    (0..run.options.proxies.len())
        .map(|i| {
            let held = run
                .sessions
                .iter()
                .filter(|s| s.instance == i || s.visited[i].load(Ordering::Relaxed))
                .count();
            held.min(CACHE_CAPACITY)
        })
        .collect()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A small, fast, seedable generator (SplitMix64) for picking sessions and
/// instances; nothing secret depends on it.
struct Pick(u64);

impl Pick {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z % n as u64) as usize
    }
}

async fn visit_until_deadline(client: Http, run: Arc<Run>, worker: u64) -> (Tally, u64) {
    let mut tally = Tally::default();
    let mut pick = Pick(worker.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ unix_now());
    let mut visits = 0;
    while Instant::now() < run.deadline {
        let session = &run.sessions[pick.below(run.sessions.len())];
        let instance = pick.below(run.options.proxies.len());
        session.visited[instance].store(true, Ordering::Relaxed);
        visit(&client, &run, session, instance, &mut tally).await;
        visits += 1;
    }
    (tally, visits)
}

/// One page view of `session` on `instance`.
async fn visit(client: &Http, run: &Run, session: &Session, instance: usize, tally: &mut Tally) {
    let base = &run.options.proxies[instance];
    let started = Instant::now();
    let request = Request::get(format!("{base}/edge/v1/session"))
        .header("cookie", &session.cookie)
        .body(Full::new(Bytes::new()))
        .expect("a session request");
    let outcome = send(client, request)
        .await
        .and_then(|a| a.expect(StatusCode::OK))
        .and_then(|a| names_user(&a.body, &session.user_id));
    tally.record("edge_session", started, &outcome);

    predict_refresh(run, session);
    for _ in 0..REST_PER_VISIT {
        let started = Instant::now();
        let request = Request::get(format!("{base}/rest/v1/todos"))
            .header("apikey", &run.options.anon_key)
            .header("authorization", &session.authorization)
            .header("cookie", &session.cookie)
            .body(Full::new(Bytes::new()))
            .expect("a REST request");
        let outcome = send(client, request)
            .await
            .and_then(|a| a.expect(StatusCode::OK))
            .and_then(|a| names_user(&a.body, &session.user_id));
        tally.record("rest", started, &outcome);
    }
}

/// Whether the answer is about this session's user.
fn names_user(body: &[u8], user_id: &str) -> Result<(), String> {
    if String::from_utf8_lossy(body).contains(user_id) {
        Ok(())
    } else {
        let start = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        Err(format!(
            "wrong user: answer does not name {user_id}: {start}"
        ))
    }
}

/// Counts a refresh when the session's token is due at this forwarded request.
fn predict_refresh(run: &Run, session: &Session) {
    let now = unix_now();
    let due = session.due.load(Ordering::Relaxed);
    if now >= due
        && session
            .due
            .compare_exchange(
                due,
                now + run.refresh_after,
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_ok()
    {
        run.predicted_refreshes.fetch_add(1, Ordering::Relaxed);
    }
}

fn read_sessions(path: &str, instances: usize, refresh_after: u64) -> Result<Vec<Session>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    text.lines()
        .enumerate()
        .map(|(n, line)| {
            let bad = || format!("{path}:{}: not instance, cookie, token, user, time", n + 1);
            let fields: Vec<&str> = line.split('\t').collect();
            let [instance, cookie, token, user_id, at] = fields[..] else {
                return Err(bad());
            };
            let instance: usize = instance.parse().map_err(|_| bad())?;
            let at: u64 = at.parse().map_err(|_| bad())?;
            if instance >= instances {
                return Err(format!("{path}:{}: instance {instance} unknown", n + 1));
            }
            Ok(Session {
                instance,
                cookie: cookie.to_owned(),
                authorization: format!("Bearer {token}"),
                user_id: user_id.to_owned(),
                due: AtomicU64::new(at + refresh_after),
                visited: (0..instances).map(|_| AtomicBool::new(false)).collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_with(sessions: Vec<Session>, refresh_after: u64) -> Run {
        Run {
            options: Options {
                anon_key: String::new(),
                proxies: vec!["http://a".into(), "http://b".into()],
                sessions: String::new(),
                secs: 1,
                conns: 1,
                token_ttl: 120,
                refresh_margin: 60,
            },
            sessions,
            refresh_after,
            predicted_refreshes: AtomicU64::new(0),
            deadline: Instant::now(),
        }
    }

    fn sessions_file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
        file
    }

    #[test]
    fn the_sessions_file_is_read_with_each_tokens_due_time() {
        let file =
            sessions_file("1\tsb-session=x\ttok\tu-1\t1000\n0\tsb-session=y\ttok2\tu-2\t2000\n");
        let sessions = read_sessions(file.path().to_str().unwrap(), 2, 90).unwrap();
        assert_eq!(sessions.len(), 2);
        assert_eq!(sessions[0].instance, 1);
        assert_eq!(sessions[0].authorization, "Bearer tok");
        assert_eq!(sessions[0].due.load(Ordering::Relaxed), 1090);
        assert_eq!(sessions[1].due.load(Ordering::Relaxed), 2090);
    }

    #[test]
    fn a_bad_sessions_line_is_named() {
        let path = |f: &tempfile::NamedTempFile| f.path().to_str().unwrap().to_owned();
        let short = sessions_file("0\tsb-session=x\ttok\n");
        let err = read_sessions(&path(&short), 2, 90).err().unwrap();
        assert!(
            err.ends_with(":1: not instance, cookie, token, user, time"),
            "{err}"
        );
        let unknown = sessions_file("0\tc\tt\tu\t1\n5\tc\tt\tu\t1\n");
        let err = read_sessions(&path(&unknown), 2, 90).err().unwrap();
        assert!(err.ends_with(":2: instance 5 unknown"), "{err}");
    }

    #[test]
    fn a_due_token_is_predicted_refreshed_once_until_due_again() {
        let file = sessions_file("0\tc\tt\tu\t0\n");
        let run = run_with(
            read_sessions(file.path().to_str().unwrap(), 2, 90).unwrap(),
            90,
        );
        predict_refresh(&run, &run.sessions[0]);
        predict_refresh(&run, &run.sessions[0]);
        assert_eq!(run.predicted_refreshes.load(Ordering::Relaxed), 1);
        let due = run.sessions[0].due.load(Ordering::Relaxed);
        assert!(due >= unix_now() + 89, "next due {due}");
    }

    #[test]
    fn each_instance_holds_what_it_signed_in_or_was_visited_with() {
        let file = sessions_file("0\tc\tt\tu\t0\n1\tc\tt\tu\t0\n0\tc\tt\tu\t0\n");
        let run = run_with(
            read_sessions(file.path().to_str().unwrap(), 2, 90).unwrap(),
            90,
        );
        run.sessions[1].visited[0].store(true, Ordering::Relaxed);
        assert_eq!(cached_estimate(&run), vec![3, 1]);
    }

    #[test]
    fn an_answer_about_another_user_is_an_error() {
        assert!(names_user(br#"[{"user_id":"u-1"}]"#, "u-1").is_ok());
        let err = names_user(br#"[{"user_id":"u-2"}]"#, "u-1").unwrap_err();
        assert!(err.starts_with("wrong user:"), "{err}");
    }

    #[test]
    fn picks_stay_below_the_bound_and_spread() {
        let mut pick = Pick(7);
        let mut seen = [0u32; 4];
        for _ in 0..4000 {
            seen[pick.below(4)] += 1;
        }
        assert!(seen.iter().all(|&n| n > 800), "{seen:?}");
    }
}
