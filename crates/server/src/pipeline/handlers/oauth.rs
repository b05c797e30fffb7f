//! OAuth and SSO sign-in with no code in the app (server-side PKCE):
//! `GET /edge/v1/authorize` starts the flow and `GET /edge/v1/callback`
//! turns Auth's code into a session.
//!
//! `authorize` makes a code verifier, seals it with the checked `next` into
//! the flow cookie (its path is the callback's) and sends the browser to
//! Auth's `/authorize` (a provider) or to the identity provider `POST /sso`
//! names (SAML SSO, `domain` or `provider_id`), with `redirect_to` the
//! callback and the `s256` challenge. `callback` needs that cookie: without
//! it (another browser, a replay, an expired flow) it refuses; with it, it
//! exchanges the code (`grant_type=pkce`) and the token response becomes a
//! session the way every sign-in does. Every outcome is a 303: to `next`,
//! with `error` and `error_description` when something failed.

use crate::body::{Body, full};
use crate::pipeline::context::Ctx;
use crate::pipeline::handlers::sign_in::start_session;
use crate::pipeline::response::respond;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE};
use http::{Method, Request, Response, StatusCode};
use sbp_core::ProxyError;
use sbp_core::auth::read_token_response;
use sbp_core::flow::{self, FLOW_TTL, FlowState};
use sbp_core::redirect::{app_root, safe_next, with_error};
use sbp_core::route::query_param;
use serde_json::Value;

/// `GET /edge/v1/authorize?provider=NAME&next=URL` (or `domain=` /
/// `provider_id=` for SSO): 303 to Auth, with the flow cookie.
pub async fn authorize(ctx: &mut Ctx<'_>) -> Response<Body> {
    let app = ctx.app.clone();
    let config = &app.config;
    let public = &config.public_url;
    let query = ctx.parts.uri.query();
    let param = |name| query_param(query, name).filter(|v| !v.is_empty());
    let next = safe_next(param("next").as_deref(), public, &config.allowed_origins);
    let verifier = flow::new_verifier(&app.rng);
    let challenge = flow::challenge(&verifier);
    let redirect_to = flow::callback_url(public);
    let target = match (param("provider"), param("domain"), param("provider_id")) {
        (Some(provider), None, None) => {
            let extra = flow::passed_on(query);
            let path = flow::authorize_path(
                &provider,
                &redirect_to,
                param("scopes").as_deref(),
                &challenge,
                extra.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            );
            Ok(format!(
                "{}{}{path}",
                public.origin().as_str(),
                public.base_path()
            ))
        }
        (None, Some(domain), None) => {
            sso_url(ctx, "domain", &domain, &redirect_to, &challenge).await
        }
        (None, None, Some(id)) => sso_url(ctx, "provider_id", &id, &redirect_to, &challenge).await,
        _ => Err((
            "invalid_request".to_string(),
            "Say how to sign in: provider=NAME, or domain= or provider_id= for SSO".to_string(),
        )),
    };
    match target {
        Ok(target) => {
            let state = FlowState {
                verifier,
                next,
                expires_at: app.now() + FLOW_TTL as i64,
            };
            let sealed = flow::seal(&app.flow_keys, &app.rng, &state);
            redirect(&target, Some(flow::set_cookie(public, sealed)))
        }
        Err((error, description)) => redirect(&with_error(&next, &error, &description), None),
    }
}

/// The identity provider's URL from `POST /auth/v1/sso` for the provider
/// `key` (`domain` or `provider_id`) names: with `skip_http_redirect` Auth
/// answers `{url}` rather than 303. Otherwise the error to report.
async fn sso_url(
    ctx: &Ctx<'_>,
    key: &str,
    value: &str,
    redirect_to: &str,
    challenge: &str,
) -> Result<String, (String, String)> {
    let mut body = serde_json::json!({
        "redirect_to": redirect_to,
        "skip_http_redirect": true,
        "code_challenge": challenge,
        "code_challenge_method": "s256",
    });
    body[key] = value.into();
    let (status, answer) = call_auth(ctx, "/auth/v1/sso", &body).await?;
    let url = serde_json::from_slice::<Value>(&answer)
        .ok()
        .and_then(|v| v.get("url")?.as_str().map(str::to_string));
    match url {
        Some(url) if status == StatusCode::OK => Ok(url),
        _ => Err(flow::auth_error(status.as_u16(), &answer)),
    }
}

