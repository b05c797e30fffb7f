//! `POST /admin/generate_link` (service role): makes the email link a mail
//! would carry, without sending it, and `POST /verify {token_hash, type}`
//! for those links.
//!
//! As GoTrue's `adminGenerateLink`: the body is `{type, email, password,
//! new_email, data, redirect_to}`; `signup` (with a password) and `invite`
//! create an unconfirmed user (422 `email_exists` when a confirmed one has
//! the address), `magiclink` creates a missing user, `recovery` needs an
//! existing one (404 `user_not_found`), `email_change_current` and
//! `email_change_new` need `new_email` and start a secure email change,
//! whose two links (one per address) must both be verified. The answer is
//! the user's JSON with `action_link`, `email_otp`, `hashed_token` (hex
//! SHA-224 of the address and the OTP), `verification_type` and
//! `redirect_to` beside its fields.
//!
//! `POST /verify` looks the hash up in the column its `type` names:
//! `signup` and `invite` the confirmation token, `magiclink` and
//! `recovery` the recovery token, `email` either, `email_change` the email
//! change tokens; another type, an unknown or a used hash is 403
//! `otp_expired`. Each link confirms the address and answers with a token
//! response, except the first half of an email change, which answers 200
//! `{msg}` and changes nothing until the other half is verified.

use http::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha224};
use uuid::Uuid;

use super::cookies::token_answer;
use super::error::AuthError;
use super::issue::sign_in;
use super::links::{EmailLink, LinkToken};
use super::redirects::site_url;
use super::store::AuthStore;
use super::user::User;
use super::{present, read_json};
use crate::request::Req;
use crate::response::{StubBody, json};
use crate::state::Shared;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GenerateLinkBody {
    #[serde(rename = "type")]
    kind: String,
    email: Option<String>,
    password: Option<String>,
    new_email: Option<String>,
    data: Option<Map<String, Value>>,
    redirect_to: Option<String>,
}

const OTHER_ADDRESS: &str =
    "Confirmation link accepted. Please proceed to confirm link sent to the other email";

