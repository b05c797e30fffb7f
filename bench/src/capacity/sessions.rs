//! Step one: users signed up at the stand-in Auth (directly, not measured),
//! then each signed in once through the proxies in turn with the password
//! grant (measured). Each session goes to a file, one a line: instance,
//! `Cookie` pair, placeholder access token, user id, sign-in time (unix
//! seconds), tab-separated.

use crate::client::{Http, new_client, send};
use crate::tally::{Tally, in_parallel};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The password of every user of the run.
const PASSWORD: &str = "capacity-password-1";

#[derive(Debug, clap::Args)]
pub struct Options {
    /// The stand-in's URL (sign-ups go there directly).
    #[arg(long)]
    stub: String,
    /// The project's anon key.
    #[arg(long)]
    anon_key: String,
    /// The app's origin, sent as `Origin` on sign-ins.
    #[arg(long)]
    origin: String,
    /// The proxies' URLs, comma-separated; sign-ins go to each in turn.
    #[arg(long, value_delimiter = ',', required = true)]
    proxies: Vec<String>,
    /// Users signed up, and sessions signed in.
    #[arg(long)]
    count: usize,
    /// Requests in flight at once.
    #[arg(long)]
    conns: usize,
    /// Where the sessions are written.
    #[arg(long)]
    out: String,
    /// The session cookie's name.
    #[arg(long, default_value = "sb-session")]
    cookie_name: String,
}

/// One session signed in through a proxy.
struct SignedIn {
    user: usize,
    instance: usize,
    cookie: String,
    placeholder: String,
    user_id: String,
    at: u64,
}

fn email(user: usize) -> String {
    format!("user{user}@capacity.test")
}

fn credentials(user: usize) -> Full<Bytes> {
    Full::new(Bytes::from(
        json!({"email": email(user), "password": PASSWORD}).to_string(),
    ))
}

pub async fn run(options: Options) -> Result<Value, String> {
    let options = Arc::new(options);
    let client = new_client();

    let started = Instant::now();
    let mut sign_up = Tally::default();
    let next = Arc::new(AtomicUsize::new(0));
    let work = |_| sign_up_some(client.clone(), options.clone(), next.clone());
    for tally in in_parallel(options.conns, work).await {
        sign_up.merge(tally);
    }
    let sign_up_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut sign_in = Tally::default();
    let mut sessions = Vec::with_capacity(options.count);
    let next = Arc::new(AtomicUsize::new(0));
    let work = |_| sign_in_some(client.clone(), options.clone(), next.clone());
    for (tally, signed_in) in in_parallel(options.conns, work).await {
        sign_in.merge(tally);
        sessions.extend(signed_in);
    }
    let sign_in_secs = started.elapsed().as_secs_f64();
    sessions.sort_by_key(|s| s.user);
    write_sessions(&options.out, &sessions)?;

    let mut per_instance = vec![0u64; options.proxies.len()];
    for s in &sessions {
        per_instance[s.instance] += 1;
    }
    Ok(json!({
        "sign_up_secs": sign_up_secs,
        "sign_up": sign_up.json(),
        "sign_in_secs": sign_in_secs,
        "sign_ins_per_second": sessions.len() as f64 / sign_in_secs,
        "sessions": sessions.len(),
        "sessions_per_instance": per_instance,
        "sign_in": sign_in.json(),
    }))
}

/// Signs users up at the stand-in until none is left.
async fn sign_up_some(client: Http, options: Arc<Options>, next: Arc<AtomicUsize>) -> Tally {
    let mut tally = Tally::default();
    loop {
        let user = next.fetch_add(1, Ordering::Relaxed);
        if user >= options.count {
            return tally;
        }
        let request = Request::post(format!("{}/auth/v1/signup", options.stub))
            .header("apikey", &options.anon_key)
            .header("content-type", "application/json")
            .body(credentials(user))
            .expect("a sign-up request");
        let started = Instant::now();
        let outcome = send(&client, request)
            .await
            .and_then(|a| a.expect(StatusCode::OK));
        tally.record("sign_up", started, &outcome);
    }
}

