//! CORS for apps on another origin of the same site.
//!
//! Only origins in `PROXY_ALLOWED_ORIGINS` get CORS headers: the exact
//! origin in `Access-Control-Allow-Origin`, with credentials allowed. The
//! proxy answers preflights itself ([`preflight`]) and adds the headers to
//! every other answer to an allowed origin ([`answer`]); Supabase's own CORS
//! headers were already removed from a relayed answer. The runtime writes
//! the result into its response with [`CorsHeaders::write`].

use crate::config::Config;
use http::Method;
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, HeaderMap, HeaderValue, ORIGIN,
    VARY,
};

const ALLOWED_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
const EXPOSED_HEADERS: &str = "Content-Range, Content-Profile, Location, X-Supabase-Api-Version, X-Sb-Error-Code, Upload-Offset, Upload-Length, Tus-Resumable";
/// How long, in seconds, a browser may keep a preflight's answer.
const PREFLIGHT_MAX_AGE: &str = "600";

/// The CORS headers of a response to an allowed origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsHeaders {
    /// A preflight's answer: the origin, the methods, the request headers
    /// the browser asked for (all of them), how long to keep the answer.
    Preflight {
        origin: HeaderValue,
        allow_headers: Option<HeaderValue>,
    },
    /// Any other answer: the origin, and the response headers the app's
    /// script may read.
    Answer { origin: HeaderValue },
}

/// What becomes of a CORS preflight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preflight {
    /// Answered `204 No Content` with these headers.
    Allowed(CorsHeaders),
    /// The origin is not allowed: refused (`origin_not_allowed`).
    Refused,
}

/// The request's `Origin`, if it has one and it is allowed.
#[inline]
pub fn allowed_origin<'a>(config: &Config, headers: &'a HeaderMap) -> Option<&'a HeaderValue> {
    headers
        .get(ORIGIN)
        .filter(|o| o.to_str().is_ok_and(|o| config.origin_allowed(o)))
}

/// What becomes of a preflight, or `None` when the request is not one (an
/// `OPTIONS` with an `Origin` and an `Access-Control-Request-Method`).
/// Inlined, as [`answer`] is: every request asks, and nearly none is a
/// preflight.
#[inline]
pub fn preflight(config: &Config, method: &Method, headers: &HeaderMap) -> Option<Preflight> {
    if method != Method::OPTIONS
        || !headers.contains_key(ORIGIN)
        || !headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
    {
        return None;
    }
    let Some(origin) = allowed_origin(config, headers) else {
        return Some(Preflight::Refused);
    };
    Some(Preflight::Allowed(CorsHeaders::Preflight {
        origin: origin.clone(),
        allow_headers: headers.get(ACCESS_CONTROL_REQUEST_HEADERS).cloned(),
    }))
}

/// The CORS headers for the answer to a request with these headers, or
/// `None` when its origin is not allowed (or it has none).
#[inline]
pub fn answer(config: &Config, request_headers: &HeaderMap) -> Option<CorsHeaders> {
    allowed_origin(config, request_headers).map(|origin| CorsHeaders::Answer {
        origin: origin.clone(),
    })
}

