//! Where Auth sends the browser back to: the redirect allow list as GoTrue
//! applies it to `redirect_to` (`IsRedirectURLValid` in
//! `internal/utilities/request.go`), and the error redirects of its OAuth
//! callback (`redirectErrors` in `internal/api/external.go`).
//!
//! A `redirect_to` is accepted when it has no control character or space
//! and either has the Site URL's scheme, host and port (any port for a
//! loopback host), or has a loopback IP address as its host, or matches a
//! pattern of `URI_ALLOW_LIST` (the fragment cut off first). A decimal IP
//! host (`http://2130706433/`), another IP address, an http(s) host with
//! unusual characters, and an http(s) URL that does not parse are refused
//! before the list is looked at. A refused `redirect_to` is not an error:
//! Auth falls back to the Site URL. Patterns are globs (gobwas/glob) with
//! `.` and `/` as separators: `*` matches within a label or segment, `**`
//! across them, `?` one character that is not a separator; the stub
//! supports those three.

use std::net::IpAddr;

use http::Response;
use http::StatusCode;

use crate::request::Req;
use crate::response::{StubBody, redirect};
use crate::state::Shared;

/// The scheme, host and port of an absolute URL, if it has them.
fn parts(url: &str) -> Option<(String, String, Option<String>)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    Some((
        scheme.to_ascii_lowercase(),
        host.to_ascii_lowercase(),
        port.map(str::to_owned),
    ))
}

fn is_loopback_name(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether Auth accepts `redirect_to` for a project with `site_url` and `allow_list`.
pub(crate) fn is_allowed(site_url: &str, allow_list: &[String], redirect_to: &str) -> bool {
    if redirect_to.is_empty() || redirect_to.chars().any(|c| c <= ' ' || c == '\u{7f}') {
        return false;
    }
    let lower = redirect_to.to_ascii_lowercase();
    let is_http = lower.starts_with("http:") || lower.starts_with("https:");
    match parts(redirect_to) {
        Some((scheme, host, port)) => {
            if let Some((site_scheme, site_host, site_port)) = parts(site_url)
                && site_host == host
                && site_scheme == scheme
                && (site_port == port || is_loopback_name(&host))
            {
                return true;
            }
            if !host.is_empty() && host.bytes().all(|b| b.is_ascii_digit()) {
                return false;
            }
            if let Ok(ip) = host.parse::<IpAddr>() {
                return ip.is_loopback();
            }
            let regular = host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
                && !host.starts_with(['.', '-'])
                && !host.ends_with(['.', '-'])
                && !host.is_empty();
            if is_http && !regular {
                return false;
            }
        }
        // An http(s) URL that does not parse is refused outright.
        None if is_http => return false,
        None => {}
    }
    let without_fragment = redirect_to.split('#').next().unwrap_or_default();
    allow_list
        .iter()
        .any(|pattern| glob_matches(pattern.as_bytes(), without_fragment.as_bytes()))
}

/// gobwas/glob matching with `.` and `/` as separators (`*`, `**`, `?`).
fn glob_matches(pattern: &[u8], text: &[u8]) -> bool {
    let separator = |b: u8| b == b'.' || b == b'/';
    match pattern {
        [] => text.is_empty(),
        [b'*', b'*', rest @ ..] => (0..=text.len()).any(|i| glob_matches(rest, &text[i..])),
        [b'*', rest @ ..] => {
            let run = text.iter().take_while(|b| !separator(**b)).count();
            (0..=run).any(|i| glob_matches(rest, &text[i..]))
        }
        [b'?', rest @ ..] => {
            matches!(text.first(), Some(b) if !separator(*b)) && glob_matches(rest, &text[1..])
        }
        [p, rest @ ..] => text.first() == Some(p) && glob_matches(rest, &text[1..]),
    }
}

/// The project's Site URL: configured, or the stub's own URL.
pub(crate) fn site_url(shared: &Shared) -> String {
    shared
        .config
        .site_url
        .clone()
        .unwrap_or_else(|| shared.base_url.clone())
}

/// `redirect_to` from the query when Auth accepts it, else the Site URL.
pub(crate) fn checked_target(shared: &Shared, req: &Req) -> String {
    let site = site_url(shared);
    req.query_param("redirect_to")
        .filter(|r| is_allowed(&site, &shared.config.uri_allow_list, r))
        .unwrap_or(site)
}

/// The `error` GoTrue's `getErrorQueryString` gives an Auth error, from
/// its status (`oauthErrorMap`).
pub(crate) fn oauth_error_kind(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "invalid_request",
        401 => "unauthorized_client",
        403 => "access_denied",
        503 => "temporarily_unavailable",
        _ => "server_error",
    }
}

