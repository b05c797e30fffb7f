//! `POST /token`: the password, refresh_token (rotation, reuse detection,
//! injected faults), pkce and id_token grants.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_ENCODING;
use http::{HeaderValue, Response, StatusCode};
use serde::Deserialize;

use super::cookies::token_answer;
use super::error::AuthError;
use super::issue::{sign_in, token_response};
use super::oauth::add_provider_tokens;
use super::user::User;
use super::{parse_json, present, read_body};
use crate::encoding::gzip_padded;
use crate::request::Req;
use crate::response::{StubBody, bytes, json};
use crate::state::Shared;

/// The fields any grant may send.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TokenBody {
    email: Option<String>,
    phone: Option<String>,
    password: Option<String>,
    refresh_token: Option<String>,
    auth_code: Option<String>,
    code_verifier: Option<String>,
    provider: Option<String>,
    id_token: Option<String>,
}

pub(super) async fn token(shared: &Shared, req: &mut Req) -> Result<Response<StubBody>, AuthError> {
    let raw = read_body(req).await?;
    let grant = grant_type(req, &raw);
    let body: TokenBody = parse_json(&raw)?;
    match grant.as_str() {
        "password" => password(shared, &body),
        "refresh_token" => refresh(shared, &body).await,
        "pkce" => pkce(shared, &body),
        "id_token" => id_token(shared, &body),
        _ => Err(AuthError::validation("unsupported_grant_type")),
    }
}

/// `grant_type` as GoTrue reads it, with Go's `FormValue`: from an
/// `application/x-www-form-urlencoded` body first (even one that is also
/// the JSON of the grant's fields), then from the query.
fn grant_type(req: &Req, body: &[u8]) -> String {
    let form = req
        .header("content-type")
        .is_some_and(|ct| ct.trim().starts_with("application/x-www-form-urlencoded"));
    let from_body = form
        .then(|| {
            form_urlencoded::parse(body)
                .find(|(k, _)| k == "grant_type")
                .map(|(_, v)| v.into_owned())
        })
        .flatten();
    from_body
        .or_else(|| req.query_param("grant_type"))
        .unwrap_or_default()
}

fn password(shared: &Shared, body: &TokenBody) -> Result<Response<StubBody>, AuthError> {
    if shared.faults.signin_bad_json.load(Ordering::SeqCst) {
        let truncated = Bytes::from_static(br#"{"access_token":"eyJhbGciOiJIUzI1NiIsInR5cCI6"#);
        return Ok(bytes(StatusCode::OK, "application/json", truncated));
    }
    let password = body.password.as_deref().unwrap_or_default();
    let mut store = shared.auth();
    let user_id = match (
        present(body.email.as_deref()),
        present(body.phone.as_deref()),
    ) {
        (Some(email), _) => store.user_id_by_email(email),
        (None, Some(phone)) => store.user_id_by_phone(phone),
        (None, None) => return Err(AuthError::validation("missing email or phone")),
    };
    let invalid = || AuthError::bad_request("invalid_credentials", "Invalid login credentials");
    let user = user_id.and_then(|id| store.user(id)).ok_or_else(invalid)?;
    if !user.password_matches(password) {
        return Err(invalid());
    }
    if user.banned {
        return Err(AuthError::bad_request("user_banned", "User is banned"));
    }
    if !user.is_confirmed() {
        return Err(AuthError::bad_request(
            "email_not_confirmed",
            "Email not confirmed",
        ));
    }
    let user_id = user.id;
    let tokens = sign_in(shared, &mut store, user_id, "password")?;
    let bomb_mib = shared.faults.signin_gzip_bomb_mib.load(Ordering::SeqCst);
    if bomb_mib > 0 {
        return Ok(gzip_bomb(&tokens, bomb_mib));
    }
    Ok(token_answer(shared, &tokens))
}

async fn refresh(shared: &Shared, body: &TokenBody) -> Result<Response<StubBody>, AuthError> {
    let delay = shared.faults.refresh_delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if let Some(answer) = shared.faults.refresh_answer() {
        return Ok(answer.into_response());
    }
    let fault = shared.faults.refresh_status.load(Ordering::SeqCst);
    if fault != 0 {
        return Err(injected_refresh_failure(fault));
    }
    let token = present(body.refresh_token.as_deref())
        .ok_or_else(|| AuthError::validation("refresh_token required"))?;
    let reuse = Duration::from_secs(shared.config.refresh_reuse_interval);
    let mut store = shared.auth();
    let (session_id, child) = store.rotate_refresh(token, reuse)?;
    let tokens = token_response(shared, &mut store, session_id, &child)?;
    Ok(token_answer(shared, &tokens))
}

/// A gzip answer that expands to `mib` MiB of whitespace around the token response.
fn gzip_bomb(tokens: &serde_json::Value, mib: u64) -> Response<StubBody> {
    let body = gzip_padded(
        tokens.to_string().as_bytes(),
        mib.saturating_mul(1024 * 1024),
    );
    let mut response = bytes(StatusCode::OK, "application/json", body);
    response
        .headers_mut()
        .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    response
}

/// The error `faults.refresh_status` asks for.
fn injected_refresh_failure(status: u16) -> AuthError {
    match StatusCode::from_u16(status) {
        Ok(status) if status.is_client_error() => {
            AuthError::new(status, "session_not_found", "Session not found")
        }
        Ok(status) if status.is_server_error() => AuthError::new(
            status,
            "unexpected_failure",
            "Unexpected failure (injected by the stub)",
        ),
        _ => AuthError::unexpected(format!("Unexpected failure (injected status {status})")),
    }
}

fn pkce(shared: &Shared, body: &TokenBody) -> Result<Response<StubBody>, AuthError> {
    let (Some(code), Some(verifier)) = (
        present(body.auth_code.as_deref()),
        present(body.code_verifier.as_deref()),
    ) else {
        return Err(AuthError::validation(
            "invalid request: both auth code and code verifier should be non-empty",
        ));
    };
    let mut store = shared.auth();
    let flow = store.exchange_flow(code, verifier)?;
    let mut tokens = sign_in(shared, &mut store, flow.user_id, &flow.amr_method)?;
    if let Some(provider) = &flow.provider {
        add_provider_tokens(&mut tokens, provider);
    }
    Ok(json(StatusCode::OK, &tokens))
}

/// Accepts `id_token: "stub:<email>"` from any provider, creating the user when missing.
fn id_token(shared: &Shared, body: &TokenBody) -> Result<Response<StubBody>, AuthError> {
    let (Some(provider), Some(id_token)) = (
        present(body.provider.as_deref()),
        present(body.id_token.as_deref()),
    ) else {
        return Err(AuthError::validation("provider and id_token are required"));
    };
    let email = id_token
        .strip_prefix("stub:")
        .filter(|email| email.contains('@'))
        .ok_or_else(|| AuthError::bad_request("bad_oauth_callback", "Bad ID token"))?;
    let mut store = shared.auth();
    let user_id = match store.user_id_by_email(email) {
        Some(id) => id,
        None => {
            let mut user = User::new(Some(email.to_owned()), None);
            user.confirm();
            store.insert_user(user)
        }
    };
    if let Some(user) = store.user_mut(user_id) {
        user.link(provider);
    }
    let tokens = sign_in(shared, &mut store, user_id, "oauth")?;
    Ok(json(StatusCode::OK, &tokens))
}
