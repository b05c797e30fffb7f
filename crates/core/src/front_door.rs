//! The front door's header policy (`PROXY_APP_URL`): what of a browser's
//! request the app behind the proxy receives, and what of the app's answer
//! the browser gets. The identity itself is [`crate::identity`].

use http::HeaderName;

/// Headers of the browser's request the proxy sets itself for the app (or,
/// `Forwarded`, drops): `Host` is the app's, `Cookie` loses the proxy's
/// cookie, `X-Forwarded-*` describe the browser's connection, and an
/// `X-Supabase-Identity` only ever comes from the proxy.
pub fn replaced_for_app(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "host"
            | "cookie"
            | "forwarded"
            | "x-forwarded-for"
            | "x-forwarded-proto"
            | "x-forwarded-host"
            | crate::identity::IDENTITY_HEADER
    )
}

/// Whether a `Set-Cookie` of the app's may reach the browser: every one but
/// the proxy's own cookie (which would replace or clear the session). One
/// that cannot be parsed passes: the browser ignores it as it would without
/// the proxy.
pub fn app_cookie_allowed(set_cookie: &str, proxy_cookie: &str) -> bool {
    cookie::Cookie::parse(set_cookie).map_or(true, |c| !c.name().eq_ignore_ascii_case(proxy_cookie))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_apps_cookies_pass_but_the_proxys_own() {
        assert!(app_cookie_allowed("theme=dark; Path=/", "sb-session"));
        assert!(app_cookie_allowed(
            "sb-access-token=x; Path=/",
            "sb-session"
        ));
        assert!(!app_cookie_allowed(
            "sb-session=forged; Path=/",
            "sb-session"
        ));
        assert!(!app_cookie_allowed("SB-Session=; Max-Age=0", "sb-session"));
        assert!(!app_cookie_allowed(
            "__Host-sb-session=x; Secure; Path=/",
            "__Host-sb-session"
        ));
    }

    #[test]
    fn the_identity_and_forwarding_headers_are_the_proxys() {
        for name in [
            "x-supabase-identity",
            "cookie",
            "host",
            "x-forwarded-for",
            "forwarded",
        ] {
            assert!(replaced_for_app(&HeaderName::from_static(name)), "{name}");
        }
        for name in ["authorization", "accept", "x-custom"] {
            assert!(!replaced_for_app(&HeaderName::from_static(name)), "{name}");
        }
    }
}