/// The callback's error redirect: 302 to `target` with `error`,
/// `error_code` (when given) and `error_description` in the query, and
/// again in the fragment followed by `sb` (a mark of Supabase Auth).
pub(crate) fn error_redirect(
    req: &Req,
    target: &str,
    error: &str,
    error_code: Option<&str>,
    description: &str,
) -> Response<StubBody> {
    let mut pairs = vec![("error", error)];
    if let Some(code) = error_code {
        pairs.push(("error_code", code));
    }
    pairs.push(("error_description", description));
    let encode = |extra: Option<(&str, &str)>| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.extend_pairs(pairs.iter().copied());
        if let Some(pair) = extra {
            query.append_pair(pair.0, pair.1);
        }
        query.finish()
    };
    let base = target.split('#').next().unwrap_or_default();
    let separator = if base.contains('?') { '&' } else { '?' };
    let location = format!(
        "{base}{separator}{}#{}",
        encode(None),
        encode(Some(("sb", "")))
    );
    redirect(&req.method, StatusCode::FOUND, &location)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: &str = "https://app.example.com";

    fn allowed(list: &[&str], url: &str) -> bool {
        let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        is_allowed(SITE, &list, url)
    }

    #[test]
    fn the_site_and_loopback_addresses_need_no_entry() {
        assert!(allowed(&[], "https://app.example.com/any/path?x=1"));
        assert!(!allowed(&[], "http://app.example.com/"), "another scheme");
        assert!(
            !allowed(&[], "https://app.example.com:8443/"),
            "another port"
        );
        assert!(allowed(&[], "http://127.0.0.1:5555/edge/v1/callback"));
        assert!(allowed(&[], "http://[::1]:5555/cb"));
        assert!(!allowed(&[], "http://10.0.0.1/cb"));
        assert!(!allowed(&["**"], "http://2130706433/"), "decimal IP");
        assert!(!allowed(&["**"], "\thttps://evil.example/"));
        assert!(!allowed(&["**"], "https://ev_il.example/"));
        assert!(
            !allowed(&[], "http://localhost:3000/cb"),
            "a name, not an IP"
        );
    }

    #[test]
    fn the_allow_list_is_globbed_with_dots_and_slashes_as_separators() {
        let list = ["https://*.example.org/cb", "http://localhost:3000/**"];
        assert!(allowed(&list, "https://a.example.org/cb"));
        assert!(!allowed(&list, "https://a.b.example.org/cb"));
        assert!(
            !allowed(&list, "https://a.example.org/cb?x=1"),
            "the query is matched"
        );
        assert!(
            allowed(&list, "https://a.example.org/cb#frag"),
            "not the fragment"
        );
        assert!(allowed(&list, "http://localhost:3000/a/b?c=d"));
        assert!(!allowed(&list, "http://localhost:3001/"));
        assert!(allowed(
            &["https://?.example.org/cb"],
            "https://a.example.org/cb"
        ));
        assert!(!allowed(
            &["https://?.example.org/cb"],
            "https://ab.example.org/cb"
        ));
    }
}
