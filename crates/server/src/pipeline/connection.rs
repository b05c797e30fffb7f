//! A browser connection: where it comes from, and what
//! its requests have in common, worked out once. A keep-alive connection
//! sends the same `Cookie` header with every request, so what it means is
//! remembered with a copy of the header: the session key derived from it (a
//! base64 decode, a SHA-256 and an encode) and the `Cookie` header forwarded
//! upstream (the cookies parsed, the proxy's removed). So are the
//! `X-Forwarded-For` value, the session's `Authorization` value (a copy of
//! a kilobyte-long token) and its `GET /edge/v1/session` body (the user
//! object serialised).

use crate::sync::lock;
use crate::upstream::{bearer, forwarded_cookie};
use bytes::Bytes;
use http::header::{GetAll, HeaderValue};
use sbp_core::ProxyError;
use sbp_core::http::find_session_secret;
use sbp_core::session::{Session, SessionKey};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};

/// What a request's `Cookie` headers mean to the proxy.
struct Cookies {
    /// The key of the session they name.
    key: Option<SessionKey>,
    /// The `Cookie` header to forward upstream.
    forwarded: Option<HeaderValue>,
}

impl Cookies {
    fn read(cookies: GetAll<'_, HeaderValue>, cookie_name: &str) -> Cookies {
        let texts = cookies.iter().filter_map(|v| v.to_str().ok());
        Cookies {
            key: find_session_secret(texts, cookie_name).map(|secret| secret.key()),
            forwarded: forwarded_cookie(cookies, cookie_name),
        }
    }
}

/// The last single `Cookie` header seen, for which cookie name, and its meaning.
struct SeenCookies {
    header: Box<[u8]>,
    cookie_name: Box<str>,
    meaning: Cookies,
}

pub struct Connection {
    pub peer: SocketAddr,
    seen_cookies: Mutex<Option<SeenCookies>>,
    /// The last client address and its `X-Forwarded-For` value.
    forwarded_for: Mutex<Option<(IpAddr, HeaderValue)>>,
    /// The last session forwarded for and its `Bearer` value.
    bearer: PerSession<HeaderValue>,
    /// The last session answered on `GET /edge/v1/session` and its body.
    session_body: PerSession<Bytes>,
}

/// A value worked out from a session, kept for as long as requests present
/// the same `Arc` (a refreshed or touched session is a new one).
struct PerSession<T>(Mutex<Option<(Weak<Session>, T)>>);

impl<T: Clone> PerSession<T> {
    fn new() -> Self {
        PerSession(Mutex::new(None))
    }

    fn get_or<E>(
        &self,
        session: &Arc<Session>,
        make: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        let mut memo = lock(&self.0);
        if let Some((seen, value)) = &*memo
            && seen
                .upgrade()
                .is_some_and(|seen| Arc::ptr_eq(&seen, session))
        {
            return Ok(value.clone());
        }
        let value = make()?;
        *memo = Some((Arc::downgrade(session), value.clone()));
        Ok(value)
    }
}

impl Connection {
    pub fn new(peer: SocketAddr) -> Arc<Connection> {
        Arc::new(Connection {
            peer,
            seen_cookies: Mutex::new(None),
            forwarded_for: Mutex::new(None),
            bearer: PerSession::new(),
            session_body: PerSession::new(),
        })
    }

    /// The key of the session the request's `Cookie` headers name, if any.
    pub fn session_key(
        &self,
        cookies: GetAll<'_, HeaderValue>,
        cookie_name: &str,
    ) -> Option<SessionKey> {
        self.cookies(cookies, cookie_name, |meaning| meaning.key.clone())
    }

    /// The request's `Cookie` header as forwarded upstream (see
    /// [`forwarded_cookie`]).
    pub fn forwarded_cookie(
        &self,
        cookies: GetAll<'_, HeaderValue>,
        cookie_name: &str,
    ) -> Option<HeaderValue> {
        self.cookies(cookies, cookie_name, |meaning| meaning.forwarded.clone())
    }

    /// `pick` of what the `Cookie` headers mean; a single header is remembered.
    fn cookies<T>(
        &self,
        cookies: GetAll<'_, HeaderValue>,
        cookie_name: &str,
        pick: impl Fn(&Cookies) -> Option<T>,
    ) -> Option<T> {
        let mut values = cookies.iter();
        let (Some(header), None) = (values.next(), values.next()) else {
            return pick(&Cookies::read(cookies, cookie_name));
        };
        let header = header.as_bytes();
        let mut seen = lock(&self.seen_cookies);
        match &*seen {
            Some(seen) if *seen.header == *header && *seen.cookie_name == *cookie_name => {
                pick(&seen.meaning)
            }
            _ => {
                let meaning = Cookies::read(cookies, cookie_name);
                let picked = pick(&meaning);
                *seen = Some(SeenCookies {
                    header: header.into(),
                    cookie_name: cookie_name.into(),
                    meaning,
                });
                picked
            }
        }
    }

    /// `X-Forwarded-For` for a request from `client`.
    pub fn forwarded_for(&self, client: IpAddr) -> Option<HeaderValue> {
        let mut memo = lock(&self.forwarded_for);
        match &*memo {
            Some((ip, value)) if *ip == client => Some(value.clone()),
            _ => {
                let value = HeaderValue::try_from(client.to_string()).ok()?;
                *memo = Some((client, value.clone()));
                Some(value)
            }
        }
    }
}

impl Connection {
    /// `Bearer <access token>` of `session`. An access token that is not a
    /// valid header value is refused.
    pub fn bearer(&self, session: &Arc<Session>) -> Result<HeaderValue, ProxyError> {
        self.bearer.get_or(session, || {
            bearer(&session.tokens.access_token).ok_or(ProxyError::Internal)
        })
    }

