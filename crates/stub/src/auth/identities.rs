//! Manual identity linking (`linkIdentity` in supabase-js): `GET
//! /user/identities/authorize` (a signed-in user) answers with the
//! provider's URL (JSON `{url}` with `skip_http_redirect=true`, else 302);
//! the provider comes back to `/callback?state=...`, which links the
//! provider account to that user and redirects to `redirect_to` with
//! `?code=` (PKCE) or the tokens in the fragment (implicit), or with the
//! error in the query and the fragment, as GoTrue's `LinkIdentity`,
//! `linkIdentityToUser` and `redirectErrors` do.
//!
//! The stub plays the provider: its URL is the stub's own `/callback`, and
//! the provider account that signs in is `login_hint` (a query parameter
//! passed on from `linkIdentity`'s `queryParams`) or else
//! `<provider>-user@example.com`, the account `/authorize` signs in.

use http::{Response, StatusCode};
use serde_json::json;
use uuid::Uuid;

use super::account::authenticate;
use super::cookies::add_legacy_cookies;
use super::error::AuthError;
use super::issue::{fragment, sign_in};
use super::oauth::add_provider_tokens;
use super::pkce::Challenge;
use super::store::AuthStore;
use super::{redirect_target, with_fragment, with_query_param};
use crate::request::Req;
use crate::response::{StubBody, json, redirect};
use crate::state::Shared;

/// A link begun at `/user/identities/authorize`, waiting for the provider's return.
#[derive(Debug, Clone)]
pub(crate) struct LinkState {
    user_id: Uuid,
    provider: String,
    /// The provider account's address.
    account: String,
    redirect_to: String,
    challenge: Option<Challenge>,
}

/// `GET /user/identities/authorize`.
pub(super) fn authorize(shared: &Shared, req: &Req) -> Result<Response<StubBody>, AuthError> {
    let caller = authenticate(shared, req)?;
    let provider = req
        .query_param("provider")
        .filter(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()))
        .ok_or_else(|| {
            AuthError::validation("Unsupported provider: provider is missing or invalid")
        })?
        .to_ascii_lowercase();
    let challenge = Challenge::parse(
        req.query_param("code_challenge").as_deref(),
        req.query_param("code_challenge_method").as_deref(),
    )?;
    let account = req
        .query_param("login_hint")
        .filter(|hint| hint.contains('@'))
        .unwrap_or_else(|| format!("{provider}-user@example.com"));
    let state = Uuid::new_v4().to_string();
    let link = LinkState {
        user_id: caller.user_id,
        provider,
        account: account.to_ascii_lowercase(),
        redirect_to: redirect_target(shared, req),
        challenge,
    };
    shared.auth().link_states.insert(state.clone(), link);
    let url = with_query_param(&format!("{}/callback", shared.issuer), "state", &state);
    if req.query_param("skip_http_redirect").as_deref() == Some("true") {
        return Ok(json(StatusCode::OK, &json!({ "url": url })));
    }
    Ok(redirect(&req.method, StatusCode::FOUND, &url))
}

/// Whether a `/callback` request returns from a link begun here.
pub(super) fn is_link_callback(shared: &Shared, req: &Req) -> bool {
    req.query_param("state")
        .is_some_and(|state| shared.auth().link_states.contains_key(&state))
}

/// `/callback?state=...` of a link: 302 to `redirect_to` with the result.
pub(super) fn callback(shared: &Shared, req: &Req) -> Response<StubBody> {
    let state = req.query_param("state").unwrap_or_default();
    let mut store = shared.auth();
    let Some(link) = store.link_states.remove(&state) else {
        let error = AuthError::bad_request("bad_oauth_state", "OAuth state parameter missing");
        return error.into_response(false);
    };
    let result = link_account(&mut store, &link).and_then(|()| match &link.challenge {
        Some(challenge) => {
            let code = store.insert_flow(
                link.user_id,
                "oauth",
                Some(&link.provider),
                Some(challenge.clone()),
            );
            Ok((with_query_param(&link.redirect_to, "code", &code), None))
        }
        None => {
            let mut tokens = sign_in(shared, &mut store, link.user_id, "oauth")?;
            add_provider_tokens(&mut tokens, &link.provider);
            let location = with_fragment(&link.redirect_to, &fragment(&tokens, "oauth"));
            Ok((location, Some(tokens)))
        }
    });
    match result {
        Ok((location, tokens)) => {
            let mut response = redirect(&req.method, StatusCode::FOUND, &location);
            if let Some(tokens) = tokens {
                add_legacy_cookies(shared, &mut response, &tokens);
            }
            response
        }
        Err(error) => {
            let location = error_location(&link.redirect_to, &error);
            redirect(&req.method, StatusCode::FOUND, &location)
        }
    }
}

/// `redirect_to` with an error as GoTrue's `redirectErrors` writes it: in
/// the query and again in the fragment (with GoTrue's `sb` marker).
fn error_location(redirect_to: &str, error: &AuthError) -> String {
    let kind = super::redirects::oauth_error_kind(error.status);
    let details = [
        ("error", kind),
        ("error_description", error.msg.as_str()),
        ("error_code", error.code),
    ];
    let mut location = redirect_to
        .split_once('#')
        .map_or(redirect_to, |(b, _)| b)
        .to_owned();
    for (name, value) in details {
        location = with_query_param(&location, name, value);
    }
    let fragment = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(details)
        .append_pair("sb", "")
        .finish();
    with_fragment(&location, &fragment)
}

/// Links the provider account to the user, as `linkIdentityToUser`: an
/// account already linked is refused; a user without an email (an
/// anonymous one) takes the account's (verified) address and becomes permanent.
fn link_account(store: &mut AuthStore, link: &LinkState) -> Result<(), AuthError> {
    match store.account_owner(&link.provider, &link.account) {
        Some(owner) if owner == link.user_id => {
            return Err(identity_exists("Identity is already linked"));
        }
        Some(_) => {
            return Err(identity_exists(
                "Identity is already linked to another user",
            ));
        }
        None => {}
    }
    let has_email = store
        .user(link.user_id)
        .ok_or_else(super::store::user_not_found)?
        .email
        .is_some();
    if !has_email {
        store.adopt_email(link.user_id, &link.account)?;
    }
    let user = store
        .user_mut(link.user_id)
        .ok_or_else(super::store::user_not_found)?;
    user.link_account(&link.provider, &link.account);
    Ok(())
}

fn identity_exists(message: &str) -> AuthError {
    AuthError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "identity_already_exists",
        message,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_go_in_the_query_and_again_in_the_fragment() {
        let error = identity_exists("Identity is already linked to another user");
        let location = error_location("http://app.test/cb?next=1#old", &error);
        let (base, fragment) = location.split_once('#').expect("a fragment");
        assert_eq!(
            base,
            "http://app.test/cb?next=1&error=server_error\
             &error_description=Identity+is+already+linked+to+another+user\
             &error_code=identity_already_exists"
        );
        assert_eq!(
            fragment,
            "error=server_error&error_description=Identity+is+already+linked+to+another+user\
             &error_code=identity_already_exists&sb="
        );
    }
}
