//! Auth's tables: users, sessions, refresh tokens (with rotation and reuse
//! detection), PKCE flow states, pending one-time passwords (and the
//! outbox of what was sent), identity-linking states, SAML relay states
//! and MFA challenges.
//! Callers hold the lock from `Shared::auth` for a whole operation.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::StatusCode;
use sha2::{Digest, Sha224};
use uuid::Uuid;

use super::error::AuthError;
use super::factors::MfaChallenge;
use super::identities::LinkState;
use super::outbox::{Letter, Message};
use super::pkce::Challenge;
use super::user::User;
use crate::clock::{rfc3339_now, unix_now};

/// The one-time password the stub "sends" for every email or phone.
pub(crate) const OTP_CODE: &str = "123456";

/// A row of `auth.sessions`.
#[derive(Debug, Clone)]
pub(crate) struct AuthSession {
    pub id: Uuid,
    pub user_id: Uuid,
    /// How the session was authenticated (`amr`: method and Unix time),
    /// most recent first.
    pub amr: Vec<(String, u64)>,
    /// `aal1`, or `aal2` once a second factor was verified.
    pub aal: &'static str,
    seq: u64,
}

#[derive(Debug)]
struct RefreshToken {
    session_id: Uuid,
    revoked_at: Option<Instant>,
    child: Option<String>,
}

/// A pending authorization code (PKCE flow state).
#[derive(Debug, Clone)]
pub(crate) struct Flow {
    pub user_id: Uuid,
    pub amr_method: String,
    /// The OAuth provider, for flows that came through `/authorize`.
    pub provider: Option<String>,
    challenge: Option<Challenge>,
}

/// A one-time password waiting for `/verify`.
#[derive(Debug, Clone)]
pub(crate) struct PendingOtp {
    pub challenge: Option<Challenge>,
    /// Sent to the new address or phone of this user's email or phone
    /// change (redeemed only by `type=email_change` / `phone_change`).
    pub change_of: Option<Uuid>,
}

#[derive(Debug, Default)]
pub(crate) struct AuthStore {
    users: HashMap<Uuid, User>,
    by_email: HashMap<String, Uuid>,
    by_phone: HashMap<String, Uuid>,
    sessions: HashMap<Uuid, AuthSession>,
    next_session_seq: u64,
    refresh_tokens: HashMap<String, RefreshToken>,
    flows: HashMap<String, Flow>,
    otps: HashMap<String, PendingOtp>,
    /// Every mail and text message sent, oldest first.
    outbox: Vec<Message>,
    /// Identity links begun at `/user/identities/authorize`, by `state`.
    pub link_states: HashMap<String, LinkState>,
    /// MFA challenges by id.
    pub challenges: HashMap<Uuid, MfaChallenge>,
    /// Passkey sign-in challenges: id to expiry (Unix seconds).
    pub passkey_challenges: HashMap<Uuid, u64>,
    /// Email links made by `POST /admin/generate_link`.
    pub links: super::links::EmailLinks,
    /// SAML relay states and the assertions the stand-in identity provider issued.
    pub saml: super::sso::SamlState,
    issued: Vec<String>,
}

impl AuthStore {
    pub fn issued_tokens(&self) -> &[String] {
        &self.issued
    }

    /// Remembers a token handed out, for `Stub::issued_tokens`.
    pub fn note_issued(&mut self, token: &str) {
        self.issued.push(token.to_owned());
    }

    pub fn user(&self, id: Uuid) -> Option<&User> {
        self.users.get(&id)
    }

    pub fn user_mut(&mut self, id: Uuid) -> Option<&mut User> {
        self.users.get_mut(&id)
    }

    pub fn user_id_by_email(&self, email: &str) -> Option<Uuid> {
        self.by_email.get(&email.to_ascii_lowercase()).copied()
    }

    pub fn user_id_by_phone(&self, phone: &str) -> Option<Uuid> {
        self.by_phone.get(phone).copied()
    }

