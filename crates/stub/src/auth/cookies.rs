//! The token cookies GoTrue set before v2.159 (`sb-access-token`,
//! `sb-refresh-token`: `Path=/; HttpOnly; Secure`, a day long) on every
//! answer that issued a session, when [`crate::StubConfig::legacy_cookies`] is on.

use cookie::Cookie;
use http::header::SET_COOKIE;
use http::{HeaderValue, Response, StatusCode};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use crate::response::{StubBody, json};
use crate::state::Shared;

/// `GOTRUE_COOKIE_DURATION`'s default, in seconds.
const COOKIE_DURATION: i64 = 86_400;

/// A 200 token response, with the legacy cookies when they are on.
pub(super) fn token_answer(shared: &Shared, tokens: &Value) -> Response<StubBody> {
    let mut response = json(StatusCode::OK, tokens);
    add_legacy_cookies(shared, &mut response, tokens);
    response
}

/// Adds `sb-access-token` and `sb-refresh-token` for `tokens` when the habit is on.
pub(super) fn add_legacy_cookies(
    shared: &Shared,
    response: &mut Response<StubBody>,
    tokens: &Value,
) {
    if !shared.config.legacy_cookies {
        return;
    }
    for (name, key) in [
        ("sb-access-token", "access_token"),
        ("sb-refresh-token", "refresh_token"),
    ] {
        let Some(value) = tokens[key].as_str() else {
            continue;
        };
        let cookie = Cookie::build((name, value))
            .path("/")
            .expires(OffsetDateTime::now_utc() + Duration::seconds(COOKIE_DURATION))
            .max_age(Duration::seconds(COOKIE_DURATION))
            .http_only(true)
            .secure(true)
            .build();
        if let Ok(header) = HeaderValue::from_str(&cookie.to_string()) {
            response.headers_mut().append(SET_COOKIE, header);
        }
    }
}
