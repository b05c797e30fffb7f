//! A browser connection: where it comes from, its upstream lane, and what
//! its requests have in common, worked out once. A keep-alive connection
//! sends the same `Cookie` header with every request, so the session key
//! derived from it (a base64 decode, a SHA-256 and an encode) is remembered
//! with a copy of the header; so are the `X-Forwarded-For` value and the
//! session's `Authorization` value (a copy of a kilobyte-long token).

use crate::sync::lock;
use crate::upstream::Lane;
use crate::upstream::bearer;
use http::header::{GetAll, HeaderValue};
use sbp_core::ProxyError;
use sbp_core::http::find_session_secret;
use sbp_core::session::{Session, SessionKey};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};

struct SessionCookie {
    header: Box<[u8]>,
    cookie_name: Box<str>,
    key: SessionKey,
}

pub struct Connection {
    pub peer: SocketAddr,
    pub lane: Lane,
    /// The last `Cookie` header that named a session, and that session's key.
    session_cookie: Mutex<Option<SessionCookie>>,
    /// The last client address and its `X-Forwarded-For` value.
    forwarded_for: Mutex<Option<(IpAddr, HeaderValue)>>,
    /// The last session forwarded for and its `Bearer` value.
    bearer: Mutex<Option<(Weak<Session>, HeaderValue)>>,
}

impl Connection {
    pub fn new(peer: SocketAddr, lane: Lane) -> Arc<Connection> {
        Arc::new(Connection {
            peer,
            lane,
            session_cookie: Mutex::new(None),
            forwarded_for: Mutex::new(None),
            bearer: Mutex::new(None),
        })
    }

    /// The key of the session the request's `Cookie` headers name, if any.
    pub fn session_key(
        &self,
        cookies: GetAll<'_, HeaderValue>,
        cookie_name: &str,
    ) -> Option<SessionKey> {
        let mut values = cookies.iter();
        let single = match (values.next(), values.next()) {
            (Some(value), None) => Some(value.as_bytes()),
            _ => None,
        };
        if let Some(header) = single
            && let Some(seen) = &*lock(&self.session_cookie)
            && *seen.header == *header
            && *seen.cookie_name == *cookie_name
        {
            return Some(seen.key.clone());
        }
        let texts = cookies.iter().filter_map(|v| v.to_str().ok());
        let key = find_session_secret(texts, cookie_name)?.key();
        if let Some(header) = single {
            *lock(&self.session_cookie) = Some(SessionCookie {
                header: header.into(),
                cookie_name: cookie_name.into(),
                key: key.clone(),
            });
        }
        Some(key)
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
    /// `Bearer <access token>` of `session`: the same value for as long as
    /// requests present the same `Arc` (a refreshed or touched session is a
    /// new one). An access token that is not a valid header value is refused.
    pub fn bearer(&self, session: &Arc<Session>) -> Result<HeaderValue, ProxyError> {
        let mut memo = lock(&self.bearer);
        if let Some((seen, value)) = &*memo
            && seen
                .upgrade()
                .is_some_and(|seen| Arc::ptr_eq(&seen, session))
        {
            return Ok(value.clone());
        }
        let value = bearer(&session.tokens.access_token).ok_or(ProxyError::Internal)?;
        *memo = Some((Arc::downgrade(session), value.clone()));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coarse_timer::CoarseTimer;
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
        let connection = Connection::new(
            "127.0.0.1:1".parse().unwrap(),
            Lane::new(CoarseTimer::new()),
        );
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

    fn session(access_token: &str) -> Arc<Session> {
        Arc::new(crate::test_support::session("s", access_token))
    }

    #[tokio::test]
    async fn the_bearer_is_the_presented_sessions_token() {
        let connection = Connection::new(
            "127.0.0.1:1".parse().unwrap(),
            Lane::new(CoarseTimer::new()),
        );
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
    async fn forwarded_for_follows_the_client_address() {
        let connection = Connection::new(
            "127.0.0.1:1".parse().unwrap(),
            Lane::new(CoarseTimer::new()),
        );
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(connection.forwarded_for(a).unwrap(), "10.0.0.1");
        assert_eq!(connection.forwarded_for(a).unwrap(), "10.0.0.1");
        assert_eq!(connection.forwarded_for(b).unwrap(), "2001:db8::1");
    }
}
