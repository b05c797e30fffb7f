//! What of an upstream response's headers reaches the browser: hop-by-hop
//! headers and Supabase's own CORS policy are dropped (the proxy sets its
//! own for the origins it allows), and answers to cookie-authenticated
//! requests are marked private.

use super::HopByHop;
use http::header::{CACHE_CONTROL, Entry, HeaderMap, HeaderName, HeaderValue};

/// Whether a response header is Supabase's CORS policy, which the proxy replaces.
pub fn is_cors_header(name: &str) -> bool {
    name.starts_with("access-control-")
}

/// Drops hop-by-hop headers and Supabase's CORS headers. In one pass, and
/// without allocating when there is one to drop (nearly always just
/// `Connection`).
pub fn clean_headers(headers: &mut HeaderMap) {
    let hop_by_hop = HopByHop::of(headers);
    let mut dropped = headers
        .keys()
        .filter(|name| is_cors_header(name.as_str()) || hop_by_hop.contains(name));
    let Some(first) = dropped.next().cloned() else {
        return;
    };
    let others: Vec<HeaderName> = dropped.cloned().collect();
    headers.remove(first);
    for name in others {
        headers.remove(name);
    }
}

/// Marks a response to a cookie-authenticated request as private, so no
/// shared cache in front of the proxy serves one user's answer to another.
pub fn make_private(headers: &mut HeaderMap) {
    // One lookup for the common case, an answer without `Cache-Control`.
    let mut existing = match headers.entry(CACHE_CONTROL) {
        Entry::Vacant(vacant) => {
            vacant.insert(HeaderValue::from_static("private"));
            return;
        }
        Entry::Occupied(occupied) => occupied,
    };
    let kept: Vec<String> = existing
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|d| {
            let name = d
                .split('=')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            !d.is_empty() && !matches!(name.as_str(), "public" | "s-maxage" | "private")
        })
        .map(str::to_string)
        .collect();
    let value = std::iter::once("private".to_string())
        .chain(kept)
        .collect::<Vec<_>>()
        .join(", ");
    if let Ok(value) = HeaderValue::from_str(&value) {
        // Replaces every `Cache-Control` value, as `HeaderMap::insert` does.
        existing.insert(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    fn cleaned(pairs: &[(&str, &str)]) -> Vec<String> {
        let mut headers = headers(pairs);
        clean_headers(&mut headers);
        headers.keys().map(|n| n.to_string()).collect()
    }

    #[test]
    fn hop_by_hop_and_cors_headers_are_dropped() {
        assert_eq!(
            cleaned(&[("content-type", "application/json"), ("x-total", "3")]),
            ["content-type", "x-total"],
            "nothing to drop"
        );
        assert_eq!(
            cleaned(&[("connection", "keep-alive"), ("content-type", "text/plain")]),
            ["content-type"]
        );
        assert_eq!(
            cleaned(&[
                ("Connection", "close, X-Hop"),
                ("connection", "keep-alive"),
                ("x-hop", "1"),
                ("access-control-allow-origin", "*"),
                ("access-control-allow-credentials", "true"),
                ("transfer-encoding", "chunked"),
                ("keep-alive", "timeout=5"),
                ("content-range", "0-2/3"),
            ]),
            ["content-range"]
        );
    }

    #[test]
    fn cors_headers_are_those_of_the_access_control_family() {
        assert!(is_cors_header("access-control-allow-origin"));
        assert!(is_cors_header("access-control-expose-headers"));
        assert!(!is_cors_header("vary"));
        assert!(!is_cors_header("x-access-control"));
    }

    fn private(pairs: &[(&str, &str)]) -> Vec<String> {
        let mut headers = headers(pairs);
        make_private(&mut headers);
        headers
            .get_all(CACHE_CONTROL)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn an_answer_without_cache_control_becomes_private() {
        assert_eq!(private(&[]), ["private"]);
    }

    #[test]
    fn shared_cache_directives_give_way_to_private() {
        assert_eq!(
            private(&[("cache-control", "public, max-age=60, S-Maxage=600")]),
            ["private, max-age=60"]
        );
        assert_eq!(
            private(&[
                ("cache-control", "no-store"),
                ("cache-control", "private, must-revalidate")
            ]),
            ["private, no-store, must-revalidate"],
            "several values are merged into one"
        );
        assert_eq!(private(&[("cache-control", "Public")]), ["private"]);
    }
}
