//! What of an Auth answer may reach the browser, once the proxy has read it.
//!
//! The rule is that the proxy never relays an Auth answer it has not read:
//! a redirect loses its body (Go's `http.Redirect` repeats the `Location`
//! there, fragment tokens included), a JSON body is scrubbed of tokens, a
//! JSON body that does not parse and any other body that carries a token are
//! refused, and upstream cookies that name or carry a token are dropped.

use super::scrub::{SECRET_FIELDS, scrub_json};

/// An Auth answer the proxy cannot vouch for: the browser gets 502
/// `upstream_unreadable` instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub &'static str);

/// What the browser gets of an Auth answer's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrowserBody {
    /// The body as Auth sent it (it carries no token).
    Unchanged,
    /// No body: the answer is a redirect.
    Empty,
    /// The body with its tokens removed.
    Scrubbed(Vec<u8>),
}

/// Decides what the browser gets of an Auth answer with this status,
/// `Content-Type` and (decoded) body.
pub fn browser_body(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<BrowserBody, Unreadable> {
    if (300..400).contains(&status) {
        return Ok(BrowserBody::Empty);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(BrowserBody::Unchanged);
    }
    let says_json = content_type.is_some_and(|t| t.to_ascii_lowercase().contains("json"));
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(mut value) => Ok(if scrub_json(&mut value) {
            BrowserBody::Scrubbed(value.to_string().into_bytes())
        } else if has_jwt(body) {
            // A token outside the fields the scrubber knows (a field's name
            // in a message is no token: the scrubber removed every field
            // of that name): the answer is not one the proxy understands.
            return Err(Unreadable(
                "Auth answered with a token in an unexpected place",
            ));
        } else {
            BrowserBody::Unchanged
        }),
        Err(_) if says_json => Err(Unreadable("Auth's JSON answer does not parse")),
        Err(_) if carries_token(body) => Err(Unreadable("Auth's non-JSON answer carries a token")),
        Err(_) => Ok(BrowserBody::Unchanged),
    }
}

/// Whether `text` holds something that looks like a Supabase token: a
/// secret field's name (as in `#access_token=...`) or a JWT.
pub fn carries_token(text: &[u8]) -> bool {
    SECRET_FIELDS
        .iter()
        .any(|field| contains_ignoring_case(text, field.as_bytes()))
        || has_jwt(text)
}

/// Whether `haystack` contains `needle` (lower case), in any case.
fn contains_ignoring_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Whether `text` contains `eyJ….eyJ….`: a JWT's header and claims (both
/// base64url JSON objects, so both start with `eyJ`) and the dot before its
/// signature.
fn has_jwt(text: &[u8]) -> bool {
    let segment_end = |from: usize| {
        from + text[from..]
            .iter()
            .take_while(|&&b| is_base64url(b))
            .count()
    };
    let starts_object = |at: usize| text.get(at..at + 3) == Some(b"eyJ");
    (0..text.len()).any(|start| {
        if !starts_object(start) {
            return false;
        }
        let header_end = segment_end(start);
        if text.get(header_end) != Some(&b'.') || !starts_object(header_end + 1) {
            return false;
        }
        let claims_end = segment_end(header_end + 1);
        text.get(claims_end) == Some(&b'.')
    })
}

/// Cookie names that hold Supabase tokens (older GoTrue versions set them).
const TOKEN_COOKIES: &[&str] = &["sb-access-token", "sb-refresh-token"];