/// `GET /edge/v1/callback?code=...`: 303 to the flow's `next`, signed in,
/// or with the error; the flow cookie is cleared either way.
pub async fn callback(ctx: &mut Ctx<'_>) -> Response<Body> {
    let app = ctx.app.clone();
    let public = &app.config.public_url;
    let clear = Some(flow::clear_cookie(public));
    let cookies = ctx.parts.headers.get_all(COOKIE);
    let state = flow::find_cookie(
        cookies.iter().filter_map(|v| v.to_str().ok()),
        flow::cookie_name(public.is_https()),
    )
    .and_then(|sealed| flow::open(&app.flow_keys, &sealed, app.now()));
    let Some(state) = state else {
        tracing::info!("a sign-in callback without this browser's flow cookie was refused");
        let refused = with_error(
            &app_root(public),
            "invalid_request",
            "This sign-in was not started in this browser, or took too long: start it again",
        );
        return redirect(&refused, clear);
    };
    let query = ctx.parts.uri.query();
    if let Some(error) = query_param(query, "error") {
        let description = query_param(query, "error_description").unwrap_or_default();
        return redirect(&with_error(&state.next, &error, &description), clear);
    }
    let Some(code) = query_param(query, "code").filter(|c| !c.is_empty()) else {
        let missing = with_error(
            &state.next,
            "invalid_request",
            "Auth came back without a code",
        );
        return redirect(&missing, clear);
    };
    let body = serde_json::json!({"auth_code": code, "code_verifier": state.verifier});
    let outcome = match call_auth(ctx, "/auth/v1/token?grant_type=pkce", &body).await {
        Ok((status, answer)) => session_from(ctx, status, &answer).await,
        Err(error) => Err(error),
    };
    match outcome {
        Ok(()) => redirect(&state.next, clear),
        Err((error, description)) => {
            redirect(&with_error(&state.next, &error, &description), clear)
        }
    }
}

/// A session from Auth's answer when it is a token response, the way every
/// sign-in makes one; otherwise the error it says.
pub async fn session_from(
    ctx: &mut Ctx<'_>,
    status: StatusCode,
    answer: &[u8],
) -> Result<(), (String, String)> {
    let grant = (status == StatusCode::OK)
        .then(|| read_token_response(answer))
        .flatten()
        .ok_or_else(|| flow::auth_error(status.as_u16(), answer))?;
    start_session(ctx, grant)
        .await
        .map(drop)
        .map_err(unavailable)
}

/// What the app is told when the proxy could not finish the flow (Auth
/// or the store unreachable): the cause is logged, not put in the URL.
pub fn unavailable(error: ProxyError) -> (String, String) {
    tracing::warn!(error = %error, "a redirect flow could not be finished");
    (
        "server_error".into(),
        "The sign-in could not be finished; try again".into(),
    )
}

/// A JSON call the proxy makes to Auth for the browser (anon key, the
/// versioned error shape, the client's address), read whole.
pub async fn call_auth(
    ctx: &Ctx<'_>,
    path: &str,
    body: &Value,
) -> Result<(StatusCode, Bytes), (String, String)> {
    let app = &ctx.app;
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(AUTHORIZATION, app.upstream.anon_bearer.clone())
        .header(CONTENT_TYPE, "application/json")
        .header("x-supabase-api-version", "2024-01-01")
        .body(full(body.to_string()))
        .map_err(|_| unavailable(ProxyError::Internal))?;
    if let Some(client) = ctx.connection.forwarded_for(ctx.client_ip()) {
        request
            .headers_mut()
            .insert(crate::upstream::X_FORWARDED_FOR.clone(), client);
    }
    let limit = app.config.limits.max_auth_response;
    let (parts, answer) = app
        .upstream
        .call(request, limit)
        .await
        .map_err(unavailable)?;
    Ok((parts.status, answer))
}

/// 303 to `location`, never cached and without a `Referer` for the next
/// page, setting or clearing the flow cookie when `flow_cookie` says so.
pub fn redirect(location: &str, flow_cookie: Option<String>) -> Response<Body> {
    let mut response = respond::see_other(location);
    if let Some(cookie) = flow_cookie.and_then(|c| http::HeaderValue::from_str(&c).ok()) {
        response
            .headers_mut()
            .append(http::header::SET_COOKIE, cookie);
    }
    response
}