    /// The user changing their email or phone to `identifier`.
    pub fn user_id_by_pending_change(&self, identifier: &str) -> Option<Uuid> {
        let email = identifier.to_ascii_lowercase();
        self.users
            .values()
            .find(|u| {
                u.new_email.as_deref() == Some(email.as_str())
                    || u.new_phone.as_deref() == Some(identifier)
            })
            .map(|u| u.id)
    }

    /// Adds a user (its email and phone must be free); returns its id.
    pub fn insert_user(&mut self, mut user: User) -> Uuid {
        let id = user.id;
        if let Some(email) = &mut user.email {
            *email = email.to_ascii_lowercase();
            self.by_email.insert(email.clone(), id);
        }
        if let Some(phone) = &user.phone {
            self.by_phone.insert(phone.clone(), id);
        }
        self.users.insert(id, user);
        id
    }

    /// Adds a user an SSO sign-in created. GoTrue lets SSO users share an
    /// address with other users, and its lookups by address skip them
    /// (`is_sso_user = false`): the user is not indexed by its address.
    pub fn insert_sso_user(&mut self, mut user: User) -> Uuid {
        let id = user.id;
        user.email = user.email.map(|e| e.to_ascii_lowercase());
        self.users.insert(id, user);
        id
    }

    /// Deletes a user; their sessions and refresh tokens go with them.
    pub fn delete_user(&mut self, id: Uuid) {
        self.end_user_sessions(id, None);
        if let Some(user) = self.users.remove(&id) {
            if let Some(email) = &user.email
                && self.by_email.get(email) == Some(&id)
            {
                self.by_email.remove(email);
            }
            if let Some(phone) = &user.phone {
                self.by_phone.remove(phone);
            }
        }
    }

    /// Gives a user a new email, keeping the index in step.
    pub fn change_email(&mut self, id: Uuid, email: &str) -> Result<(), AuthError> {
        let email = email.to_ascii_lowercase();
        match self.by_email.get(&email) {
            Some(owner) if *owner == id => return Ok(()),
            Some(_) => return Err(email_exists()),
            None => {}
        }
        let user = self.users.get_mut(&id).ok_or_else(user_not_found)?;
        if let Some(old) = user.email.replace(email.clone())
            && self.by_email.get(&old) == Some(&id)
        {
            self.by_email.remove(&old);
        }
        self.by_email.insert(email, id);
        Ok(())
    }

    /// Gives a user a new phone, keeping the index in step.
    pub fn change_phone(&mut self, id: Uuid, phone: &str) -> Result<(), AuthError> {
        match self.by_phone.get(phone) {
            Some(owner) if *owner == id => return Ok(()),
            Some(_) => return Err(phone_exists()),
            None => {}
        }
        let user = self.users.get_mut(&id).ok_or_else(user_not_found)?;
        if let Some(old) = user.phone.replace(phone.to_owned()) {
            self.by_phone.remove(&old);
        }
        self.by_phone.insert(phone.to_owned(), id);
        Ok(())
    }

    /// Creates a confirmed email user, or resets an existing one's password.
    pub fn create_confirmed_user(&mut self, email: &str, password: &str) -> Uuid {
        if let Some(id) = self.user_id_by_email(email)
            && let Some(user) = self.users.get_mut(&id)
        {
            user.set_password(password);
            user.confirm();
            return id;
        }
        let mut user = User::new(Some(email.to_owned()), None);
        user.set_password(password);
        user.link("email");
        user.confirm();
        self.insert_user(user)
    }

    /// Opens an Auth session for the user; returns its id and first refresh token.
    pub fn start_session(
        &mut self,
        user_id: Uuid,
        amr_method: &str,
    ) -> Result<(Uuid, String), AuthError> {
        let user = self.users.get_mut(&user_id).ok_or_else(user_not_found)?;
        user.last_sign_in_at = Some(rfc3339_now());
        let session = AuthSession {
            id: Uuid::new_v4(),
            user_id,
            amr: vec![(amr_method.to_owned(), unix_now())],
            aal: "aal1",
            seq: self.next_session_seq,
        };
        self.next_session_seq += 1;
        let session_id = session.id;
        self.sessions.insert(session_id, session);
        let token = self.new_refresh_token(session_id);
        Ok((session_id, token))
    }

