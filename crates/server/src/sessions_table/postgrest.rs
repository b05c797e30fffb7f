//! The requests that keep `public.sessions` in step, through PostgREST as
//! `service_role`: an upsert (`Prefer: resolution=merge-duplicates`) of
//! new and touched sessions, a delete of ended ones by id, and a delete of
//! the expired ones. A legacy (JWT) service key goes in `apikey` and as
//! the bearer; a new `sb_secret_...` key in `apikey` only, as supabase-js
//! sends it (the gateway then hands PostgREST its own JWT).

use super::queue::Batch;
use crate::body::{Body, empty, full, read_decoded};
use crate::upstream::Upstream;
use http::header::{ACCEPT_ENCODING, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{Method, Request};
use sbp_core::edge::Timestamp;
use sbp_core::env::UnixSeconds;
use sbp_core::token::ApiKeyKind;
use std::sync::Arc;
use std::time::Duration;

/// The table's path under PostgREST.
const TABLE: &str = "/rest/v1/sessions";
/// Largest PostgREST answer read (an error body).
const ANSWER_LIMIT: usize = 64 * 1024;
/// The longest a write may take (less when `PROXY_UPSTREAM_TIMEOUT` is
/// shorter): a hung PostgREST holds the queue no longer than this.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How a write went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Written,
    /// Not reached, or answered 408, 429 or 5xx: worth trying again later.
    Retry(String),
    /// Refused for good (another 4xx: a bad key, a missing table, a row
    /// whose user is gone): trying again cannot help.
    Refused(String),
}

/// What to send.
#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    Write(Batch),
    /// Delete the rows expired at this time.
    DeleteExpired(UnixSeconds),
}

pub struct Postgrest {
    upstream: Arc<Upstream>,
    apikey: HeaderValue,
    bearer: Option<HeaderValue>,
    timeout: Duration,
}

impl Postgrest {
    pub fn new(
        upstream: Arc<Upstream>,
        service_key: &str,
        upstream_timeout: Duration,
    ) -> Result<Postgrest, crate::Error> {
        let invalid = || {
            crate::Error::Upstream("SUPABASE_SERVICE_ROLE_KEY is not a valid header value".into())
        };
        let apikey = HeaderValue::from_str(service_key).map_err(|_| invalid())?;
        let bearer = match ApiKeyKind::of(service_key) {
            ApiKeyKind::New => None,
            ApiKeyKind::Legacy => Some(
                HeaderValue::from_str(&format!("Bearer {service_key}")).map_err(|_| invalid())?,
            ),
        };
        Ok(Postgrest {
            upstream,
            apikey,
            bearer,
            timeout: upstream_timeout.min(WRITE_TIMEOUT),
        })
    }

    /// The request for `job`; an error when an id cannot be put in a URL
    /// (not a session id this proxy made).
    pub fn request(&self, job: &Job) -> Result<Request<Body>, String> {
        let (method, uri, body) = match job {
            Job::Write(Batch::Upsert(rows)) => {
                let rows: Vec<_> = rows.iter().map(|(_, row)| row.to_json()).collect();
                let body = serde_json::Value::Array(rows).to_string();
                (Method::POST, format!("{TABLE}?on_conflict=id"), full(body))
            }
            Job::Write(Batch::Delete(ids)) => {
                let filter = match ids.as_slice() {
                    [(_, id)] => format!("eq.{id}"),
                    ids => {
                        let ids: Vec<&str> = ids.iter().map(|(_, id)| id.as_str()).collect();
                        format!("in.({})", ids.join(","))
                    }
                };
                (Method::DELETE, format!("{TABLE}?id={filter}"), empty())
            }
            Job::DeleteExpired(now) => {
                let now = serde_json::to_value(Timestamp(*now)).unwrap_or_default();
                let now = now.as_str().unwrap_or("1970-01-01T00:00:00Z").to_string();
                (
                    Method::DELETE,
                    format!("{TABLE}?expires_at=lt.{now}"),
                    empty(),
                )
            }
        };
        let mut request = Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri
            .parse()
            .map_err(|_| format!("`{uri}` is not a valid path"))?;
        let headers = request.headers_mut();
        headers.insert("apikey", self.apikey.clone());
        if let Some(bearer) = &self.bearer {
            headers.insert(AUTHORIZATION, bearer.clone());
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            "prefer",
            HeaderValue::from_static("resolution=merge-duplicates,return=minimal"),
        );
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
        Ok(request)
    }

