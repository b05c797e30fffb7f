//! One-time passwords and email links: `POST /otp`, `/magiclink`, `/recover`
//! and `/resend` send the fixed code [`OTP_CODE`] to an email or phone
//! (kept in the [outbox](super::outbox) with GoTrue's template type); `POST /verify`
//! redeems it for a session; `GET /verify` is the link a mail would carry
//! (token = [`link_token_hash`], prefixed `pkce_` for PKCE flows). A code
//! sent for an email or phone change is redeemed only with
//! `type=email_change` / `phone_change`, which applies the change.
//!
//! [`OTP_CODE`]: super::store::OTP_CODE
//! [`link_token_hash`]: super::store::link_token_hash

use http::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::cookies::{add_legacy_cookies, token_answer};
use super::error::AuthError;
use super::issue::{fragment, sign_in};
use super::outbox::Letter;
use super::pkce::Challenge;
use super::store::{AuthStore, PendingOtp};
use super::user::User;
use super::{present, read_json, redirect_target, with_fragment, with_query_param};
use crate::request::Req;
use crate::response::{StubBody, json, redirect};
use crate::state::Shared;

#[derive(Debug, Deserialize)]
#[serde(default)]
struct SendBody {
    email: Option<String>,
    phone: Option<String>,
    create_user: bool,
    data: Option<Map<String, Value>>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

impl Default for SendBody {
    fn default() -> Self {
        SendBody {
            email: None,
            phone: None,
            create_user: true,
            data: None,
            code_challenge: None,
            code_challenge_method: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct VerifyBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    token: Option<String>,
    token_hash: Option<String>,
}

/// `POST /otp`, `/magiclink` and `/recover`: answers `{}` and remembers the code.
pub(super) async fn send(shared: &Shared, req: &mut Req) -> Result<Response<StubBody>, AuthError> {
    let recover = req.path.ends_with("/recover");
    let body: SendBody = read_json(req).await?;
    let email = present(body.email.as_deref());
    let phone = present(body.phone.as_deref());
    let challenge = Challenge::parse(
        body.code_challenge.as_deref(),
        body.code_challenge_method.as_deref(),
    )?;
    let mut store = shared.auth();
    let existing = match (email, phone) {
        (Some(email), _) => store.user_id_by_email(email),
        (None, Some(phone)) => store.user_id_by_phone(phone),
        (None, None) => {
            return Err(AuthError::validation(
                "An email address or phone number is required",
            ));
        }
    };
    let confirmed = existing
        .and_then(|id| store.user(id))
        .is_some_and(|u| u.is_confirmed());
    if existing.is_none() {
        if recover {
            // Auth does not reveal whether the address is known.
            return Ok(json(StatusCode::OK, &json!({})));
        }
        if !body.create_user {
            return Err(AuthError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "otp_disabled",
                "Signups not allowed for otp",
            ));
        }
        let mut user = User::new(email.map(str::to_owned), phone.map(str::to_owned));
        user.link(if email.is_some() { "email" } else { "phone" });
        user.user_metadata = body.data.unwrap_or_default();
        store.insert_user(user);
    }
    // GoTrue's templates: an unconfirmed user gets the sign-up
    // confirmation (which also signs in), unless sign-ups are autoconfirmed.
    let kind = match (email, recover) {
        (None, _) => "sms",
        (Some(_), true) => "recovery",
        (Some(_), false) if confirmed || shared.config.autoconfirm => "magiclink",
        (Some(_), false) => "signup",
    };
    let redirect_to = redirect_target(shared, req);
    if let Some(to) = email.or(phone) {
        let letter = Letter {
            to,
            kind,
            api_url: &shared.issuer,
            redirect_to: &redirect_to,
            pkce: challenge.is_some(),
        };
        store.send_otp(&letter, challenge);
    }
    Ok(json(StatusCode::OK, &json!({})))
}

/// `POST /resend {type, email | phone}`: `{}`, remembering a new code for a known user.
pub(super) async fn resend(
    shared: &Shared,
    req: &mut Req,
) -> Result<Response<StubBody>, AuthError> {
    let body: VerifyBody = read_json(req).await?;
    if !matches!(
        body.kind.as_deref(),
        Some("signup" | "email_change" | "sms" | "phone_change")
    ) {
        return Err(AuthError::validation(
            "Missing one of these types: signup, email_change, sms, phone_change",
        ));
    }
    let identifier = present(body.email.as_deref())
        .or(present(body.phone.as_deref()))
        .ok_or_else(|| AuthError::validation("An email address or phone number is required"))?;
    let redirect_to = redirect_target(shared, req);
    let kind = body.kind.as_deref().unwrap_or_default();
    let mut store = shared.auth();
    let known = store
        .user_id_by_email(identifier)
        .or_else(|| store.user_id_by_phone(identifier))
        .or_else(|| store.user_id_by_pending_change(identifier));
    let Some(user_id) = known else {
        return Ok(json(StatusCode::OK, &json!({})));
    };
    // A change's code goes again to the new address or number of the
    // user named by their current or their new one.
    let pending_change = store.user(user_id).and_then(|u| match kind {
        "email_change" => u.new_email.clone(),
        "phone_change" => u.new_phone.clone(),
        _ => None,
    });
    let to = pending_change.as_deref().unwrap_or(identifier);
    let letter = Letter {
        to,
        kind,
        api_url: &shared.issuer,
        redirect_to: &redirect_to,
        pkce: false,
    };
    match kind {
        "email_change" if pending_change.is_some() => {
            store.send_email_change(user_id, &letter, None)?;
        }
        "phone_change" if pending_change.is_some() => store.send_phone_change(user_id, &letter)?,
        "email_change" | "phone_change" => {}
        _ => store.send_otp(&letter, None),
    }
    Ok(json(StatusCode::OK, &json!({})))
}

/// `POST /verify`: the remembered code (or link token hash) buys a token response.
pub(super) async fn verify(
    shared: &Shared,
    req: &mut Req,
) -> Result<Response<StubBody>, AuthError> {
    let body: VerifyBody = read_json(req).await?;
    let kind = body.kind.as_deref().unwrap_or("email");
    let token = present(body.token.as_deref()).unwrap_or_default();
    let mut store = shared.auth();
    if let Some(hash) = present(body.token_hash.as_deref())
        && let Some(answer) = super::admin::verify_hash(shared, &mut store, hash, kind)
    {
        return answer;
    }
    let identifier = match (
        present(body.email.as_deref()),
        present(body.phone.as_deref()),
    ) {
        (Some(id), _) | (None, Some(id)) => {
            store.take_otp(id, token).map(|otp| (id.to_owned(), otp))
        }
        (None, None) => present(body.token_hash.as_deref())
            .map(|hash| hash.strip_prefix("pkce_").unwrap_or(hash))
            .and_then(|hash| store.take_link(hash)),
    };
    let (identifier, otp) = identifier.ok_or_else(otp_expired)?;
    let Some(user_id) = redeem(&mut store, &identifier, &otp, kind) else {
        // A code of another type stays valid for its own.
        store.restore_otp(&identifier, otp);
        return Err(otp_expired());
    };
    let tokens = sign_in(shared, &mut store, user_id, amr_method(kind))?;
    Ok(token_answer(shared, &tokens))
}

/// `GET /verify?token&type&redirect_to`: 303 to `redirect_to` with `?code=`
/// (PKCE) or a `#access_token=...` fragment; errors go in the fragment too.
pub(super) fn verify_link(shared: &Shared, req: &Req) -> Response<StubBody> {
    let target = redirect_target(shared, req);
    let kind = req
        .query_param("type")
        .unwrap_or_else(|| "magiclink".to_owned());
    let token = req.query_param("token").unwrap_or_default();
    let (hash, is_pkce) = match token.strip_prefix("pkce_") {
        Some(hash) => (hash, true),
        None => (token.as_str(), false),
    };
    let mut store = shared.auth();
    let found = store
        .take_link(hash)
        .and_then(|(id, otp)| Some((redeem(&mut store, &id, &otp, &kind)?, otp)));
    let Some((user_id, otp)) = found else {
        let error = "error=access_denied&error_code=otp_expired&error_description=Email+link+is+invalid+or+has+expired";
        return redirect(
            &req.method,
            StatusCode::SEE_OTHER,
            &with_fragment(&target, error),
        );
    };
    if is_pkce {
        let code = store.insert_flow(user_id, amr_method(&kind), None, otp.challenge);
        return redirect(
            &req.method,
            StatusCode::SEE_OTHER,
            &with_query_param(&target, "code", &code),
        );
    }
    match sign_in(shared, &mut store, user_id, amr_method(&kind)) {
        Ok(tokens) => {
            let mut response = redirect(
                &req.method,
                StatusCode::SEE_OTHER,
                &with_fragment(&target, &fragment(&tokens, &kind)),
            );
            add_legacy_cookies(shared, &mut response, &tokens);
            response
        }
        Err(error) => {
            let description =
                form_urlencoded::byte_serialize(error.msg.as_bytes()).collect::<String>();
            let error = format!(
                "error=server_error&error_code={}&error_description={description}",
                error.code
            );
            redirect(
                &req.method,
                StatusCode::SEE_OTHER,
                &with_fragment(&target, &error),
            )
        }
    }
}

/// What a redeemed code does: an email or phone change's code (only with
/// `type=email_change` / `phone_change`) applies the change; any other
/// confirms the user behind the email or phone. Returns the user's id.
fn redeem(store: &mut AuthStore, identifier: &str, otp: &PendingOtp, kind: &str) -> Option<Uuid> {
    match (otp.change_of, kind) {
        (Some(user_id), "email_change") if identifier.contains('@') => {
            store.complete_email_change(user_id, identifier).ok()?;
            Some(user_id)
        }
        (Some(user_id), "phone_change") if !identifier.contains('@') => {
            store.complete_phone_change(user_id, identifier).ok()?;
            Some(user_id)
        }
        (Some(_), _) | (None, "email_change" | "phone_change") => None,
        (None, _) => confirm_user(store, identifier),
    }
}

/// Marks the user behind an email or phone as confirmed; returns its id.
fn confirm_user(store: &mut AuthStore, identifier: &str) -> Option<Uuid> {
    let id = store
        .user_id_by_email(identifier)
        .or_else(|| store.user_id_by_phone(identifier))?;
    store.user_mut(id)?.confirm();
    Some(id)
}

/// The `amr` method Auth records for each verification type.
fn amr_method(kind: &str) -> &'static str {
    match kind {
        "recovery" => "recovery",
        "invite" => "invite",
        "magiclink" => "magiclink",
        "email_change" => "email_change",
        _ => "otp",
    }
}

fn otp_expired() -> AuthError {
    AuthError::new(
        StatusCode::FORBIDDEN,
        "otp_expired",
        "Token has expired or is invalid",
    )
}
