//! The one place the session cookie is set or cleared: what the handler
//! asked for ([`CookieChange`]), or a clear when the cookie the browser
//! presented names a session that is gone.

use crate::body::Body;
use crate::pipeline::context::{CookieChange, Ctx, Presented};
use http::Response;
use http::header::{CACHE_CONTROL, HeaderValue, SET_COOKIE};
use sbp_core::config::Config;
use sbp_core::http::{clear_cookie, set_cookie};

/// The `Set-Cookie` value for a response, if it gets one.
fn set_cookie_value(
    config: &Config,
    change: &CookieChange,
    presented: &Presented,
) -> Option<String> {
    match (change, presented) {
        (CookieChange::Set(secret), _) => Some(set_cookie(
            &config.cookie_name,
            secret,
            config.session_ttl,
            config.secure_cookie(),
        )),
        (CookieChange::Clear, _) | (CookieChange::None, Presented::Stale(_)) => {
            Some(clear_cookie(&config.cookie_name, config.secure_cookie()))
        }
        (CookieChange::None, _) => None,
    }
}

/// Adds the `Set-Cookie` the request's outcome calls for and, as every
/// response that sets or clears the cookie must, `Cache-Control: no-store`.
pub fn apply(ctx: &Ctx, response: &mut Response<Body>) {
    let Some(cookie) = set_cookie_value(&ctx.app.config, &ctx.cookie, &ctx.presented) else {
        return;
    };
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        let headers = response.headers_mut();
        headers.append(SET_COOKIE, value);
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::session;
    use sbp_core::session::SessionSecret;
    use std::collections::HashMap;
    use std::sync::Arc;

    fn config() -> Config {
        let settings: HashMap<String, String> = [
            ("SUPABASE_URL", "http://127.0.0.1:54321"),
            ("SUPABASE_ANON_KEY", "anon"),
            ("PROXY_PUBLIC_URL", "https://app.example.com"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Config::load(&settings).unwrap()
    }

    fn secret() -> SessionSecret {
        SessionSecret::from_cookie_value(&"A".repeat(43)).unwrap()
    }

    #[test]
    fn the_handler_decides_and_a_gone_session_is_cleared() {
        let config = config();
        let name = &config.cookie_name;
        let live = Presented::Live(crate::pipeline::context::Live {
            key: secret().key(),
            session: Arc::new(session("s1", "token")),
        });
        let stale = Presented::Stale(secret().key());
        let cleared = clear_cookie(name, true);
        let set = set_cookie(name, &secret(), config.session_ttl, true);

        let new = CookieChange::Set(secret());
        assert_eq!(set_cookie_value(&config, &new, &stale).as_ref(), Some(&set));
        assert_eq!(
            set_cookie_value(&config, &CookieChange::Clear, &live).as_ref(),
            Some(&cleared)
        );
        assert_eq!(
            set_cookie_value(&config, &CookieChange::None, &stale).as_ref(),
            Some(&cleared)
        );
        assert_eq!(set_cookie_value(&config, &CookieChange::None, &live), None);
        assert_eq!(
            set_cookie_value(&config, &CookieChange::None, &Presented::Anonymous),
            None
        );
    }
}