/// Signs users in through the proxies (user `i` on proxy `i % n`) until
/// none is left.
async fn sign_in_some(
    client: Http,
    options: Arc<Options>,
    next: Arc<AtomicUsize>,
) -> (Tally, Vec<SignedIn>) {
    let mut tally = Tally::default();
    let mut sessions = Vec::new();
    loop {
        let user = next.fetch_add(1, Ordering::Relaxed);
        if user >= options.count {
            return (tally, sessions);
        }
        let instance = user % options.proxies.len();
        let url = format!(
            "{}/auth/v1/token?grant_type=password",
            options.proxies[instance]
        );
        let request = Request::post(url)
            .header("apikey", &options.anon_key)
            .header("origin", &options.origin)
            .header("content-type", "application/json")
            .body(credentials(user))
            .expect("a sign-in request");
        let started = Instant::now();
        let outcome = match send(&client, request).await {
            Ok(answer) => answer
                .expect(StatusCode::OK)
                .and_then(|a| session_of(&a.headers, &a.body, &options.cookie_name)),
            Err(e) => Err(e),
        };
        tally.record("sign_in", started, &outcome);
        if let Ok((cookie, placeholder, user_id)) = outcome {
            let at = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            sessions.push(SignedIn {
                user,
                instance,
                cookie,
                placeholder,
                user_id,
                at,
            });
        }
    }
}

/// The `Cookie` pair, the placeholder access token and the user id of a
/// sign-in's answer.
fn session_of(
    headers: &http::HeaderMap,
    body: &[u8],
    cookie_name: &str,
) -> Result<(String, String, String), String> {
    let cookie = headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| cookie::Cookie::parse(v).ok())
        .find(|c| c.name() == cookie_name && !c.value().is_empty())
        .ok_or_else(|| format!("no cookie: no {cookie_name} in Set-Cookie"))?;
    let answer: Value =
        serde_json::from_slice(body).map_err(|e| format!("bad body: not JSON ({e})"))?;
    let placeholder = answer["access_token"]
        .as_str()
        .ok_or("bad body: no access_token")?;
    let user_id = answer["user"]["id"]
        .as_str()
        .ok_or("bad body: no user.id")?;
    Ok((
        format!("{}={}", cookie.name(), cookie.value()),
        placeholder.to_owned(),
        user_id.to_owned(),
    ))
}

fn write_sessions(path: &str, sessions: &[SignedIn]) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| format!("cannot write {path}: {e}"))?;
    let mut out = std::io::BufWriter::new(file);
    for s in sessions {
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}",
            s.instance, s.cookie, s.placeholder, s.user_id, s.at
        )
        .map_err(|e| format!("cannot write {path}: {e}"))?;
    }
    out.flush().map_err(|e| format!("cannot write {path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    fn headers(set_cookies: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in set_cookies {
            headers.append(http::header::SET_COOKIE, value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn a_sign_in_answer_gives_the_cookie_pair_placeholder_and_user() {
        let headers = headers(&[
            "sb-access-token=; Max-Age=0; Path=/",
            "sb-session=abc_DEF-123; HttpOnly; SameSite=Lax; Path=/; Max-Age=2592000",
        ]);
        let body = br#"{"access_token":"eyJ.placeholder.sig","user":{"id":"u-1"}}"#;
        let (cookie, placeholder, user) = session_of(&headers, body, "sb-session").unwrap();
        assert_eq!(cookie, "sb-session=abc_DEF-123");
        assert_eq!(placeholder, "eyJ.placeholder.sig");
        assert_eq!(user, "u-1");
    }

    #[test]
    fn a_sign_in_answer_without_the_cookie_or_token_is_an_error() {
        let body = br#"{"access_token":"t","user":{"id":"u"}}"#;
        let err = session_of(&headers(&["other=1"]), body, "sb-session").unwrap_err();
        assert!(err.starts_with("no cookie:"), "{err}");
        let cleared = headers(&["sb-session=; Max-Age=0"]);
        assert!(session_of(&cleared, body, "sb-session").is_err());
        let ok = headers(&["sb-session=v"]);
        let err = session_of(&ok, br#"{"user":{"id":"u"}}"#, "sb-session").unwrap_err();
        assert_eq!(err, "bad body: no access_token");
        let err = session_of(&ok, b"<html>", "sb-session").unwrap_err();
        assert!(err.starts_with("bad body: not JSON"), "{err}");
    }
}
