//! MFA with TOTP, as GoTrue answers supabase-js's `auth.mfa`:
//! `POST /factors` (enrol), `POST /factors/{id}/challenge`,
//! `POST /factors/{id}/verify` (a token response for the **same** session,
//! raised to `aal2`, with a swapped refresh token; the user's other `aal1`
//! sessions end) and `DELETE /factors/{id}`. Tests get the current code of a
//! secret from `Stub::totp_code` or `GET /__stub/totp?secret=`.

use http::{Response, StatusCode};
use qrcode::QrCode;
use qrcode::render::svg;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::account::{Caller, authenticate};
use super::cookies::token_answer;
use super::error::AuthError;
use super::factors::{Factor, MfaChallenge, totp};
use super::issue::token_response;
use super::read_json;
use super::store::{AuthStore, user_not_found};
use crate::clock::rfc3339_now;
use crate::request::Req;
use crate::response::{StubBody, json};
use crate::state::Shared;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EnrollBody {
    factor_type: String,
    friendly_name: String,
    issuer: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct VerifyBody {
    challenge_id: String,
    code: String,
}

/// `POST /factors`: a new unverified TOTP factor with its secret, URI and QR code.
pub(super) async fn enroll(
    shared: &Shared,
    req: &mut Req,
) -> Result<Response<StubBody>, AuthError> {
    let caller = mfa_caller(shared, req)?;
    let body: EnrollBody = read_json(req).await?;
    match body.factor_type.as_str() {
        "totp" => {}
        "phone" => return Err(disabled("mfa_phone_enroll_not_enabled", "Phone")),
        "webauthn" => return Err(disabled("mfa_webauthn_enroll_not_enabled", "WebAuthn")),
        _ => {
            return Err(AuthError::validation(
                "factor_type needs to be totp, phone, or webauthn",
            ));
        }
    }
    // GoTrue's default issuer is the Site URL's host (here without the port:
    // an issuer may not contain `:`).
    let issuer = if body.issuer.is_empty() {
        shared.addr.ip().to_string()
    } else {
        body.issuer
    };
    let mut store = shared.auth();
    let user = store.user_mut(caller.user_id).ok_or_else(user_not_found)?;
    let name = body.friendly_name;
    if !name.is_empty() && user.factors.iter().any(|f| f.friendly_name == name) {
        return Err(AuthError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "mfa_factor_name_conflict",
            format!("A factor with the friendly name \"{name}\" for this user already exists"),
        ));
    }
    let factor = Factor::new_totp(&name);
    let account = user.email.clone().unwrap_or_default();
    let uri = totp(&factor.secret, &issuer, &account)
        .and_then(|t| t.to_url().ok())
        .ok_or_else(|| AuthError::unexpected("Error generating QR Code"))?;
    let qr_code = QrCode::new(uri.as_bytes())
        .map(|code| code.render::<svg::Color>().build())
        .map_err(|e| AuthError::unexpected(format!("Error generating QR Code: {e}")))?;
    let answer = json!({
        "id": factor.id,
        "type": "totp",
        "friendly_name": factor.friendly_name,
        "totp": {"qr_code": qr_code, "secret": factor.secret, "uri": uri},
    });
    user.factors.push(factor);
    Ok(json(StatusCode::OK, &answer))
}

/// `POST /factors/{id}/challenge`: `{id, type, expires_at}`.
pub(super) fn challenge(
    shared: &Shared,
    req: &Req,
    factor_id: &str,
) -> Result<Response<StubBody>, AuthError> {
    let caller = mfa_caller(shared, req)?;
    let mut store = shared.auth();
    let factor_id = owned_factor(&mut store, &caller, factor_id)?.id;
    let challenge = MfaChallenge::new(factor_id);
    let expires_at = challenge.expires_at();
    let challenge_id = Uuid::new_v4();
    store.challenges.insert(challenge_id, challenge);
    owned_factor(&mut store, &caller, &factor_id.to_string())?.last_challenged_at =
        Some(rfc3339_now());
    Ok(json(
        StatusCode::OK,
        &json!({"id": challenge_id, "type": "totp", "expires_at": expires_at}),
    ))
}

