//! Deciding about a WebSocket upgrade to `/realtime/v1/websocket` before
//! anything reaches Supabase: is it a well-formed upgrade, may its origin
//! open a socket, and what query string goes upstream.
//!
//! Origin rule (cross-site WebSocket hijacking): browsers send `Origin` on
//! every WebSocket handshake, and a page on any site can open a socket to
//! the proxy with the user's cookie attached, so an upgrade whose `Origin`
//! is not an allowed origin is refused. An upgrade without `Origin` comes
//! from a non-browser client: it is accepted when it carries no session
//! cookie (an anonymous socket) and refused when it does, as for unsafe
//! HTTP requests (such clients can send their app's origin explicitly).

use crate::ProxyError;
use crate::config::Config;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use http::header::{CONNECTION, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE};
use thiserror::Error;

/// Why a request to the socket endpoint is not a usable WebSocket upgrade.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum UpgradeRefusal {
    #[error("a WebSocket upgrade is required (Connection: upgrade, Upgrade: websocket)")]
    NotAnUpgrade,
    #[error("WebSocket version 13 is required")]
    UnsupportedVersion,
    #[error("the Sec-WebSocket-Key header is missing or malformed")]
    BadKey,
}

impl From<UpgradeRefusal> for ProxyError {
    fn from(refusal: UpgradeRefusal) -> Self {
        match refusal {
            UpgradeRefusal::NotAnUpgrade
            | UpgradeRefusal::UnsupportedVersion
            | UpgradeRefusal::BadKey => ProxyError::BadRequest(refusal.to_string()),
        }
    }
}

/// Whether a comma-separated header lists `token` (case-insensitive).
fn lists_token(headers: &HeaderMap, name: http::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Checks the upgrade headers of a GET and returns its `Sec-WebSocket-Key`.
pub fn websocket_key(headers: &HeaderMap) -> Result<&str, UpgradeRefusal> {
    if !lists_token(headers, CONNECTION, "upgrade") || !lists_token(headers, UPGRADE, "websocket") {
        return Err(UpgradeRefusal::NotAnUpgrade);
    }
    if headers.get(SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes()) != Some(b"13") {
        return Err(UpgradeRefusal::UnsupportedVersion);
    }
    let key = headers
        .get(SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .ok_or(UpgradeRefusal::BadKey)?;
    match STANDARD.decode(key) {
        Ok(nonce) if nonce.len() == 16 => Ok(key),
        _ => Err(UpgradeRefusal::BadKey),
    }
}

/// The origin rule above. `origin` is the `Origin` header (`Some("")` when
/// it is not valid text); `carries_cookie` whether the proxy's cookie is sent.
pub fn check_origin(
    config: &Config,
    origin: Option<&str>,
    carries_cookie: bool,
) -> Result<(), ProxyError> {
    match origin {
        Some(origin) if config.origin_allowed(origin) => Ok(()),
        Some(_) => Err(ProxyError::OriginNotAllowed),
        None if carries_cookie => Err(ProxyError::CrossSiteRefused(
            "a WebSocket upgrade with the session cookie needs an Origin header".into(),
        )),
        None => Ok(()),
    }
}

/// The query string for Supabase: the client's parameters as sent, with
/// `apikey` set to the project's anon key.
pub fn upstream_query(query: Option<&str>, anon_key: &str) -> String {
    let mut out: Vec<String> = query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            form_urlencoded::parse(pair.as_bytes())
                .next()
                .is_none_or(|(name, _)| name != "apikey")
        })
        .map(str::to_string)
        .collect();
    out.push(
        form_urlencoded::Serializer::new(String::new())
            .append_pair("apikey", anon_key)
            .finish(),
    );
    out.join("&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn upgrade_headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, value.parse().unwrap());
        }
        headers
    }

    const GOOD: [(&str, &str); 4] = [
        ("connection", "keep-alive, Upgrade"),
        ("upgrade", "WebSocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];

    #[test]
    fn a_well_formed_upgrade_gives_its_key() {
        let headers = upgrade_headers(&GOOD);
        assert_eq!(websocket_key(&headers), Ok("dGhlIHNhbXBsZSBub25jZQ=="));
    }

    #[test]
    fn malformed_upgrades_are_refused() {
        let without = |name: &str| {
            let kept: Vec<_> = GOOD.iter().copied().filter(|(n, _)| *n != name).collect();
            websocket_key(&upgrade_headers(&kept)).map(str::to_string)
        };
        assert_eq!(without("connection"), Err(UpgradeRefusal::NotAnUpgrade));
        assert!(without("nothing").is_ok());
        assert_eq!(without("upgrade"), Err(UpgradeRefusal::NotAnUpgrade));
        assert_eq!(
            without("sec-websocket-version"),
            Err(UpgradeRefusal::UnsupportedVersion)
        );
        assert_eq!(without("sec-websocket-key"), Err(UpgradeRefusal::BadKey));
        let mut bad = upgrade_headers(&GOOD);
        bad.insert(SEC_WEBSOCKET_KEY, "c2hvcnQ=".parse().unwrap());
        assert_eq!(websocket_key(&bad), Err(UpgradeRefusal::BadKey));
        bad.insert(SEC_WEBSOCKET_KEY, "not base64 at all!!".parse().unwrap());
        assert_eq!(websocket_key(&bad), Err(UpgradeRefusal::BadKey));
        bad.insert(SEC_WEBSOCKET_VERSION, "8".parse().unwrap());
        assert_eq!(websocket_key(&bad), Err(UpgradeRefusal::UnsupportedVersion));
        let error: ProxyError = UpgradeRefusal::NotAnUpgrade.into();
        assert_eq!(error.status(), 400);
    }

    fn config() -> Config {
        let settings: HashMap<String, String> = [
            ("SUPABASE_URL", "http://127.0.0.1:54321"),
            ("SUPABASE_ANON_KEY", "anon"),
            ("PROXY_PUBLIC_URL", "https://app.example.com/supabase"),
            (
                "PROXY_ALLOWED_ORIGINS",
                "https://app.example.com,https://admin.example.com",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Config::load(&settings).unwrap()
    }

    #[test]
    fn origin_rule() {
        let config = config();
        for cookie in [true, false] {
            assert_eq!(
                check_origin(&config, Some("https://app.example.com"), cookie),
                Ok(())
            );
            assert_eq!(
                check_origin(&config, Some("https://admin.example.com"), cookie),
                Ok(())
            );
            for foreign in [
                "https://evil.example",
                "null",
                "",
                "https://app.example.com.evil.example",
            ] {
                assert_eq!(
                    check_origin(&config, Some(foreign), cookie),
                    Err(ProxyError::OriginNotAllowed),
                    "{foreign}"
                );
            }
        }
        assert_eq!(check_origin(&config, None, false), Ok(()));
        let refused = check_origin(&config, None, true).unwrap_err();
        assert_eq!(
            (refused.status(), refused.code()),
            (403, "cross_site_refused")
        );
    }

    #[test]
    fn the_query_goes_on_with_the_anon_key() {
        assert_eq!(
            upstream_query(Some("apikey=browser&vsn=2.0.0&log_level=info"), "anon key"),
            "vsn=2.0.0&log_level=info&apikey=anon+key"
        );
        assert_eq!(upstream_query(None, "k"), "apikey=k");
        assert_eq!(
            upstream_query(Some("vsn=1.0.0&&ap%69key=x&x=%2F"), "k"),
            "vsn=1.0.0&x=%2F&apikey=k"
        );
    }
}