    /// The body of `GET /edge/v1/session` for `session`, made by `make`.
    pub fn session_body(
        &self,
        session: &Arc<Session>,
        make: impl FnOnce() -> Result<Bytes, ProxyError>,
    ) -> Result<Bytes, ProxyError> {
        self.session_body.get_or(session, make)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::OsRandom;
    use http::HeaderMap;
    use http::header::COOKIE;
    use sbp_core::session::SessionSecret;

    fn cookies(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(COOKIE, v.parse().unwrap());
        }
        headers
    }

    #[tokio::test]
    async fn the_session_key_is_the_cookies_whether_remembered_or_not() {
        let connection = Connection::new("127.0.0.1:1".parse().unwrap());
        let (one, two) = (
            SessionSecret::generate(&OsRandom),
            SessionSecret::generate(&OsRandom),
        );
        let first = cookies(&[&format!("a=1; sb-session={}", one.cookie_value())]);
        let second = cookies(&[&format!("sb-session={}", two.cookie_value())]);
        for _ in 0..2 {
            let key = connection.session_key(first.get_all(COOKIE), "sb-session");
            assert_eq!(key, Some(one.key()));
        }
        let key = connection.session_key(second.get_all(COOKIE), "sb-session");
        assert_eq!(
            key,
            Some(two.key()),
            "another cookie is not the remembered one"
        );
        let split = cookies(&["a=1", &format!("sb-session={}", one.cookie_value())]);
        let key = connection.session_key(split.get_all(COOKIE), "sb-session");
        assert_eq!(
            key,
            Some(one.key()),
            "two Cookie headers are read, not remembered"
        );
        assert_eq!(
            connection.session_key(cookies(&["a=1"]).get_all(COOKIE), "sb-session"),
            None
        );
        assert_eq!(
            connection.session_key(second.get_all(COOKIE), "other"),
            None
        );
    }

    #[tokio::test]
    async fn the_forwarded_cookie_follows_the_header_whether_remembered_or_not() {
        let connection = Connection::new("127.0.0.1:1".parse().unwrap());
        let forwarded = |values: &[&str], name: &str| {
            connection.forwarded_cookie(cookies(values).get_all(COOKIE), name)
        };
        for _ in 0..2 {
            assert_eq!(
                forwarded(&["a=1; sb-session=x; b=2"], "sb-session").unwrap(),
                "a=1; b=2"
            );
        }
        // The session key and the forwarded header come from one reading.
        let secret = SessionSecret::generate(&OsRandom);
        let both = cookies(&[&format!("sb-session={}; c=3", secret.cookie_value())]);
        assert_eq!(
            connection.session_key(both.get_all(COOKIE), "sb-session"),
            Some(secret.key())
        );
        assert_eq!(
            connection
                .forwarded_cookie(both.get_all(COOKIE), "sb-session")
                .unwrap(),
            "c=3"
        );
        assert_eq!(forwarded(&["sb-session=x"], "sb-session"), None);
        assert_eq!(
            forwarded(&["sb-session=x"], "other").unwrap(),
            "sb-session=x",
            "another cookie name is not the remembered one"
        );
        assert_eq!(
            forwarded(&["a=1", "sb-session=x", "b=2"], "sb-session").unwrap(),
            "a=1; b=2",
            "several Cookie headers are joined, not remembered"
        );
        assert_eq!(forwarded(&[], "sb-session"), None);
    }

    fn session(access_token: &str) -> Arc<Session> {
        Arc::new(crate::test_support::session("s", access_token))
    }

    #[tokio::test]
    async fn the_bearer_is_the_presented_sessions_token() {
        let connection = Connection::new("127.0.0.1:1".parse().unwrap());
        let first = session("token-1");
        assert_eq!(connection.bearer(&first).unwrap(), "Bearer token-1");
        assert_eq!(connection.bearer(&first).unwrap(), "Bearer token-1");
        // A refreshed session is a new Arc, with a new token.
        let refreshed = session("token-2");
        assert_eq!(connection.bearer(&refreshed).unwrap(), "Bearer token-2");
        // The remembered session was dropped and another took its place.
        drop(first);
        let other = session("token-3");
        assert_eq!(connection.bearer(&other).unwrap(), "Bearer token-3");
        assert!(connection.bearer(&session("bad\ntoken")).is_err());
    }

    #[tokio::test]
    async fn the_session_body_is_made_once_per_session() {
        let connection = Connection::new("127.0.0.1:1".parse().unwrap());
        let made = std::cell::Cell::new(0);
        let body = |session: &Arc<Session>, text: &'static str| {
            connection
                .session_body(session, || {
                    made.set(made.get() + 1);
                    Ok(Bytes::from_static(text.as_bytes()))
                })
                .unwrap()
        };
        let first = session("token-1");
        assert_eq!(body(&first, "one"), "one");
        assert_eq!(body(&first, "ignored"), "one");
        assert_eq!(made.get(), 1);
        // A touched or refreshed session is a new Arc: a new body.
        let touched = session("token-1");
        assert_eq!(body(&touched, "two"), "two");
        assert_eq!(made.get(), 2);
    }

    #[tokio::test]
    async fn forwarded_for_follows_the_client_address() {
        let connection = Connection::new("127.0.0.1:1".parse().unwrap());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(connection.forwarded_for(a).unwrap(), "10.0.0.1");
        assert_eq!(connection.forwarded_for(a).unwrap(), "10.0.0.1");
        assert_eq!(connection.forwarded_for(b).unwrap(), "2001:db8::1");
    }
}