/// Whether an upstream `Set-Cookie` may reach the browser: never when it
/// names a token cookie or the proxy's own cookie, nor, on Auth's answers
/// (`from_auth`), when it carries a token or cannot be parsed.
pub fn upstream_cookie_allowed(set_cookie: &str, proxy_cookie: &str, from_auth: bool) -> bool {
    let Ok(cookie) = cookie::Cookie::parse(set_cookie) else {
        return !from_auth;
    };
    let name = cookie.name();
    let named_token = TOKEN_COOKIES
        .iter()
        .chain(std::iter::once(&proxy_cookie))
        .any(|n| n.eq_ignore_ascii_case(name));
    // Named ones are refused without reading their value.
    if named_token {
        return false;
    }
    !from_auth || !carries_token(set_cookie.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJl";

    #[test]
    fn redirects_lose_their_body() {
        let html = format!("<a href=\"https://app/cb#access_token={JWT}\">See Other</a>.\n\n");
        for status in [301, 302, 303, 307] {
            assert_eq!(
                browser_body(status, Some("text/html"), html.as_bytes()),
                Ok(BrowserBody::Empty)
            );
        }
    }

    #[test]
    fn json_is_scrubbed_and_unparseable_json_refused() {
        let body = format!(r#"{{"user":{{"id":"u"}},"session":{{"access_token":"{JWT}"}}}}"#);
        let Ok(BrowserBody::Scrubbed(clean)) =
            browser_body(200, Some("application/json"), body.as_bytes())
        else {
            panic!("a nested token must be scrubbed");
        };
        assert_eq!(clean, br#"{"session":{},"user":{"id":"u"}}"#);
        assert_eq!(
            browser_body(200, Some("application/json"), br#"{"id":"u"}"#),
            Ok(BrowserBody::Unchanged)
        );
        assert!(
            browser_body(
                200,
                Some("application/json; charset=utf-8"),
                b"{\"access_tok"
            )
            .is_err()
        );
        // Compressed bytes the proxy failed to decode are not JSON either.
        assert!(browser_body(200, Some("application/json"), &[0x1f, 0x8b, 8, 0, 0]).is_err());
        // JSON under another content type is still read and scrubbed.
        assert!(matches!(
            browser_body(
                200,
                Some("text/plain"),
                format!(r#"{{"refresh_token":"{JWT}"}}"#).as_bytes()
            ),
            Ok(BrowserBody::Scrubbed(_))
        ));
        // A token under an unknown name in JSON is refused, not relayed.
        assert!(browser_body(200, None, format!(r#"{{"t":"{JWT}"}}"#).as_bytes()).is_err());
    }

    #[test]
    fn other_bodies_are_relayed_only_without_tokens() {
        assert_eq!(
            browser_body(403, Some("text/html"), b"<h1>Access denied</h1>"),
            Ok(BrowserBody::Unchanged)
        );
        assert!(browser_body(200, Some("text/html"), format!("<p>{JWT}</p>").as_bytes()).is_err());
        assert!(browser_body(200, Some("text/plain"), b"refresh_token=abc").is_err());
        assert_eq!(browser_body(204, None, b""), Ok(BrowserBody::Unchanged));
    }

    #[test]
    fn jwts_are_found_anywhere_and_only_jwts() {
        assert!(has_jwt(JWT.as_bytes()));
        assert!(has_jwt(format!("Bearer {JWT}; path=/").as_bytes()));
        assert!(!has_jwt(b"eyJhbGciOiJIUzI1NiJ9 is a header alone"));
        assert!(!has_jwt(b"eyJ.eyJ"));
        assert!(!carries_token(
            b"{\"id\":\"u\",\"email\":\"a@example.com\"}"
        ));
    }

    #[test]
    fn token_cookies_and_the_proxys_own_never_pass() {
        assert!(!upstream_cookie_allowed(
            "sb-access-token=x; Path=/",
            "sb-session",
            false
        ));
        assert!(!upstream_cookie_allowed(
            "SB-Refresh-Token=x",
            "sb-session",
            false
        ));
        assert!(!upstream_cookie_allowed(
            "sb-session=forged; HttpOnly",
            "sb-session",
            false
        ));
        assert!(upstream_cookie_allowed(
            "theme=dark; Path=/",
            "sb-session",
            false
        ));
        assert!(upstream_cookie_allowed(
            "theme=dark; Path=/",
            "sb-session",
            true
        ));
        // On Auth's answers, any cookie carrying a token is dropped.
        let carrying = format!("other={JWT}; Path=/");
        assert!(!upstream_cookie_allowed(&carrying, "sb-session", true));
        assert!(upstream_cookie_allowed(&carrying, "sb-session", false));
        assert!(!upstream_cookie_allowed("not a cookie", "sb-session", true));
    }
}