/// `POST /factors/{id}/verify {challenge_id, code}`: the caller's session
/// at `aal2`, as a token response with a new refresh token.
pub(super) async fn verify(
    shared: &Shared,
    req: &mut Req,
    factor_id: &str,
) -> Result<Response<StubBody>, AuthError> {
    let caller = mfa_caller(shared, req)?;
    let session_id = caller
        .session_id
        .ok_or_else(|| AuthError::unexpected("Cannot read SessionId claim as UUID"))?;
    let body: VerifyBody = read_json(req).await?;
    let mut store = shared.auth();
    let factor = owned_factor(&mut store, &caller, factor_id)?;
    let (factor_id, secret) = (factor.id, factor.secret.clone());
    let not_found = || {
        AuthError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "mfa_factor_not_found",
            "MFA factor with the provided challenge ID not found",
        )
    };
    let challenge_id = body.challenge_id.parse::<Uuid>().map_err(|_| not_found())?;
    let challenge = store
        .challenges
        .get(&challenge_id)
        .filter(|c| c.factor_id == factor_id)
        .ok_or_else(not_found)?;
    if challenge.has_expired() {
        store.challenges.remove(&challenge_id);
        return Err(AuthError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "mfa_challenge_expired",
            format!(
                "MFA challenge {challenge_id} has expired, verify against another challenge or create a new challenge."
            ),
        ));
    }
    let valid =
        totp(&secret, "stub", "user").is_some_and(|t| t.check_current(&body.code).is_some());
    if !valid {
        return Err(AuthError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "mfa_verification_failed",
            "Invalid TOTP code entered",
        ));
    }
    store.challenges.remove(&challenge_id);
    let user = store.user_mut(caller.user_id).ok_or_else(user_not_found)?;
    user.factors.retain(|f| f.verified || f.id == factor_id);
    if let Some(factor) = user.factors.iter_mut().find(|f| f.id == factor_id) {
        factor.verified = true;
        factor.updated_at = rfc3339_now();
    }
    let refresh_token = store.raise_to_aal2(session_id, "totp")?;
    let tokens = token_response(shared, &mut store, session_id, &refresh_token)?;
    Ok(token_answer(shared, &tokens))
}

/// `DELETE /factors/{id}`: `{id}`; a verified factor needs an `aal2` session.
pub(super) fn unenroll(
    shared: &Shared,
    req: &Req,
    factor_id: &str,
) -> Result<Response<StubBody>, AuthError> {
    let caller = mfa_caller(shared, req)?;
    let mut store = shared.auth();
    let factor = owned_factor(&mut store, &caller, factor_id)?;
    let (factor_id, verified) = (factor.id, factor.verified);
    let session_aal = caller
        .session_id
        .and_then(|id| store.session(id))
        .map(|s| s.aal);
    if verified && session_aal != Some("aal2") {
        return Err(AuthError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "insufficient_aal",
            "AAL2 required to unenroll verified factor",
        ));
    }
    if let Some(user) = store.user_mut(caller.user_id) {
        user.factors.retain(|f| f.id != factor_id);
    }
    store.challenges.retain(|_, c| c.factor_id != factor_id);
    store.lower_to_aal1(caller.user_id);
    Ok(json(StatusCode::OK, &json!({"id": factor_id})))
}

/// The signed-in, non-anonymous caller (`requireAuthentication` and `requireNotAnonymous`).
fn mfa_caller(shared: &Shared, req: &Req) -> Result<Caller, AuthError> {
    let caller = authenticate(shared, req)?;
    let anonymous = shared
        .auth()
        .user(caller.user_id)
        .is_some_and(|u| u.is_anonymous);
    if anonymous {
        return Err(AuthError::new(
            StatusCode::FORBIDDEN,
            "no_authorization",
            "Anonymous user not allowed to perform these actions",
        ));
    }
    Ok(caller)
}

/// The caller's factor named by the path (`loadFactor`).
fn owned_factor<'a>(
    store: &'a mut AuthStore,
    caller: &Caller,
    factor_id: &str,
) -> Result<&'a mut Factor, AuthError> {
    let id = factor_id.parse::<Uuid>().map_err(|_| {
        AuthError::new(
            StatusCode::NOT_FOUND,
            "validation_failed",
            "factor_id must be an UUID",
        )
    })?;
    store
        .user_mut(caller.user_id)
        .and_then(|u| u.factors.iter_mut().find(|f| f.id == id))
        .ok_or_else(|| {
            AuthError::new(
                StatusCode::NOT_FOUND,
                "mfa_factor_not_found",
                "Factor not found",
            )
        })
}

fn disabled(code: &'static str, kind: &str) -> AuthError {
    AuthError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        code,
        format!("MFA enroll is disabled for {kind}"),
    )
}
