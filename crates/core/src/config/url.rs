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
        .ok_or_else(|| format!("`{text}` has no host"))?
        .as_str()
        .to_ascii_lowercase();
    if authority.contains('@') {
        return Err(format!("`{text}` must not contain credentials"));
    }
    if uri.query().is_some() {
        return Err(format!("`{text}` must not have a query string"));
    }
    let path = uri.path().trim_end_matches('/').to_string();
    Ok((https, authority, path))
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