    pub fn session(&self, id: Uuid) -> Option<&AuthSession> {
        self.sessions.get(&id)
    }

    /// Ids of the user's sessions, oldest first.
    pub fn session_ids_of(&self, user_id: Uuid) -> Vec<Uuid> {
        let mut sessions: Vec<&AuthSession> = self
            .sessions
            .values()
            .filter(|s| s.user_id == user_id)
            .collect();
        sessions.sort_by_key(|s| s.seq);
        sessions.into_iter().map(|s| s.id).collect()
    }

    /// Ends one session and its refresh tokens.
    pub fn end_session(&mut self, id: Uuid) {
        self.sessions.remove(&id);
        self.refresh_tokens.retain(|_, t| t.session_id != id);
    }

    /// Ends all the user's sessions except `keep`.
    pub fn end_user_sessions(&mut self, user_id: Uuid, keep: Option<Uuid>) {
        for id in self.session_ids_of(user_id) {
            if Some(id) != keep {
                self.end_session(id);
            }
        }
    }

    /// Rotates a refresh token: returns the session and the new refresh token.
    ///
    /// A replay of a revoked token within `reuse_interval` gets the current
    /// descendant back; later, it ends the whole session.
    pub fn rotate_refresh(
        &mut self,
        token: &str,
        reuse_interval: Duration,
    ) -> Result<(Uuid, String), AuthError> {
        let not_found = || {
            AuthError::bad_request(
                "refresh_token_not_found",
                "Invalid Refresh Token: Refresh Token Not Found",
            )
        };
        let current = self.refresh_tokens.get(token).ok_or_else(not_found)?;
        let session_id = current.session_id;
        let user_id = self.sessions.get(&session_id).map(|s| s.user_id);
        if user_id
            .and_then(|id| self.users.get(&id))
            .is_some_and(|u| u.banned)
        {
            return Err(AuthError::bad_request(
                "user_banned",
                "Invalid Refresh Token: User Banned",
            ));
        }
        match current.revoked_at {
            None => {
                let child = self.new_refresh_token(session_id);
                if let Some(presented) = self.refresh_tokens.get_mut(token) {
                    presented.revoked_at = Some(Instant::now());
                    presented.child = Some(child.clone());
                }
                Ok((session_id, child))
            }
            Some(revoked_at) if revoked_at.elapsed() < reuse_interval => {
                let live = self.live_descendant(token).ok_or_else(not_found)?;
                Ok((session_id, live))
            }
            Some(_) => {
                self.end_session(session_id);
                Err(AuthError::bad_request(
                    "refresh_token_already_used",
                    "Invalid Refresh Token: Already Used",
                ))
            }
        }
    }

    /// Raises a session to `aal2` after a verified second factor, as
    /// GoTrue does: `method` heads the `amr`, the session's current refresh
    /// token is swapped for a new one (the old one becomes a used parent),
    /// and the user's other sessions below `aal2` end. Returns the new refresh token.
    pub fn raise_to_aal2(&mut self, session_id: Uuid, method: &str) -> Result<String, AuthError> {
        let session = self.sessions.get_mut(&session_id).ok_or_else(|| {
            AuthError::bad_request(
                "session_not_found",
                "Session from session_id claim in JWT does not exist",
            )
        })?;
        session.amr.insert(0, (method.to_owned(), unix_now()));
        session.aal = "aal2";
        let user_id = session.user_id;
        let child = self.new_refresh_token(session_id);
        for (token, row) in &mut self.refresh_tokens {
            if row.session_id == session_id && row.revoked_at.is_none() && *token != child {
                row.revoked_at = Some(Instant::now());
                row.child = Some(child.clone());
            }
        }
        let weaker: Vec<Uuid> = self
            .sessions
            .values()
            .filter(|s| s.user_id == user_id && s.aal != "aal2")
            .map(|s| s.id)
            .collect();
        for id in weaker {
            self.end_session(id);
        }
        Ok(child)
    }

    /// Back to `aal1` for every session of the user (its factor is gone).
    pub fn lower_to_aal1(&mut self, user_id: Uuid) {
        for session in self.sessions.values_mut().filter(|s| s.user_id == user_id) {
            session.aal = "aal1";
            session.amr.retain(|(method, _)| method != "totp");
        }
    }

