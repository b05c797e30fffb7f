//! The stand-in Auth (GoTrue) service under `/auth/v1`: routing (with the
//! trailing-slash spellings GoTrue's chi router accepts), the `apikey`
//! check, request-body parsing and the small informational endpoints.
//! `crates/stub/AUTH-ROUTES.md` lists every GoTrue route that issues
//! tokens and which of them the stub implements.

mod account;
mod admin;
mod cookies;
mod error;
pub(crate) mod factors;
mod grants;
mod identities;
pub(crate) mod idp;
mod issue;
mod links;
mod mfa;
mod oauth;
mod otp;
pub(crate) mod outbox;
mod passkey;
mod pkce;
mod redirects;
mod saml;
mod signup;
mod sso;
pub(crate) mod store;
mod user;

use http::{Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::request::{BodyError, Req};
use crate::response::{StubBody, json};
use crate::state::Shared;
use error::{AuthError, is_versioned};

/// Largest JSON body Auth accepts here.
const JSON_LIMIT: usize = 1024 * 1024;

/// Answers a request whose path starts with `/auth/v1`.
pub(crate) async fn handle(shared: &Shared, req: &mut Req) -> Response<StubBody> {
    let versioned = is_versioned(req.header("x-supabase-api-version"));
    match dispatch(shared, req).await {
        Ok(response) => response,
        Err(error) => error.into_response(versioned),
    }
}

async fn dispatch(shared: &Shared, req: &mut Req) -> Result<Response<StubBody>, AuthError> {
    let path = req.path.strip_prefix("/auth/v1").unwrap_or_default();
    let route = gotrue_route(path).to_owned();
    let method = req.method.as_str().to_owned();
    // Browser navigations (links, OAuth redirects) carry no apikey; Kong leaves these open.
    let open = matches!(
        (method.as_str(), route.as_str()),
        (
            "GET",
            "/authorize" | "/verify" | "/callback" | "/.well-known/jwks.json"
        ) | ("POST", "/callback" | "/sso/saml/acs")
    );
    if !open {
        check_api_key(shared, req)?;
    }
    if let Some(factor) = route.strip_prefix("/factors/") {
        return factor_route(shared, req, &method, factor).await;
    }
    match (method.as_str(), route.as_str()) {
        ("GET", "/health") => Ok(json(
            StatusCode::OK,
            &json!({"version": "stub", "name": "GoTrue", "description": "GoTrue is a user registration and authentication API"}),
        )),
        ("GET", "/settings") => Ok(json(StatusCode::OK, &settings(shared))),
        ("GET", "/.well-known/jwks.json") => Ok(json(StatusCode::OK, shared.keys.jwks())),
        ("POST", "/signup") => signup::signup(shared, req).await,
        ("POST", "/token") => grants::token(shared, req).await,
        ("POST", "/otp" | "/magiclink" | "/recover") => otp::send(shared, req).await,
        ("POST", "/resend") => otp::resend(shared, req).await,
        ("GET", "/reauthenticate") => account::reauthenticate(shared, req),
        ("POST", "/verify") => otp::verify(shared, req).await,
        ("GET", "/verify") => Ok(otp::verify_link(shared, req)),
        ("GET", "/user") => account::get_user(shared, req),
        ("PUT", "/user") => account::update_user(shared, req).await,
        ("POST", "/logout") => account::logout(shared, req),
        ("GET", "/user/identities/authorize") => identities::authorize(shared, req),
        ("GET" | "POST", "/callback") if identities::is_link_callback(shared, req) => {
            Ok(identities::callback(shared, req))
        }
        ("GET", "/authorize") | ("GET" | "POST", "/callback") => {
            oauth::provider_sign_in(shared, req)
        }
        ("POST", "/factors") => mfa::enroll(shared, req).await,
        ("POST", "/admin/generate_link") => admin::generate_link(shared, req).await,
        ("POST", "/sso") => sso::start(shared, req).await,
        ("POST", "/sso/saml/acs") => sso::acs(shared, req).await,
        ("POST", "/passkeys/authentication/options") => Ok(passkey::options(shared)),
        ("POST", "/passkeys/authentication/verify") => passkey::verify(shared, req).await,
        _ => Err(not_found()),
    }
}

/// `/factors/{id}/challenge`, `/factors/{id}/verify` and `DELETE /factors/{id}`.
async fn factor_route(
    shared: &Shared,
    req: &mut Req,
    method: &str,
    rest: &str,
) -> Result<Response<StubBody>, AuthError> {
    match (method, rest.split_once('/')) {
        ("POST", Some((id, "challenge"))) => mfa::challenge(shared, req, id),
        ("POST", Some((id, "verify"))) => mfa::verify(shared, req, id).await,
        ("DELETE", None) => mfa::unenroll(shared, req, rest),
        _ => Err(not_found()),
    }
}

fn not_found() -> AuthError {
    AuthError::new(StatusCode::NOT_FOUND, "not_found", "Not Found")
}

/// The route GoTrue's router gives a path: chi mounts each `Route` group
/// at both `/x` and `/x/`, so a trailing slash after a group's own path
/// (`/signup/`, `/verify/`, `/callback/`, `/user/`, `/factors/`,
/// `/factors/{id}/`...) reaches the group's `/` handler; a slash after a
/// leaf route (`/token/`, `/factors/{id}/verify/`) matches nothing.
fn gotrue_route(path: &str) -> &str {
    let Some(trimmed) = path.strip_suffix('/') else {
        return path;
    };
    let group = matches!(
        trimmed,
        "/callback"
            | "/signup"
            | "/verify"
            | "/reauthenticate"
            | "/user"
            | "/factors"
            | "/passkeys"
            | "/sso"
    ) || ["/factors/", "/passkeys/"].iter().any(|prefix| {
        trimmed
            .strip_prefix(prefix)
            .is_some_and(|id| !id.is_empty() && !id.contains('/'))
    });
    if group { trimmed } else { path }
}

/// The `apikey` header (or query parameter) must be the anon, service-role
/// or (when configured) publishable key.
fn check_api_key(shared: &Shared, req: &Req) -> Result<(), AuthError> {
    let key = req
        .header("apikey")
        .map(str::to_owned)
        .or_else(|| req.query_param("apikey"));
    match key {
        None => Err(AuthError::new(
            StatusCode::UNAUTHORIZED,
            "no_api_key",
            "No API key found in request",
        )),
        Some(key) if key == shared.anon_key || key == shared.service_role_key => Ok(()),
        Some(key) if shared.config.publishable_key.as_deref() == Some(key.as_str()) => Ok(()),
        Some(_) => Err(AuthError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_api_key",
            "Invalid API key",
        )),
    }
}

