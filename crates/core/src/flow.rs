//! Server-side PKCE for `/edge/v1/authorize` → `/edge/v1/callback`: the
//! code verifier and its `s256` challenge, the flow's state sealed into a
//! short-lived HttpOnly cookie bound to the browser that started it, the
//! URLs sent to Auth, and what Auth's error answers say.
//!
//! The cookie holds the verifier, the checked `next` and an expiry, sealed
//! (XChaCha20-Poly1305) with keys derived from `PROXY_STORE_KEY`; its path
//! is the callback's, so it goes nowhere else. Auth binds the code it
//! returns to the challenge, so a code is worth a session only together
//! with this browser's cookie.

use crate::config::PublicUrl;
use crate::env::{RandomSource, UnixSeconds, random_array};
use crate::session::StoreKeys;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cookie::{Cookie, SameSite};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How long a started flow may take to come back, seconds (Auth's own
/// flow state lives 5 minutes from the provider's answer).
pub const FLOW_TTL: u64 = 600;

/// What the flow keys are derived for (see [`StoreKeys::derive`]).
pub const FLOW_KEY_PURPOSE: &[u8] = b"sb-cookie-proxy flow cookie v1";

/// The associated data of every sealed flow.
const SEAL_CONTEXT: &[u8] = b"edge/v1/callback";

/// The callback's path under the public URL.
const CALLBACK: &str = "/edge/v1/callback";

/// A started flow, as its cookie carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowState {
    /// The PKCE code verifier.
    #[serde(rename = "v")]
    pub verifier: String,
    /// Where the browser goes afterwards (already checked by `safe_next`).
    #[serde(rename = "n")]
    pub next: String,
    #[serde(rename = "e")]
    pub expires_at: UnixSeconds,
}

/// A new code verifier: 56 random bytes in hex (112 characters, within
/// RFC 7636's 43 to 128), the shape supabase-js makes.
pub fn new_verifier(rng: &dyn RandomSource) -> String {
    random_array::<56>(rng)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `s256` code challenge of `verifier`: base64url(SHA-256), unpadded.
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The flow cookie's name (`__Secure-` over https: its path is not `/`,
/// so it cannot be `__Host-`).
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Secure-sb-flow"
    } else {
        "sb-flow"
    }
}

/// The callback's path, which is also the flow cookie's path.
pub fn callback_path(public: &PublicUrl) -> String {
    format!("{}{CALLBACK}", public.base_path())
}

/// `<PROXY_PUBLIC_URL>/edge/v1/callback`: the `redirect_to` given to Auth.
pub fn callback_url(public: &PublicUrl) -> String {
    format!("{}{}", public.origin().as_str(), callback_path(public))
}

/// The flow sealed for its cookie.
pub fn seal(keys: &StoreKeys, rng: &dyn RandomSource, state: &FlowState) -> String {
    let json = serde_json::to_string(state).unwrap_or_default();
    keys.seal(rng, SEAL_CONTEXT, &json)
}

/// The flow a cookie value carries, if it was sealed here and has not expired.
pub fn open(keys: &StoreKeys, value: &str, now: UnixSeconds) -> Option<FlowState> {
    let json = keys.open(SEAL_CONTEXT, value).ok()?;
    let state: FlowState = serde_json::from_str(&json).ok()?;
    (now < state.expires_at).then_some(state)
}

fn flow_cookie(public: &PublicUrl, value: String, max_age: u64) -> Cookie<'static> {
    let secure = public.is_https();
    Cookie::build((cookie_name(secure), value))
        .http_only(true)
        .secure(secure)
        // Sent on the top-level GET navigation back from Auth.
        .same_site(SameSite::Lax)
        .path(callback_path(public))
        .max_age(cookie::time::Duration::seconds(max_age as i64))
        .build()
}

/// `Set-Cookie` for a started flow.
pub fn set_cookie(public: &PublicUrl, sealed: String) -> String {
    flow_cookie(public, sealed, FLOW_TTL).to_string()
}

/// `Set-Cookie` that removes the flow cookie.
pub fn clear_cookie(public: &PublicUrl) -> String {
    let mut cookie = flow_cookie(public, String::new(), 0);
    cookie.set_expires(cookie::time::OffsetDateTime::UNIX_EPOCH);
    cookie.to_string()
}

/// The value of the cookie called `name` in the request's `Cookie` headers.
pub fn find_cookie<'a>(
    cookie_headers: impl IntoIterator<Item = &'a str>,
    name: &str,
) -> Option<String> {
    cookie_headers
        .into_iter()
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
}

/// The path and query of Auth's `/authorize` for a provider sign-in, as
/// supabase-js builds it (`provider`, `redirect_to`, `scopes`,
/// `code_challenge`, `code_challenge_method=s256`), followed by the
/// provider's own parameters (`extra`) in their order.
pub fn authorize_path<'a>(
    provider: &str,
    redirect_to: &str,
    scopes: Option<&str>,
    challenge: &str,
    extra: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("provider", provider)
        .append_pair("redirect_to", redirect_to);
    if let Some(scopes) = scopes {
        query.append_pair("scopes", scopes);
    }
    query
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "s256");
    for (name, value) in extra {
        query.append_pair(name, value);
    }
    format!("/auth/v1/authorize?{}", query.finish())
}

/// The query parameters of `/edge/v1/authorize` that the proxy does not
/// read itself, and so passes on to Auth (which passes them to the
/// provider), decoded, in their order.
pub fn passed_on(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(name, _)| is_passed_on(name))
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

