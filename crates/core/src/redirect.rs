//! Where the redirect flows (`/edge/v1/authorize`, `/callback`, `/confirm`)
//! may send the browser: the `next` parameter, checked so the proxy is never
//! an open redirect.
//!
//! `next` is accepted as a path on the app, taken under the public URL's
//! base path (`/after` is `<PROXY_PUBLIC_URL>/after`), or as an absolute
//! `http(s)` URL on an origin in `PROXY_ALLOWED_ORIGINS` without user info.
//! It is resolved the way a browser resolves a `Location` (WHATWG URL
//! parsing: backslashes are slashes, dot segments collapse), and the
//! resolved URL is what is checked and sent. Anything else, and any value
//! with a control character or a space (browsers drop tabs and newlines, so
//! `/\t/evil` would become `//evil`), falls back to the app's root.

use crate::config::{Origin, PublicUrl};
use url::Url;

/// The app's root: `<PROXY_PUBLIC_URL>/`.
pub fn app_root(public: &PublicUrl) -> String {
    format!("{}{}/", public.origin().as_str(), public.base_path())
}

/// Whether `url` is on the public URL's origin and under its base path.
fn under_base(url: &Url, public: &PublicUrl) -> bool {
    let base = public.base_path();
    url.origin().ascii_serialization() == public.origin().as_str()
        && url
            .path()
            .strip_prefix(base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The URL the browser is sent to for `next`: the checked, resolved URL,
/// or [`app_root`] when `next` is missing or not allowed.
pub fn safe_next(next: Option<&str>, public: &PublicUrl, allowed: &[Origin]) -> String {
    next.and_then(|next| resolve(next, public, allowed))
        .unwrap_or_else(|| app_root(public))
}

fn resolve(next: &str, public: &PublicUrl, allowed: &[Origin]) -> Option<String> {
    if next.is_empty() || next.chars().any(|c| c <= ' ' || c == '\u{7f}') {
        return None;
    }
    let url = if next.starts_with('/') {
        // A path: not `//host` or `/\host`, which browsers read as another host.
        if matches!(next.as_bytes().get(1), Some(b'/' | b'\\')) {
            return None;
        }
        let url = Url::parse(&format!("{}{next}", app_root(public).trim_end_matches('/'))).ok()?;
        under_base(&url, public).then_some(url)?
    } else {
        let url = Url::parse(next).ok()?;
        let origin = url.origin().ascii_serialization();
        let on_allowed = allowed.iter().any(|o| o.matches(&origin));
        let plain = matches!(url.scheme(), "http" | "https")
            && url.username().is_empty()
            && url.password().is_none();
        (plain && (on_allowed || under_base(&url, public))).then_some(url)?
    };
    Some(url.into())
}

/// `target` with `params` added to its query.
pub fn with_params(target: &str, params: &[(&str, &str)]) -> String {
    match Url::parse(target) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(params);
            url.into()
        }
        // Every target comes from `safe_next`, which only returns URLs.
        Err(_) => target.to_string(),
    }
}

/// `target` with `error` and `error_description` added to its query (the
/// way the redirect flows report a failure to the app).
pub fn with_error(target: &str, error: &str, description: &str) -> String {
    with_params(
        target,
        &[("error", error), ("error_description", description)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public() -> PublicUrl {
        PublicUrl::parse("https://app.example.com/supabase").unwrap()
    }

    fn allowed() -> Vec<Origin> {
        vec![
            Origin::parse("https://app.example.com").unwrap(),
            Origin::parse("https://admin.example.com").unwrap(),
        ]
    }

    fn next(value: &str) -> String {
        safe_next(Some(value), &public(), &allowed())
    }

    const ROOT: &str = "https://app.example.com/supabase/";

    #[test]
    fn app_paths_are_taken_under_the_base_path() {
        assert_eq!(next("/after"), "https://app.example.com/supabase/after");
        assert_eq!(
            next("/a/b?x=1&y=%2F#frag"),
            "https://app.example.com/supabase/a/b?x=1&y=%2F#frag"
        );
        assert_eq!(next("/"), ROOT);
        // Encoded slashes stay in the path, on the app.
        assert_eq!(
            next("/%2f%2fevil.example"),
            "https://app.example.com/supabase/%2f%2fevil.example"
        );
        assert_eq!(
            next("/%5cevil.example"),
            "https://app.example.com/supabase/%5cevil.example"
        );
        assert_eq!(safe_next(None, &public(), &allowed()), ROOT);
    }

    #[test]
    fn urls_on_allowed_origins_are_kept() {
        assert_eq!(
            next("https://admin.example.com/done?x=1"),
            "https://admin.example.com/done?x=1"
        );
        assert_eq!(
            next("https://app.example.com/elsewhere"),
            "https://app.example.com/elsewhere"
        );
        let none: Vec<Origin> = Vec::new();
        assert_eq!(
            safe_next(Some("https://app.example.com/supabase/x"), &public(), &none),
            "https://app.example.com/supabase/x",
            "under the public URL even with no allowed origin listed"
        );
        assert_eq!(
            safe_next(Some("https://app.example.com/x"), &public(), &none),
            ROOT
        );
    }

    #[test]
    fn open_redirect_tricks_fall_back_to_the_root() {
        for trick in [
            "//evil.example",
            "//evil.example/path",
            "/\\evil.example",
            "\\\\evil.example",
            "\\/evil.example",
            "https:evil.example",
            "https:/evil.example",
            "http://evil.example",
            "https://evil.example/supabase/after",
            "HTTPS://EVIL.EXAMPLE",
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "/\t/evil.example",
            "/\n/evil.example",
            "\t//evil.example",
            " /after",
            "/after\r\nSet-Cookie: x=1",
            "https://app.example.com@evil.example",
            "https://app.example.com:@evil.example/",
            "https://user:pass@app.example.com/",
            "https://app.example.com.evil.example/",
            "https://app.example.com:8443/",
            "http://app.example.com/",
            "https://admin.example.com:444/",
            "/..",
            "/../../elsewhere",
            "/..\\..\\elsewhere",
            "/%2e%2e/elsewhere",
            "evil.example",
            "after",
            "",
            "ftp://app.example.com/",
        ] {
            assert_eq!(next(trick), ROOT, "{trick:?}");
        }
    }

    #[test]
    fn a_root_public_url_has_the_root_as_its_app() {
        let public = PublicUrl::parse("http://127.0.0.1:8787").unwrap();
        assert_eq!(app_root(&public), "http://127.0.0.1:8787/");
        assert_eq!(
            safe_next(Some("/after"), &public, &[]),
            "http://127.0.0.1:8787/after"
        );
        assert_eq!(
            safe_next(Some("//evil.example"), &public, &[]),
            "http://127.0.0.1:8787/"
        );
    }

    #[test]
    fn errors_go_in_the_query() {
        assert_eq!(
            with_error(
                "https://app.example.com/supabase/after?x=1#f",
                "access_denied",
                "The user said no & left"
            ),
            "https://app.example.com/supabase/after?x=1&error=access_denied&error_description=The+user+said+no+%26+left#f"
        );
    }
}
