//! Hop-by-hop headers, which apply to one connection and are never forwarded.

/// Headers that are always connection-specific (RFC 9110 section 7.6.1).
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether `name` must not be forwarded, given the message's `Connection` header values.
pub fn is_hop_by_hop<'a>(name: &str, connection: impl IntoIterator<Item = &'a str>) -> bool {
    HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
        || connection
            .into_iter()
            .flat_map(|v| v.split(','))
            .any(|listed| listed.trim().eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_and_listed_headers() {
        assert!(is_hop_by_hop("Transfer-Encoding", []));
        assert!(is_hop_by_hop("x-custom", ["close, X-Custom"]));
        assert!(!is_hop_by_hop("content-type", ["close"]));
    }
}
