//! Hop-by-hop headers: what a proxy must not forward.

use http::header::{CONNECTION, GetAll, HeaderMap, HeaderName, HeaderValue};

/// Whether `name` is hop-by-hop in every message (RFC 9110 section 7.6.1,
/// plus the non-standard ones still seen). A `match` on the lowercase name
/// rather than comparisons with nine `HeaderName`s: it runs for every
/// header of every message.
fn always_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

/// Whether a `Connection` token is `keep-alive` or `close`, the options
/// that name no other header.
fn is_plain_option(token: &[u8]) -> bool {
    token.eq_ignore_ascii_case(b"keep-alive") || token.eq_ignore_ascii_case(b"close")
}

/// The hop-by-hop headers of one message: the standard ones and those its
/// `Connection` header lists. Built once per message; the `Connection`
/// values are only searched when they name more than `close` or `keep-alive`.
pub struct HopByHop<'a> {
    listed: Option<GetAll<'a, HeaderValue>>,
}

impl<'a> HopByHop<'a> {
    pub fn of(headers: &'a HeaderMap) -> HopByHop<'a> {
        let connection = headers.get_all(CONNECTION);
        // A value that is one plain option (nearly all are) is not split.
        let names_others = connection.iter().any(|value| {
            !is_plain_option(value.as_bytes())
                && value_tokens(value).any(|t| !is_plain_option(t.as_bytes()))
        });
        HopByHop {
            listed: names_others.then_some(connection),
        }
    }

    pub fn contains(&self, name: &HeaderName) -> bool {
        always_hop_by_hop(name)
            || self
                .listed
                .as_ref()
                .is_some_and(|listed| tokens(listed).any(|t| t.eq_ignore_ascii_case(name.as_str())))
    }
}

/// The comma-separated tokens of a list header's values.
fn tokens<'a>(values: &GetAll<'a, HeaderValue>) -> impl Iterator<Item = &'a str> {
    values.iter().flat_map(value_tokens)
}

/// The comma-separated tokens of one value (none if it is not text).
fn value_tokens(value: &HeaderValue) -> impl Iterator<Item = &str> {
    value
        .to_str()
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| (n.parse().unwrap(), v.parse().unwrap()))
            .collect()
    }

    fn hop(headers: &HeaderMap, name: &str) -> bool {
        HopByHop::of(headers).contains(&name.parse().unwrap())
    }

    #[test]
    fn standard_headers_are_always_hop_by_hop() {
        let none = headers(&[]);
        for name in [
            "Transfer-Encoding",
            "connection",
            "keep-alive",
            "proxy-connection",
            "Proxy-Authenticate",
            "proxy-authorization",
            "te",
            "trailer",
            "upgrade",
        ] {
            assert!(hop(&none, name), "{name}");
        }
        assert!(!hop(&none, "content-type"));
    }

    #[test]
    fn headers_the_connection_header_lists_are_hop_by_hop() {
        let listed = headers(&[("connection", "close, X-Custom"), ("connection", "x-other")]);
        assert!(hop(&listed, "x-custom"));
        assert!(hop(&listed, "x-other"));
        assert!(!hop(&listed, "content-type"));
        for plain in ["keep-alive", "Keep-Alive", "close", "close, keep-alive"] {
            let plain = headers(&[("connection", plain)]);
            assert!(HopByHop::of(&plain).listed.is_none());
            assert!(!hop(&plain, "x-custom"));
        }
    }
}
