//! The URLs in the configuration: Supabase's, the proxy's public one, and origins.

use http::Uri;

fn parse_http_url(text: &str) -> Result<(bool, String, String), String> {
    let uri: Uri = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a URL"))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(format!("`{text}` must start with http:// or https://")),
    };
    let authority = uri
        .authority()
        .ok_or_else(|| format!("`{text}` has no host"))?;
    if authority.as_str().contains('@') {
        return Err(format!("`{text}` must not contain credentials"));
    }
    let port = &authority.as_str()[authority.host().len()..];
    let valid_port = port.is_empty()
        || port
            .strip_prefix(':')
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<u16>().ok())
            .is_some_and(|p| p != 0);
    if !valid_host(authority.host()) || !valid_port {
        return Err(format!(
            "`{text}` must name a host (letters, digits, `.`, `-`, `_`, or an IP address) and a port from 1 to 65535"
        ));
    }
    let authority = authority.as_str().to_ascii_lowercase();
    if uri.query().is_some() {
        return Err(format!("`{text}` must not have a query string"));
    }
    let path = uri.path().trim_end_matches('/').to_string();
    Ok((https, authority, path))
}

/// Whether `host` is a DNS name (letters, digits, `.`, `-`, `_`; ASCII, as
/// browsers send it in an `Origin`), an IPv4 address or a bracketed IPv6
/// address. The URI grammar allows more (`,`, `;`, `!` ...), which no
/// browser's `Origin` carries and which a comma-separated origin list would
/// split.
fn valid_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// The Supabase project URL requests are forwarded to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamUrl {
    https: bool,
    authority: String,
}

impl UpstreamUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (https, authority, path) = parse_http_url(text)?;
        if !path.is_empty() {
            return Err(format!("`{text}` must be the project root, without a path"));
        }
        Ok(Self { https, authority })
    }
    pub fn is_https(&self) -> bool {
        self.https
    }
    /// `host[:port]`, lower case.
    pub fn authority(&self) -> &str {
        &self.authority
    }
    pub fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }
    /// The absolute upstream URI for a path-and-query.
    pub fn join(&self, path_and_query: &str) -> String {
        format!("{}://{}{}", self.scheme(), self.authority, path_and_query)
    }
}

/// The URL browsers use to reach the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    origin: Origin,
    base_path: String,
}

impl PublicUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (https, authority, base_path) = parse_http_url(text)?;
        Ok(Self {
            origin: Origin::from_parts(https, &authority),
            base_path,
        })
    }
    pub fn is_https(&self) -> bool {
        self.origin.0.starts_with("https://")
    }
    pub fn origin(&self) -> &Origin {
        &self.origin
    }
    /// The URL itself, normalised: the origin and the base path.
    pub fn url(&self) -> String {
        format!("{}{}", self.origin.as_str(), self.base_path)
    }
    /// The path prefix, `""` or e.g. `"/supabase"` (no trailing slash).
    pub fn base_path(&self) -> &str {
        &self.base_path
    }
    pub fn scheme(&self) -> &'static str {
        if self.is_https() { "https" } else { "http" }
    }
}

/// A web origin, `scheme://host[:port]`, normalised to lower case without a
/// default port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(String);

impl Origin {
    fn from_parts(https: bool, authority: &str) -> Self {
        let default_port = if https { ":443" } else { ":80" };
        let authority = authority.strip_suffix(default_port).unwrap_or(authority);
        let scheme = if https { "https" } else { "http" };
        Origin(format!("{scheme}://{authority}"))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let (https, authority, path) = parse_http_url(text)?;
        if !path.is_empty() {
            return Err(format!("origin `{text}` must not have a path"));
        }
        Ok(Self::from_parts(https, &authority))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a request's `Origin` header value is this origin.
    pub fn matches(&self, header_value: &str) -> bool {
        // Browsers send origins in this canonical form: compared as is, no
        // parsing (and no allocation) on every request.
        header_value == self.0 || Origin::parse(header_value).is_ok_and(|o| o == *self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_url_gives_origin_and_base_path() {
        let url = PublicUrl::parse("https://App.Example.com/supabase/").unwrap();
        assert!(url.is_https());
        assert_eq!(url.origin().as_str(), "https://app.example.com");
        assert_eq!(url.base_path(), "/supabase");
        let root = PublicUrl::parse("http://127.0.0.1:8787").unwrap();
        assert_eq!(root.base_path(), "");
        assert_eq!(root.origin().as_str(), "http://127.0.0.1:8787");
    }

    #[test]
    fn origins_normalise_default_ports() {
        let o = Origin::parse("https://example.com:443").unwrap();
        assert!(o.matches("https://example.com"));
        assert!(!o.matches("http://example.com"));
        assert!(!o.matches("https://example.com.evil.org"));
        assert!(!o.matches("null"));
        assert!(Origin::parse("https://example.com/path").is_err());
    }

    #[test]
    fn hosts_are_names_or_ip_addresses() {
        for good in [
            "https://app.example.com",
            "http://supabase_kong_demo:8000",
            "http://127.0.0.1:8787",
            "http://[::1]:8787",
            "https://XN--BCHER-KVA.example",
        ] {
            assert!(PublicUrl::parse(good).is_ok(), "{good}");
            assert!(Origin::parse(good).is_ok(), "{good}");
        }
        // `,` would make the default origin list two origins; the others are
        // allowed by the URI grammar but never in a browser's `Origin`.
        for bad in [
            "https://app.example.co,/supabase",
            "https://a;b.example",
            "https://a!b.example",
            "http://[not-ipv6]:80",
            "http://example.com:0",
            "http://example.com:",
            "http://example.com:65536",
            "http://example.com:+80",
        ] {
            assert!(PublicUrl::parse(bad).is_err(), "{bad}");
            assert!(Origin::parse(bad).is_err(), "{bad}");
            assert!(UpstreamUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn upstream_url_rejects_paths_and_bad_schemes() {
        assert!(UpstreamUrl::parse("https://abc.supabase.co").is_ok());
        assert!(UpstreamUrl::parse("https://abc.supabase.co/rest").is_err());
        assert!(UpstreamUrl::parse("ftp://abc").is_err());
        assert!(UpstreamUrl::parse("abc.supabase.co").is_err());
        let u = UpstreamUrl::parse("http://127.0.0.1:54321/").unwrap();
        assert_eq!(
            u.join("/rest/v1/x?a=1"),
            "http://127.0.0.1:54321/rest/v1/x?a=1"
        );
    }
}
