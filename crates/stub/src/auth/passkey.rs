//! Passkey sign-in (discoverable WebAuthn credentials), in the request and
//! answer shapes of GoTrue's `POST /passkeys/authentication/options` and
//! `POST /passkeys/authentication/verify`; the verify answers with a token
//! response for a **new** session (`amr` method `passkey`).
//!
//! No authenticator is involved: the stub accepts any credential whose
//! `id` is `stub:<email>` of an existing, confirmed user, with a
//! `challenge_id` from the options call (used once, 300 s).

use http::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::error::AuthError;
use super::issue::sign_in;
use super::read_json;
use crate::clock::unix_now;
use crate::request::Req;
use crate::response::{StubBody, json};
use crate::state::Shared;

/// `GOTRUE_WEBAUTHN_CHALLENGE_EXPIRY_DURATION`'s default, in seconds.
const CHALLENGE_TTL: u64 = 300;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct VerifyBody {
    challenge_id: String,
    credential: Option<Value>,
}

/// `POST /passkeys/authentication/options`: `{challenge_id, options, expires_at}`.
pub(super) fn options(shared: &Shared) -> Response<StubBody> {
    let challenge_id = Uuid::new_v4();
    let expires_at = unix_now() + CHALLENGE_TTL;
    shared
        .auth()
        .passkey_challenges
        .insert(challenge_id, expires_at);
    let options = json!({
        "challenge": Uuid::new_v4().simple().to_string(),
        "timeout": CHALLENGE_TTL * 1000,
        "rpId": shared.addr.ip().to_string(),
        "userVerification": "preferred",
    });
    json(
        StatusCode::OK,
        &json!({"challenge_id": challenge_id, "options": options, "expires_at": expires_at}),
    )
}

/// `POST /passkeys/authentication/verify {challenge_id, credential}`: a token response.
pub(super) async fn verify(
    shared: &Shared,
    req: &mut Req,
) -> Result<Response<StubBody>, AuthError> {
    let body: VerifyBody = read_json(req).await?;
    if body.challenge_id.is_empty() {
        return Err(AuthError::validation("challenge_id is required"));
    }
    let credential = body
        .credential
        .ok_or_else(|| AuthError::validation("credential is required"))?;
    let challenge_id = body
        .challenge_id
        .parse::<Uuid>()
        .map_err(|_| AuthError::validation("challenge_id must be a valid UUID"))?;
    let mut store = shared.auth();
    let expires_at = store
        .passkey_challenges
        .remove(&challenge_id)
        .ok_or_else(|| {
            AuthError::bad_request(
                "webauthn_challenge_not_found",
                "Challenge not found or already used",
            )
        })?;
    if unix_now() > expires_at {
        return Err(AuthError::bad_request(
            "webauthn_challenge_expired",
            "Challenge has expired",
        ));
    }
    let failed = || {
        AuthError::bad_request(
            "webauthn_verification_failed",
            "Credential verification failed",
        )
    };
    let user_id = credential["id"]
        .as_str()
        .and_then(|id| id.strip_prefix("stub:"))
        .and_then(|email| store.user_id_by_email(email))
        .ok_or_else(failed)?;
    let confirmed = store.user(user_id).is_some_and(|u| u.is_confirmed());
    if !confirmed {
        return Err(AuthError::new(
            StatusCode::FORBIDDEN,
            "email_not_confirmed",
            "Email not confirmed",
        ));
    }
    let tokens = sign_in(shared, &mut store, user_id, "passkey")?;
    Ok(json(StatusCode::OK, &tokens))
}