fn is_passed_on(name: &str) -> bool {
    !matches!(
        name,
        "provider"
            | "next"
            | "scopes"
            | "redirect_to"
            | "code_challenge"
            | "code_challenge_method"
            | "domain"
            | "provider_id"
    )
}

/// `error` and `error_description` for the app from an Auth error answer
/// (`{code, message}` with the versioned API, `{error_code, msg}` without,
/// or OAuth's `{error, error_description}`).
pub fn auth_error(status: u16, body: &[u8]) -> (String, String) {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| json.get(*k).and_then(|v| v.as_str()))
            .map(str::to_string)
    };
    let error = text(&["error_code", "code", "error"]).unwrap_or_else(|| {
        if status >= 500 {
            "server_error".into()
        } else {
            "invalid_request".into()
        }
    });
    let description = text(&["message", "msg", "error_description"])
        .unwrap_or_else(|| format!("Auth answered {status}"));
    (error, description)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    struct Counting(Cell<u8>);
    impl RandomSource for Counting {
        fn fill(&self, buf: &mut [u8]) {
            for b in buf {
                *b = self.0.get();
                self.0.set(self.0.get().wrapping_add(1));
            }
        }
    }

    fn keys() -> StoreKeys {
        StoreKeys::parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
            .unwrap()
            .derive(FLOW_KEY_PURPOSE)
    }

    #[test]
    fn verifiers_are_fresh_hex_and_the_challenge_is_rfc7636s() {
        let rng = Counting(Cell::new(0));
        let (a, b) = (new_verifier(&rng), new_verifier(&rng));
        assert_eq!(a.len(), 112);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        // RFC 7636 appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn a_sealed_flow_opens_until_it_expires_and_only_with_its_key() {
        let rng = Counting(Cell::new(7));
        let state = FlowState {
            verifier: "v".repeat(43),
            next: "https://app.example.com/after".into(),
            expires_at: 1_000,
        };
        let sealed = seal(&keys(), &rng, &state);
        assert!(!sealed.contains("app.example.com"), "the cookie is opaque");
        assert_eq!(open(&keys(), &sealed, 999), Some(state));
        assert_eq!(open(&keys(), &sealed, 1_000), None, "expired");
        assert_eq!(open(&StoreKeys::random(&rng), &sealed, 0), None);
        let mut altered = sealed.clone();
        altered.pop();
        assert_eq!(open(&keys(), &altered, 0), None);
        assert_eq!(open(&keys(), "", 0), None);
    }

    #[test]
    fn the_cookie_is_http_only_lax_and_limited_to_the_callback() {
        let public = PublicUrl::parse("https://app.example.com/supabase").unwrap();
        let set = set_cookie(&public, "sealed".into());
        for part in [
            "__Secure-sb-flow=sealed",
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Path=/supabase/edge/v1/callback",
            "Max-Age=600",
        ] {
            assert!(set.contains(part), "{set} has {part}");
        }
        let clear = clear_cookie(&public);
        assert!(clear.contains("Max-Age=0"), "{clear}");
        assert!(clear.contains("Path=/supabase/edge/v1/callback"), "{clear}");
        let plain = PublicUrl::parse("http://127.0.0.1:8787").unwrap();
        assert!(set_cookie(&plain, "x".into()).starts_with("sb-flow=x;"));
        assert!(!set_cookie(&plain, "x".into()).contains("Secure"));
        assert_eq!(
            callback_url(&public),
            "https://app.example.com/supabase/edge/v1/callback"
        );
        assert_eq!(
            find_cookie(["a=1; sb-flow=abc", "b=2"], "sb-flow").as_deref(),
            Some("abc")
        );
        assert_eq!(find_cookie(["a=1"], "sb-flow"), None);
    }

    #[test]
    fn the_authorize_url_is_the_one_supabase_js_builds() {
        let path = authorize_path(
            "github",
            "http://127.0.0.1:8787/edge/v1/callback",
            Some("repo gist"),
            "abc",
            [("prompt", "consent"), ("login_hint", "a@b.c")],
        );
        assert_eq!(
            path,
            "/auth/v1/authorize?provider=github&redirect_to=http%3A%2F%2F127.0.0.1%3A8787%2Fedge%2Fv1%2Fcallback&scopes=repo+gist&code_challenge=abc&code_challenge_method=s256&prompt=consent&login_hint=a%40b.c"
        );
        assert_eq!(
            passed_on(Some(
                "provider=github&next=%2Fa&prompt=consent&redirect_to=x&scopes=s&hd=a%20b&domain=d"
            )),
            [
                ("prompt".into(), "consent".into()),
                ("hd".into(), "a b".into())
            ]
        );
    }

    #[test]
    fn auth_errors_in_every_shape() {
        assert_eq!(
            auth_error(
                403,
                br#"{"code":"bad_code_verifier","message":"code challenge does not match"}"#
            ),
            (
                "bad_code_verifier".into(),
                "code challenge does not match".into()
            )
        );
        assert_eq!(
            auth_error(
                404,
                br#"{"code":404,"error_code":"flow_state_not_found","msg":"no flow"}"#
            ),
            ("flow_state_not_found".into(), "no flow".into())
        );
        assert_eq!(
            auth_error(502, b"<html>bad gateway</html>"),
            ("server_error".into(), "Auth answered 502".into())
        );
    }
}