    /// Follows the rotation chain from `token` to its unrevoked end.
    fn live_descendant(&self, token: &str) -> Option<String> {
        let mut at = self.refresh_tokens.get(token)?.child.clone()?;
        while let Some(next) = self.refresh_tokens.get(&at)?.child.clone() {
            at = next;
        }
        Some(at)
    }

    fn new_refresh_token(&mut self, session_id: Uuid) -> String {
        let token = loop {
            // 9 random bytes from a v4 UUID: 12 base64url characters, like Auth's.
            let candidate = URL_SAFE_NO_PAD.encode(&Uuid::new_v4().as_bytes()[..9]);
            if !self.refresh_tokens.contains_key(&candidate) {
                break candidate;
            }
        };
        self.refresh_tokens.insert(
            token.clone(),
            RefreshToken {
                session_id,
                revoked_at: None,
                child: None,
            },
        );
        self.note_issued(&token);
        token
    }

    /// Stores an authorization code for a later `grant_type=pkce`; returns the code.
    pub fn insert_flow(
        &mut self,
        user_id: Uuid,
        amr_method: &str,
        provider: Option<&str>,
        challenge: Option<Challenge>,
    ) -> String {
        let code = Uuid::new_v4().to_string();
        let flow = Flow {
            user_id,
            amr_method: amr_method.to_owned(),
            provider: provider.map(str::to_owned),
            challenge,
        };
        self.flows.insert(code.clone(), flow);
        code
    }

    /// Redeems an authorization code once, checking the verifier against its challenge.
    pub fn exchange_flow(&mut self, auth_code: &str, verifier: &str) -> Result<Flow, AuthError> {
        let flow = self.flows.get(auth_code).ok_or_else(|| {
            AuthError::bad_request(
                "flow_state_not_found",
                "invalid flow state, no valid flow state found",
            )
        })?;
        if !flow
            .challenge
            .as_ref()
            .is_some_and(|c| c.is_met_by(verifier))
        {
            return Err(AuthError::bad_request(
                "bad_code_verifier",
                "code challenge does not match previously saved code verifier",
            ));
        }
        self.flows
            .remove(auth_code)
            .ok_or_else(|| AuthError::unexpected("flow state vanished"))
    }

    /// Sends [`OTP_CODE`] (and, to an address, its link) as `letter` says,
    /// and remembers it for `/verify`.
    pub fn send_otp(&mut self, letter: &Letter, challenge: Option<Challenge>) {
        self.send(letter, challenge, None);
    }

    /// Starts an email change: the user's `new_email` is set and the code
    /// goes to the new address, to be redeemed by `type=email_change`.
    pub fn send_email_change(
        &mut self,
        user_id: Uuid,
        letter: &Letter,
        challenge: Option<Challenge>,
    ) -> Result<(), AuthError> {
        self.ensure_email_free(user_id, letter.to)?;
        let user = self.users.get_mut(&user_id).ok_or_else(user_not_found)?;
        user.new_email = Some(letter.to.to_ascii_lowercase());
        user.email_change_sent_at = Some(rfc3339_now());
        self.send(letter, challenge, Some(user_id));
        Ok(())
    }

    /// Starts a phone change: the user's `new_phone` is set and the code
    /// goes to the new number, to be redeemed by `type=phone_change`.
    pub fn send_phone_change(&mut self, user_id: Uuid, letter: &Letter) -> Result<(), AuthError> {
        if self
            .user_id_by_phone(letter.to)
            .is_some_and(|owner| owner != user_id)
        {
            return Err(phone_exists());
        }
        let user = self.users.get_mut(&user_id).ok_or_else(user_not_found)?;
        user.new_phone = Some(letter.to.to_owned());
        self.send(letter, None, Some(user_id));
        Ok(())
    }

