//! Endpoints that act on the signed-in user: `GET`/`PUT /user`,
//! `GET /reauthenticate` and `POST /logout?scope=global|local|others`,
//! with Auth's bearer checks.

use http::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::error::AuthError;
use super::outbox::Letter;
use super::pkce::Challenge;
use super::signup::MIN_PASSWORD_LEN;
use super::store::user_not_found;
use super::{present, read_json, redirect_target};
use crate::clock::rfc3339_now;
use crate::jwt::JwtError;
use crate::request::Req;
use crate::response::{StubBody, empty, json};
use crate::state::Shared;

/// Who a user JWT speaks for.
pub(super) struct Caller {
    pub user_id: Uuid,
    /// The token's `session_id`, when it has one (it then names a live session).
    pub session_id: Option<Uuid>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UpdateBody {
    email: Option<String>,
    phone: Option<String>,
    password: Option<String>,
    data: Option<Map<String, Value>>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

pub(super) fn get_user(shared: &Shared, req: &Req) -> Result<Response<StubBody>, AuthError> {
    if let Some(answer) = shared.faults.user_answer() {
        return Ok(answer.into_response());
    }
    let caller = authenticate(shared, req)?;
    let store = shared.auth();
    let user = store.user(caller.user_id).ok_or_else(user_not_found)?;
    Ok(json(StatusCode::OK, &user.to_json()))
}

/// `PUT /user`: changes the email (as GoTrue does: at once for an
/// anonymous user when sign-ups are autoconfirmed, otherwise only once the
/// code sent to the new address is verified with `type=email_change`),
/// the phone (at once when autoconfirmed, else after `type=phone_change`)
/// or the password, and merges `data` into `user_metadata`.
pub(super) async fn update_user(
    shared: &Shared,
    req: &mut Req,
) -> Result<Response<StubBody>, AuthError> {
    let caller = authenticate(shared, req)?;
    let body: UpdateBody = read_json(req).await?;
    if body
        .password
        .as_ref()
        .is_some_and(|p| p.chars().count() < MIN_PASSWORD_LEN)
    {
        return Err(AuthError::weak_password());
    }
    let challenge = Challenge::parse(
        body.code_challenge.as_deref(),
        body.code_challenge_method.as_deref(),
    )?;
    let redirect_to = redirect_target(shared, req);
    let mut store = shared.auth();
    if let Some(email) = present(body.email.as_deref()) {
        let user = store.user(caller.user_id).ok_or_else(user_not_found)?;
        let changes = user.email.as_deref() != Some(email.to_ascii_lowercase().as_str());
        let at_once = user.is_anonymous && shared.config.autoconfirm;
        if changes && at_once {
            store.complete_email_change(caller.user_id, email)?;
        } else if changes {
            let letter = Letter {
                to: email,
                kind: "email_change",
                api_url: &shared.issuer,
                redirect_to: &redirect_to,
                pkce: challenge.is_some(),
            };
            store.send_email_change(caller.user_id, &letter, challenge)?;
        }
    }
    let current_phone = store.user(caller.user_id).and_then(|u| u.phone.clone());
    let phone = present(body.phone.as_deref()).filter(|p| current_phone.as_deref() != Some(*p));
    if let Some(phone) = phone
        && !shared.config.autoconfirm
    {
        let letter = Letter {
            to: phone,
            kind: "phone_change",
            api_url: &shared.issuer,
            redirect_to: &redirect_to,
            pkce: false,
        };
        store.send_phone_change(caller.user_id, &letter)?;
    } else if let Some(phone) = phone {
        store.change_phone(caller.user_id, phone)?;
        let user = store.user_mut(caller.user_id).ok_or_else(user_not_found)?;
        user.link("phone");
        user.is_anonymous = false;
    }
    let user = store.user_mut(caller.user_id).ok_or_else(user_not_found)?;
    if let Some(password) = &body.password {
        user.set_password(password);
    }
    if shared.config.autoconfirm {
        user.confirm();
    }
    user.user_metadata.extend(body.data.unwrap_or_default());
    user.updated_at = rfc3339_now();
    Ok(json(StatusCode::OK, &user.to_json()))
}

/// `GET /reauthenticate`: `{}`; the nonce (the fixed OTP) goes to the user's email or phone.
pub(super) fn reauthenticate(shared: &Shared, req: &Req) -> Result<Response<StubBody>, AuthError> {
    let caller = authenticate(shared, req)?;
    let mut store = shared.auth();
    let user = store.user(caller.user_id).ok_or_else(user_not_found)?;
    let identifier = user
        .email
        .clone()
        .or_else(|| user.phone.clone())
        .ok_or_else(|| {
            AuthError::bad_request(
                "validation_failed",
                "Reauthentication requires the user to have an email or a phone number",
            )
        })?;
    let letter = Letter {
        to: &identifier,
        kind: "reauthentication",
        api_url: &shared.issuer,
        redirect_to: &shared.base_url,
        pkce: false,
    };
    store.send_otp(&letter, None);
    Ok(json(StatusCode::OK, &serde_json::json!({})))
}

/// `POST /logout`: local ends the token's session, others the rest, global all.
/// A token without `session_id` ends every session of the user for any scope.
pub(super) fn logout(shared: &Shared, req: &Req) -> Result<Response<StubBody>, AuthError> {
    let scope = req
        .query_param("scope")
        .unwrap_or_else(|| "global".to_owned());
    if !matches!(scope.as_str(), "global" | "local" | "others") {
        return Err(AuthError::validation(format!(
            "Unsupported logout scope {scope:?}"
        )));
    }
    let caller = authenticate(shared, req)?;
    let mut store = shared.auth();
    match (scope.as_str(), caller.session_id) {
        ("local", Some(session)) => store.end_session(session),
        ("others", Some(session)) => store.end_user_sessions(caller.user_id, Some(session)),
        _ => store.end_user_sessions(caller.user_id, None),
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

/// Checks the bearer as Auth does: signature and expiry, a `sub` naming a
/// user, a `session_id` (when present) naming a live session, and a user
/// who is not banned.
pub(super) fn authenticate(shared: &Shared, req: &Req) -> Result<Caller, AuthError> {
    let token = req.bearer().ok_or_else(|| {
        AuthError::new(
            StatusCode::UNAUTHORIZED,
            "no_authorization",
            "This endpoint requires a valid Bearer token",
        )
    })?;
    let bad_jwt = |why: &str| {
        AuthError::new(
            StatusCode::FORBIDDEN,
            "bad_jwt",
            format!("invalid JWT: {why}"),
        )
    };
    let claims = shared.keys.verify(token, 0).map_err(|e| match e {
        JwtError::Expired => bad_jwt(
            "unable to parse or verify signature, token has invalid claims: token is expired",
        ),
        JwtError::Invalid(why) => bad_jwt(&format!("unable to parse or verify signature, {why}")),
    })?;
    let user_id = claims
        .get("sub")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Uuid>().ok())
        .ok_or_else(|| bad_jwt("invalid claim: missing sub claim"))?;
    let session_id = match claims.get("session_id") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_str()
                .and_then(|s| s.parse::<Uuid>().ok())
                .ok_or_else(|| bad_jwt("invalid claim: session_id claim must be a UUID"))?,
        ),
    };
    // In Auth's order: the user, the session, then the ban.
    let store = shared.auth();
    let user = store.user(user_id).ok_or_else(user_not_found)?;
    if let Some(session) = session_id
        && store.session(session).is_none()
    {
        return Err(AuthError::new(
            StatusCode::FORBIDDEN,
            "session_not_found",
            "Session from session_id claim in JWT does not exist",
        ));
    }
    if user.banned {
        return Err(AuthError::new(
            StatusCode::FORBIDDEN,
            "user_banned",
            "User is banned",
        ));
    }
    Ok(Caller {
        user_id,
        session_id,
    })
}