    /// Sends `job` and says how it went.
    pub async fn send(&self, job: &Job) -> Outcome {
        let request = match self.request(job) {
            Ok(request) => request,
            Err(why) => return Outcome::Refused(why),
        };
        let sent = self.upstream.send(None, request, None);
        let response = match tokio::time::timeout(self.timeout, sent).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => return Outcome::Retry(e.to_string()),
            Err(_) => return Outcome::Retry("no answer in time".into()),
        };
        let (mut parts, body) = response.into_parts();
        let status = parts.status;
        if status.is_success() {
            return Outcome::Written;
        }
        let answer = read_decoded(&mut parts, body, ANSWER_LIMIT)
            .await
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .chars()
                    .take(200)
                    .collect::<String>()
            })
            .unwrap_or_default();
        let why = format!("PostgREST answered {status}: {answer}");
        match status.as_u16() {
            408 | 429 | 500..=599 => Outcome::Retry(why),
            _ => Outcome::Refused(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sessions_table::row::Row;
    use sbp_core::config::UpstreamUrl;

    fn postgrest(key: &str) -> Postgrest {
        let tls = crate::tls::client_config(None).unwrap();
        let url = UpstreamUrl::parse("http://127.0.0.1:9").unwrap();
        let upstream =
            Upstream::new(url, "anon", Duration::from_secs(1), tls, Default::default()).unwrap();
        Postgrest::new(Arc::new(upstream), key, Duration::from_secs(1)).unwrap()
    }

    fn header<'a>(request: &'a Request<Body>, name: &str) -> Option<&'a str> {
        request.headers().get(name).map(|v| v.to_str().unwrap())
    }

    fn row(id: &str) -> Row {
        Row {
            id: id.into(),
            user_id: "u".into(),
            created_at: 0,
            last_seen_at: 0,
            expires_at: 60,
            ip: None,
            country: None,
            user_agent: None,
        }
    }

    #[test]
    fn a_legacy_service_key_is_the_apikey_and_the_bearer_a_secret_key_only_the_apikey() {
        let job = Job::Write(Batch::Delete(vec![(0, "a".into())]));
        let legacy = postgrest("eyJhbGciOiJIUzI1NiJ9.e30.sig")
            .request(&job)
            .unwrap();
        assert_eq!(
            header(&legacy, "apikey"),
            Some("eyJhbGciOiJIUzI1NiJ9.e30.sig")
        );
        assert_eq!(
            header(&legacy, "authorization"),
            Some("Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig")
        );
        let new = postgrest("sb_secret_abc").request(&job).unwrap();
        assert_eq!(header(&new, "apikey"), Some("sb_secret_abc"));
        assert_eq!(header(&new, "authorization"), None);
    }

    #[test]
    fn upserts_merge_duplicates_and_deletes_filter_by_id_or_expiry() {
        let client = postgrest("service");
        let upsert = client.request(&Job::Write(Batch::Upsert(vec![
            (0, row("a")),
            (1, row("b")),
        ])));
        let upsert = upsert.unwrap();
        assert_eq!(upsert.method(), Method::POST);
        assert_eq!(upsert.uri(), "/rest/v1/sessions?on_conflict=id");
        assert_eq!(
            header(&upsert, "prefer"),
            Some("resolution=merge-duplicates,return=minimal")
        );
        let one = client.request(&Job::Write(Batch::Delete(vec![(0, "a".into())])));
        let one = one.unwrap();
        assert_eq!(one.method(), Method::DELETE);
        assert_eq!(one.uri(), "/rest/v1/sessions?id=eq.a");
        let two = Job::Write(Batch::Delete(vec![(0, "a".into()), (1, "b".into())]));
        assert_eq!(
            client.request(&two).unwrap().uri(),
            "/rest/v1/sessions?id=in.(a,b)"
        );
        let expired = client.request(&Job::DeleteExpired(1_700_000_000)).unwrap();
        let odd = Job::Write(Batch::Delete(vec![(0, "not a uuid".into())]));
        assert!(client.request(&odd).is_err(), "refused, not a panic");
        assert_eq!(
            expired.uri(),
            "/rest/v1/sessions?expires_at=lt.2023-11-14T22:13:20Z"
        );
    }
}