fn hashed_token(address: &str, otp: &str) -> String {
    let digest = Sha224::digest(format!("{}{otp}", address.to_ascii_lowercase()).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh six-digit OTP.
fn new_otp() -> String {
    let n = u32::from_le_bytes(
        Uuid::new_v4().as_bytes()[..4]
            .try_into()
            .unwrap_or_default(),
    );
    format!("{:06}", n % 1_000_000)
}

/// The service role's bearer, as GoTrue's `requireAdmin` wants it.
fn require_admin(shared: &Shared, req: &Req) -> Result<(), AuthError> {
    match req.bearer() {
        None => Err(AuthError::new(
            StatusCode::UNAUTHORIZED,
            "no_authorization",
            "This endpoint requires a valid Bearer token",
        )),
        Some(token) if token == shared.service_role_key => Ok(()),
        Some(_) => Err(AuthError::new(
            StatusCode::FORBIDDEN,
            "not_admin",
            "User not allowed",
        )),
    }
}

fn email_exists() -> AuthError {
    AuthError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "email_exists",
        "A user with this email address has already been registered",
    )
}

pub(super) async fn generate_link(
    shared: &Shared,
    req: &mut Req,
) -> Result<Response<StubBody>, AuthError> {
    require_admin(shared, req)?;
    let body: GenerateLinkBody = read_json(req).await?;
    let email = present(body.email.as_deref())
        .ok_or_else(|| AuthError::validation("An email address is required"))?
        .to_ascii_lowercase();
    let mut store = shared.auth();
    let existing = store.user_id_by_email(&email);
    let confirmed = existing
        .and_then(|id| store.user(id))
        .is_some_and(User::is_confirmed);
    let (user_id, address, token, verification_type) = match body.kind.as_str() {
        "signup" | "invite" => {
            if confirmed {
                return Err(email_exists());
            }
            let password = present(body.password.as_deref());
            if body.kind == "signup" && password.is_none() {
                return Err(AuthError::validation("Signup requires a valid password"));
            }
            let id = existing.unwrap_or_else(|| {
                let mut user = User::new(Some(email.clone()), None);
                user.link("email");
                user.user_metadata = body.data.clone().unwrap_or_default();
                store.insert_user(user)
            });
            if let (Some(password), Some(user)) = (password, store.user_mut(id)) {
                user.set_password(password);
            }
            (
                id,
                email.clone(),
                LinkToken::Confirmation,
                body.kind.clone(),
            )
        }
        "magiclink" | "recovery" => {
            let id = match existing {
                Some(id) => id,
                None if body.kind == "magiclink" => {
                    let mut user = User::new(Some(email.clone()), None);
                    user.link("email");
                    store.insert_user(user)
                }
                None => {
                    return Err(AuthError::new(
                        StatusCode::NOT_FOUND,
                        "user_not_found",
                        "User with this email not found",
                    ));
                }
            };
            (id, email.clone(), LinkToken::Recovery, body.kind.clone())
        }
        "email_change_current" | "email_change_new" => {
            let id = existing.ok_or_else(|| {
                AuthError::new(StatusCode::NOT_FOUND, "user_not_found", "User not found")
            })?;
            let new_email = present(body.new_email.as_deref())
                .ok_or_else(|| AuthError::validation("The new email address is required"))?
                .to_ascii_lowercase();
            if store.user_id_by_email(&new_email).is_some() {
                return Err(email_exists());
            }
            let (address, token) =
                email_change_links(&mut store, id, &email, &new_email, &body.kind);
            (id, address, token, "email_change".to_owned())
        }
        _ => {
            return Err(AuthError::validation(
                "Invalid email action link type requested",
            ));
        }
    };
    let otp = new_otp();
    let hash = hashed_token(&address, &otp);
    store
        .links
        .insert(hash.clone(), EmailLink { user_id, token });
    let redirect_to = present(body.redirect_to.as_deref())
        .map(str::to_owned)
        .unwrap_or_else(|| site_url(shared));
    let action_link = format!(
        "{}/auth/v1/verify?token={hash}&type={verification_type}&redirect_to={}",
        shared.base_url,
        form_urlencoded::byte_serialize(redirect_to.as_bytes()).collect::<String>()
    );
    let mut answer = store
        .user(user_id)
        .map(User::to_json)
        .unwrap_or_else(|| json!({}));
    if let Some(map) = answer.as_object_mut() {
        map.insert("action_link".into(), json!(action_link));
        map.insert("email_otp".into(), json!(otp));
        map.insert("hashed_token".into(), json!(hash));
        map.insert("verification_type".into(), json!(verification_type));
        map.insert("redirect_to".into(), json!(redirect_to));
    }
    Ok(json(StatusCode::OK, &answer))
}

/// Starts (or continues) a secure email change to `new_email`: the half
/// asked for gets a new link, whose address is returned with its token;
/// the other half keeps its link, or gets one when the change is new (its
/// hash is not returned: that mail goes to the other address).
fn email_change_links(
    store: &mut AuthStore,
    user_id: Uuid,
    current: &str,
    new_email: &str,
    kind: &str,
) -> (String, LinkToken) {
    let asked_current = kind == "email_change_current";
    store.links.drop_email_changes(user_id, |pending, half| {
        pending == new_email && half != asked_current
    });
    if !store.links.has_half(user_id, new_email, !asked_current) {
        let other = if asked_current { new_email } else { current };
        let token = LinkToken::EmailChange {
            new_email: new_email.to_owned(),
            current: !asked_current,
        };
        store.links.insert(
            hashed_token(other, &new_otp()),
            EmailLink { user_id, token },
        );
    }
    let address = if asked_current { current } else { new_email };
    let token = LinkToken::EmailChange {
        new_email: new_email.to_owned(),
        current: asked_current,
    };
    (address.to_owned(), token)
}

/// `POST /verify` with the hash of a generated link: `None` when no
/// generated link has this hash (the caller then tries its own).
pub(super) fn verify_hash(
    shared: &Shared,
    store: &mut AuthStore,
    hash: &str,
    kind: &str,
) -> Option<Result<Response<StubBody>, AuthError>> {
    let link = store.links.take(hash)?;
    let fits = matches!(
        (&link.token, kind),
        (LinkToken::Confirmation, "signup" | "invite" | "email")
            | (LinkToken::Recovery, "magiclink" | "recovery" | "email")
            | (LinkToken::EmailChange { .. }, "email_change")
    );
    if !fits {
        // A wrong type finds nothing in the column it names; the link stays.
        store.links.insert(hash.to_ascii_lowercase(), link);
        return Some(Err(otp_expired()));
    }
    Some(redeem(shared, store, link, kind))
}

fn redeem(
    shared: &Shared,
    store: &mut AuthStore,
    link: EmailLink,
    kind: &str,
) -> Result<Response<StubBody>, AuthError> {
    if let LinkToken::EmailChange { new_email, .. } = &link.token {
        if store.links.has_email_change(link.user_id) {
            return Ok(json(StatusCode::OK, &json!({ "msg": OTHER_ADDRESS })));
        }
        store.change_email(link.user_id, new_email)?;
    }
    store
        .user_mut(link.user_id)
        .ok_or_else(otp_expired)?
        .confirm();
    let amr = match kind {
        "recovery" | "invite" | "magiclink" | "email_change" => kind,
        _ => "otp",
    };
    let tokens = sign_in(shared, store, link.user_id, amr)?;
    Ok(token_answer(shared, &tokens))
}

fn otp_expired() -> AuthError {
    AuthError::new(
        StatusCode::FORBIDDEN,
        "otp_expired",
        "Token has expired or is invalid",
    )
}
