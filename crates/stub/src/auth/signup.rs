//! `POST /signup`: email or phone sign-up (token response when autoconfirm is
//! on, bare user otherwise) and anonymous sign-in (no email, no phone).

use http::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::cookies::token_answer;
use super::error::AuthError;
use super::issue::sign_in;
use super::outbox::Letter;
use super::pkce::Challenge;
use super::user::User;
use super::{present, read_json, redirect_target};
use crate::clock::rfc3339_now;
use crate::request::Req;
use crate::response::{StubBody, json};
use crate::state::Shared;

/// Shortest password Auth accepts by default.
pub(super) const MIN_PASSWORD_LEN: usize = 6;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SignupBody {
    email: Option<String>,
    phone: Option<String>,
    password: Option<String>,
    data: Option<Map<String, Value>>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

pub(super) async fn signup(
    shared: &Shared,
    req: &mut Req,
) -> Result<Response<StubBody>, AuthError> {
    let body: SignupBody = read_json(req).await?;
    let metadata = body.data.clone().unwrap_or_default();
    let email = present(body.email.as_deref());
    let phone = present(body.phone.as_deref());
    if email.is_none() && phone.is_none() {
        return anonymous(shared, metadata);
    }
    let password = body.password.as_deref().unwrap_or_default();
    if password.is_empty() {
        return Err(AuthError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "Signup requires a valid password",
        ));
    }
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(AuthError::weak_password());
    }
    if email.is_some_and(|e| !e.contains('@')) {
        return Err(AuthError::bad_request(
            "email_address_invalid",
            "Unable to validate email address: invalid format",
        ));
    }
    let challenge = Challenge::parse(
        body.code_challenge.as_deref(),
        body.code_challenge_method.as_deref(),
    )?;

    let mut store = shared.auth();
    let taken = email
        .and_then(|e| store.user_id_by_email(e))
        .or_else(|| phone.and_then(|p| store.user_id_by_phone(p)));
    if taken.is_some() {
        return Err(AuthError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "user_already_exists",
            "User already registered",
        ));
    }
    let mut user = User::new(email.map(str::to_owned), phone.map(str::to_owned));
    user.set_password(password);
    user.link(if email.is_some() { "email" } else { "phone" });
    user.user_metadata = metadata;
    if shared.config.autoconfirm {
        user.confirm();
        let user_id = store.insert_user(user);
        let tokens = sign_in(shared, &mut store, user_id, "password")?;
        return Ok(token_answer(shared, &tokens));
    }
    user.confirmation_sent_at = Some(rfc3339_now());
    let user_json = user.to_json();
    store.insert_user(user);
    let redirect_to = redirect_target(shared, req);
    if let Some(to) = email.or(phone) {
        let letter = Letter {
            to,
            kind: if email.is_some() { "signup" } else { "sms" },
            api_url: &shared.issuer,
            redirect_to: &redirect_to,
            pkce: challenge.is_some(),
        };
        store.send_otp(&letter, challenge);
    }
    Ok(json(StatusCode::OK, &user_json))
}

fn anonymous(
    shared: &Shared,
    metadata: Map<String, Value>,
) -> Result<Response<StubBody>, AuthError> {
    let mut user = User::new(None, None);
    user.is_anonymous = true;
    user.user_metadata = metadata;
    let mut store = shared.auth();
    let user_id = store.insert_user(user);
    let tokens = sign_in(shared, &mut store, user_id, "anonymous")?;
    Ok(token_answer(shared, &tokens))
}