impl CorsHeaders {
    /// Writes the headers into a response's: each replaces any of its name,
    /// except `Vary: Origin`, which an answer adds to the `Vary` it has.
    pub fn write(self, out: &mut HeaderMap) {
        let true_value = HeaderValue::from_static("true");
        match self {
            CorsHeaders::Preflight {
                origin,
                allow_headers,
            } => {
                out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                out.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, true_value);
                out.insert(
                    ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static(ALLOWED_METHODS),
                );
                if let Some(asked) = allow_headers {
                    out.insert(ACCESS_CONTROL_ALLOW_HEADERS, asked);
                }
                out.insert(
                    ACCESS_CONTROL_MAX_AGE,
                    HeaderValue::from_static(PREFLIGHT_MAX_AGE),
                );
                out.insert(VARY, HeaderValue::from_static("Origin"));
            }
            CorsHeaders::Answer { origin } => {
                out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                out.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, true_value);
                out.insert(
                    ACCESS_CONTROL_EXPOSE_HEADERS,
                    HeaderValue::from_static(EXPOSED_HEADERS),
                );
                out.append(VARY, HeaderValue::from_static("Origin"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config() -> Config {
        let settings: HashMap<String, String> = [
            ("SUPABASE_URL", "http://127.0.0.1:54321"),
            ("SUPABASE_ANON_KEY", "anon"),
            ("PROXY_PUBLIC_URL", "https://app.example.com"),
            ("PROXY_ALLOWED_ORIGINS", "https://admin.example.com"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Config::load(&settings).unwrap()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), HeaderValue::from_static(v)))
            .collect()
    }

    fn written(cors: CorsHeaders, mut out: HeaderMap) -> Vec<(String, String)> {
        cors.write(&mut out);
        out.iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
            .collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn only_an_options_request_with_origin_and_method_is_a_preflight() {
        let config = config();
        let full = headers(&[
            ("origin", "https://admin.example.com"),
            ("access-control-request-method", "POST"),
        ]);
        assert!(preflight(&config, &Method::OPTIONS, &full).is_some());
        assert_eq!(preflight(&config, &Method::POST, &full), None);
        let no_method = headers(&[("origin", "https://admin.example.com")]);
        assert_eq!(preflight(&config, &Method::OPTIONS, &no_method), None);
        let no_origin = headers(&[("access-control-request-method", "POST")]);
        assert_eq!(preflight(&config, &Method::OPTIONS, &no_origin), None);
    }

    #[test]
    fn a_preflight_from_another_origin_is_refused() {
        let config = config();
        for origin in [
            "https://evil.example",
            "null",
            "https://admin.example.com.evil",
        ] {
            let asked = headers(&[("origin", origin), ("access-control-request-method", "GET")]);
            assert_eq!(
                preflight(&config, &Method::OPTIONS, &asked),
                Some(Preflight::Refused),
                "{origin}"
            );
        }
    }

    #[test]
    fn an_allowed_preflight_names_the_origin_methods_and_asked_headers() {
        let config = config();
        let asked = headers(&[
            ("origin", "https://admin.example.com"),
            ("access-control-request-method", "PATCH"),
            ("access-control-request-headers", "apikey, content-type"),
        ]);
        let Some(Preflight::Allowed(cors)) = preflight(&config, &Method::OPTIONS, &asked) else {
            panic!("an allowed origin's preflight is answered");
        };
        assert_eq!(
            written(cors, HeaderMap::new()),
            pairs(&[
                ("access-control-allow-origin", "https://admin.example.com"),
                ("access-control-allow-credentials", "true"),
                ("access-control-allow-methods", ALLOWED_METHODS),
                ("access-control-allow-headers", "apikey, content-type"),
                ("access-control-max-age", "600"),
                ("vary", "Origin"),
            ])
        );
        let no_headers = headers(&[
            ("origin", "https://admin.example.com"),
            ("access-control-request-method", "GET"),
        ]);
        let Some(Preflight::Allowed(cors)) = preflight(&config, &Method::OPTIONS, &no_headers)
        else {
            panic!("an allowed origin's preflight is answered");
        };
        let names: Vec<_> = written(cors, HeaderMap::new())
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert!(!names.contains(&"access-control-allow-headers".to_string()));
    }

    #[test]
    fn an_answer_to_an_allowed_origin_exposes_headers_and_adds_to_vary() {
        let config = config();
        let request = headers(&[("origin", "https://admin.example.com")]);
        let cors = answer(&config, &request).expect("the origin is allowed");
        let upstream = headers(&[
            ("access-control-allow-origin", "*"),
            ("vary", "Accept-Encoding"),
        ]);
        assert_eq!(
            written(cors, upstream),
            pairs(&[
                ("access-control-allow-origin", "https://admin.example.com"),
                ("vary", "Accept-Encoding"),
                ("vary", "Origin"),
                ("access-control-allow-credentials", "true"),
                ("access-control-expose-headers", EXPOSED_HEADERS),
            ])
        );
    }

    #[test]
    fn an_answer_to_another_origin_or_none_gets_no_cors_headers() {
        let config = config();
        assert_eq!(answer(&config, &HeaderMap::new()), None);
        let other = headers(&[("origin", "https://evil.example")]);
        assert_eq!(answer(&config, &other), None);
        let not_text = HeaderMap::from_iter([(
            ORIGIN,
            HeaderValue::from_bytes(b"https://admin.example.com\xff").unwrap(),
        )]);
        assert_eq!(answer(&config, &not_text), None);
    }
}
