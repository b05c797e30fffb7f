//! `GET /authorize` and `GET`/`POST /callback`: the stub plays the OAuth
//! provider, so either signs in `<provider>-user@example.com` at once and
//! answers 302 to `redirect_to` with `?code=` (PKCE) or, without a code
//! challenge, with the tokens in the `#fragment` (implicit flow).
//!
//! `/authorize` skips the round trip through the provider (the real one
//! answers 302 to the provider, which comes back to `/callback`). Like
//! GoTrue it checks `redirect_to` against the allow list (a refused one
//! falls back to the Site URL, see `redirects.rs`), wants both
//! `code_challenge` (43 to 128 characters) and `code_challenge_method` or
//! neither (400 `validation_failed`), and passes the other query
//! parameters to the provider. The stand-in provider has nobody signed in:
//! `prompt=none` gets its `login_required` error, and a `/callback` that
//! carries a provider's `error` (and `error_description`) is answered as
//! GoTrue answers it: 302 to `redirect_to` with both in the query and
//! again in the fragment.
//! `/callback` takes the same query parameters (`provider`, `redirect_to`,
//! `code_challenge`, `code_challenge_method`) where the real one reads them
//! from the flow state its signed `state` parameter names; both write
//! their redirect as Go's `http.Redirect` does (an HTML body repeating the
//! `Location`, fragment tokens included, for a GET).

use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::cookies::add_legacy_cookies;
use super::error::AuthError;
use super::issue::{fragment, sign_in};
use super::pkce::Challenge;
use super::redirects::{checked_target, error_redirect};
use super::user::User;
use super::{with_fragment, with_query_param};
use crate::request::Req;
use crate::response::{StubBody, redirect};
use crate::state::Shared;

pub(super) fn provider_sign_in(
    shared: &Shared,
    req: &Req,
) -> Result<Response<StubBody>, AuthError> {
    let provider = req
        .query_param("provider")
        .filter(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()))
        .ok_or_else(|| {
            AuthError::validation("Unsupported provider: provider is missing or invalid")
        })?
        .to_ascii_lowercase();
    let challenge = pkce_params(req)?;
    let target = checked_target(shared, req);
    // A provider's error reaches Auth's callback; `/authorize` would pass
    // an `error` parameter on to the provider, which ignores it.
    let at_callback = req.path.trim_end_matches('/').ends_with("/callback");
    let provider_error = match req.query_param("error").filter(|_| at_callback) {
        Some(error) => Some((
            error,
            req.query_param("error_description").unwrap_or_default(),
        )),
        None if req.query_param("prompt").as_deref() == Some("none") => Some((
            "login_required".to_owned(),
            format!("Nobody is signed in at {provider}"),
        )),
        None => None,
    };
    if let Some((error, description)) = provider_error {
        return Ok(error_redirect(req, &target, &error, None, &description));
    }
    let email = format!("{provider}-user@example.com");

    let mut store = shared.auth();
    let user_id = match store.user_id_by_email(&email) {
        Some(id) => id,
        None => {
            let mut user = User::new(Some(email.clone()), None);
            user.user_metadata
                .insert("full_name".to_owned(), json!(format!("{provider} user")));
            user.confirm();
            store.insert_user(user)
        }
    };
    if let Some(user) = store.user_mut(user_id) {
        user.link(&provider);
    }
    if challenge.is_some() {
        let code = store.insert_flow(user_id, "oauth", Some(&provider), challenge);
        return Ok(redirect(
            &req.method,
            StatusCode::FOUND,
            &with_query_param(&target, "code", &code),
        ));
    }
    let mut tokens = sign_in(shared, &mut store, user_id, "oauth")?;
    add_provider_tokens(&mut tokens, &provider);
    let mut response = redirect(
        &req.method,
        StatusCode::FOUND,
        &with_fragment(&target, &fragment(&tokens, "oauth")),
    );
    add_legacy_cookies(shared, &mut response, &tokens);
    Ok(response)
}

/// The PKCE parameters of the query, checked as GoTrue checks them.
fn pkce_params(req: &Req) -> Result<Option<Challenge>, AuthError> {
    let challenge = req.query_param("code_challenge").unwrap_or_default();
    let method = req.query_param("code_challenge_method").unwrap_or_default();
    Challenge::validated(&challenge, &method)
}

/// Adds the provider's own (fake) tokens, as Auth does after an OAuth sign-in.
pub(super) fn add_provider_tokens(tokens: &mut Value, provider: &str) {
    if let Some(map) = tokens.as_object_mut() {
        map.insert(
            "provider_token".to_owned(),
            json!(format!("{provider}-provider-token")),
        );
        map.insert(
            "provider_refresh_token".to_owned(),
            json!(format!("{provider}-provider-refresh-token")),
        );
    }
}
