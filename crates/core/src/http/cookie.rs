//! The session cookie: finding it in a request, building `Set-Cookie`, and
//! removing it from the `Cookie` header forwarded to Supabase.

use crate::session::SessionSecret;
use cookie::{Cookie, SameSite};

/// The first valid session secret in the request's `Cookie` headers. A
/// forged, truncated or tampered value is ignored (the request is anonymous).
pub fn find_session_secret<'a>(
    cookie_headers: impl IntoIterator<Item = &'a str>,
    name: &str,
) -> Option<SessionSecret> {
    cookie_headers
        .into_iter()
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(|c| c.name() == name)
        .find_map(|c| SessionSecret::from_cookie_value(c.value()))
}

/// Whether any `Cookie` header has a cookie called `name`, valid or not.
pub fn has_cookie<'a>(cookie_headers: impl IntoIterator<Item = &'a str>, name: &str) -> bool {
    cookie_headers
        .into_iter()
        .flat_map(Cookie::split_parse)
        .any(|c| c.is_ok_and(|c| c.name() == name))
}

/// The `Cookie` header without the proxy's cookie; `None` when nothing is left.
pub fn strip_cookie(header: &str, name: &str) -> Option<String> {
    let kept: Vec<String> = Cookie::split_parse(header)
        .filter_map(Result::ok)
        .filter(|c| c.name() != name)
        .map(|c| c.stripped().to_string())
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

/// `Set-Cookie` for a new session.
pub fn set_cookie(name: &str, secret: &SessionSecret, max_age: u64, secure: bool) -> String {
    Cookie::build((name.to_string(), secret.cookie_value()))
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(cookie::time::Duration::seconds(max_age as i64))
        .build()
        .to_string()
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(name: &str, secure: bool) -> String {
    Cookie::build((name.to_string(), ""))
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(cookie::time::Duration::ZERO)
        .expires(cookie::time::OffsetDateTime::UNIX_EPOCH)
        .build()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::RandomSource;

    struct Ones;
    impl RandomSource for Ones {
        fn fill(&self, buf: &mut [u8]) {
            buf.fill(1);
        }
    }

    #[test]
    fn finds_the_session_among_other_cookies() {
        let secret = SessionSecret::generate(&Ones);
        let header = format!("a=1; sb-session={}; b=2", secret.cookie_value());
        assert_eq!(
            find_session_secret([header.as_str()], "sb-session"),
            Some(secret.clone())
        );
        let bad_first = format!("sb-session=forged; sb-session={}", secret.cookie_value());
        assert_eq!(
            find_session_secret([bad_first.as_str()], "sb-session"),
            Some(secret)
        );
        assert_eq!(
            find_session_secret(["sb-session=x\r\n"], "sb-session"),
            None
        );
        assert_eq!(find_session_secret([";;;=;"], "sb-session"), None);
        assert!(has_cookie(["a=1; sb-session=forged"], "sb-session"));
        assert!(!has_cookie(["a=1; sb-sessionx=1"], "sb-session"));
    }

    #[test]
    fn strips_only_the_session_cookie() {
        assert_eq!(
            strip_cookie("a=1; sb-session=x; b=2", "sb-session").as_deref(),
            Some("a=1; b=2")
        );
        assert_eq!(strip_cookie("sb-session=x", "sb-session"), None);
    }

    #[test]
    fn set_cookie_flags() {
        let value = set_cookie(
            "__Host-sb-session",
            &SessionSecret::generate(&Ones),
            60,
            true,
        );
        for part in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=60"] {
            assert!(value.contains(part), "{value} lacks {part}");
        }
        assert!(!set_cookie("s", &SessionSecret::generate(&Ones), 60, false).contains("Secure"));
        let clear = clear_cookie("s", false);
        assert!(
            clear.starts_with("s=;") && clear.contains("Max-Age=0"),
            "{clear}"
        );
    }
}