    /// Applies a confirmed phone change: the number becomes the user's,
    /// confirmed, with a `phone` identity; an anonymous user becomes permanent.
    pub fn complete_phone_change(&mut self, user_id: Uuid, phone: &str) -> Result<(), AuthError> {
        self.change_phone(user_id, phone)?;
        let user = self.users.get_mut(&user_id).ok_or_else(user_not_found)?;
        user.new_phone = None;
        user.phone_confirmed_at = Some(rfc3339_now());
        user.link("phone");
        user.is_anonymous = false;
        user.updated_at = rfc3339_now();
        Ok(())
    }

    fn send(&mut self, letter: &Letter, challenge: Option<Challenge>, change_of: Option<Uuid>) {
        self.otps.insert(
            letter.to.to_ascii_lowercase(),
            PendingOtp {
                challenge,
                change_of,
            },
        );
        self.outbox.push(Message::new(letter));
    }

    /// Every message sent, oldest first.
    pub fn outbox(&self) -> &[Message] {
        &self.outbox
    }

    /// Applies a confirmed email change as GoTrue's `emailChangeVerify`
    /// does: the new address becomes the user's (confirmed, with an
    /// `email` identity) and an anonymous user becomes permanent.
    pub fn complete_email_change(&mut self, user_id: Uuid, email: &str) -> Result<(), AuthError> {
        self.adopt_email(user_id, email)?;
        let user = self.users.get_mut(&user_id).ok_or_else(user_not_found)?;
        user.new_email = None;
        user.email_change_sent_at = None;
        user.link("email");
        Ok(())
    }

    /// Gives the user a confirmed address; an anonymous user becomes permanent.
    pub fn adopt_email(&mut self, user_id: Uuid, email: &str) -> Result<(), AuthError> {
        self.change_email(user_id, email)?;
        let user = self.users.get_mut(&user_id).ok_or_else(user_not_found)?;
        user.email_confirmed_at = Some(rfc3339_now());
        user.is_anonymous = false;
        user.updated_at = rfc3339_now();
        Ok(())
    }

    /// The user who has the provider account with address `email` as an identity.
    pub fn account_owner(&self, provider: &str, email: &str) -> Option<Uuid> {
        self.users
            .values()
            .find(|u| u.has_account(provider, email))
            .map(|u| u.id)
    }

    /// Refuses an address another user has (422 `email_exists`).
    pub fn ensure_email_free(&self, user_id: Uuid, email: &str) -> Result<(), AuthError> {
        match self.user_id_by_email(email) {
            Some(owner) if owner != user_id => Err(email_exists()),
            _ => Ok(()),
        }
    }

    /// Consumes the pending OTP of an email or phone when `code` is right.
    pub fn take_otp(&mut self, identifier: &str, code: &str) -> Option<PendingOtp> {
        if code != OTP_CODE {
            return None;
        }
        self.otps.remove(&identifier.to_ascii_lowercase())
    }

    /// Puts back a pending OTP that was taken but not redeemed.
    pub fn restore_otp(&mut self, identifier: &str, otp: PendingOtp) {
        self.otps.insert(identifier.to_ascii_lowercase(), otp);
    }

    /// Consumes the pending OTP whose email-link token hash is `token_hash`;
    /// returns the email or phone it was sent to.
    pub fn take_link(&mut self, token_hash: &str) -> Option<(String, PendingOtp)> {
        let identifier = self
            .otps
            .keys()
            .find(|id| link_token_hash(id) == token_hash.to_ascii_lowercase())?
            .clone();
        let otp = self.otps.remove(&identifier)?;
        Some((identifier, otp))
    }
}

/// The token hash of an email link, as Auth computes it: hex SHA-224 of the
/// email (or phone) followed by the OTP. Links of PKCE flows prefix it with `pkce_`.
pub(crate) fn link_token_hash(identifier: &str) -> String {
    let digest =
        Sha224::digest(format!("{}{OTP_CODE}", identifier.to_ascii_lowercase()).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn email_exists() -> AuthError {
    AuthError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "email_exists",
        "A user with this email address has already been registered",
    )
}

fn phone_exists() -> AuthError {
    AuthError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "phone_exists",
        "A user with this phone number has already been registered",
    )
}

pub(crate) fn user_not_found() -> AuthError {
    AuthError::new(
        StatusCode::FORBIDDEN,
        "user_not_found",
        "User from sub claim in JWT does not exist",
    )
}