fn settings(shared: &Shared) -> serde_json::Value {
    json!({
        "external": {
            "anonymous_users": true, "email": true, "phone": true,
            "github": true, "google": true, "apple": true, "azure": true,
        },
        "disable_signup": false,
        "mailer_autoconfirm": shared.config.autoconfirm,
        "phone_autoconfirm": shared.config.autoconfirm,
        "sms_provider": "stub",
        "saml_enabled": shared.config.saml_enabled,
    })
}

/// Parses the JSON body (an empty body counts as `{}`).
async fn read_json<T: DeserializeOwned>(req: &mut Req) -> Result<T, AuthError> {
    let body = read_body(req).await?;
    parse_json(&body)
}

/// The whole body, within Auth's limit.
async fn read_body(req: &mut Req) -> Result<bytes::Bytes, AuthError> {
    req.body.read_all(JSON_LIMIT).await.map_err(|e| match e {
        BodyError::Io(e) => {
            AuthError::bad_request("bad_json", format!("Could not read request body: {e}"))
        }
        BodyError::TooLarge => AuthError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            "Request body too large",
        ),
    })
}

/// Parses a JSON body (an empty body counts as `{}`).
fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, AuthError> {
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(text).map_err(|e| {
        AuthError::bad_request(
            "bad_json",
            format!("Could not parse request body as JSON: {e}"),
        )
    })
}

/// A non-empty, trimmed string field.
fn present(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// `redirect_to` from the query, or the stub's own URL (Auth's "Site URL").
fn redirect_target(shared: &Shared, req: &Req) -> String {
    req.query_param("redirect_to")
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| shared.base_url.clone())
}

/// `url` with `name=value` added to its query.
fn with_query_param(url: &str, name: &str, value: &str) -> String {
    let (base, fragment) = url
        .split_once('#')
        .map_or((url, None), |(b, f)| (b, Some(f)));
    let separator = if base.contains('?') { '&' } else { '?' };
    let pair = form_urlencoded::Serializer::new(String::new())
        .append_pair(name, value)
        .finish();
    match fragment {
        Some(fragment) => format!("{base}{separator}{pair}#{fragment}"),
        None => format!("{base}{separator}{pair}"),
    }
}

/// `url` with its fragment replaced.
fn with_fragment(url: &str, fragment: &str) -> String {
    let base = url.split_once('#').map_or(url, |(b, _)| b);
    format!("{base}#{fragment}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_are_appended_before_the_fragment() {
        assert_eq!(
            with_query_param("http://a/cb", "code", "x y"),
            "http://a/cb?code=x+y"
        );
        assert_eq!(
            with_query_param("http://a/cb?n=1#f", "code", "c"),
            "http://a/cb?n=1&code=c#f"
        );
        assert_eq!(
            with_fragment("http://a/cb#old", "new=1"),
            "http://a/cb#new=1"
        );
    }

    #[test]
    fn trailing_slashes_reach_a_group_but_not_a_leaf() {
        assert_eq!(gotrue_route("/signup/"), "/signup");
        assert_eq!(gotrue_route("/verify/"), "/verify");
        assert_eq!(gotrue_route("/callback/"), "/callback");
        assert_eq!(gotrue_route("/factors/"), "/factors");
        assert_eq!(gotrue_route("/factors/abc/"), "/factors/abc");
        assert_eq!(gotrue_route("/token/"), "/token/");
        assert_eq!(gotrue_route("/factors/abc/verify/"), "/factors/abc/verify/");
        assert_eq!(gotrue_route("/signup//"), "/signup//");
        assert_eq!(gotrue_route("/token"), "/token");
    }
}
