//! What the session service asks of Auth, and how the proxy asks it: the
//! refresh grant and `GET /auth/v1/user`, through the upstream client.

use crate::body::{empty, full};
use crate::upstream::{Upstream, bearer};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request};

/// Largest Auth answer read for the service.
const ANSWER_LIMIT: usize = 1 << 20;

/// Auth's answer, as the service reads it.
#[derive(Clone, Debug)]
pub struct AuthAnswer {
    pub status: u16,
    /// The `x-sb-error-code` header.
    pub error_code: Option<String>,
    pub body: Bytes,
}

/// The calls the session service makes to Auth. An `Err` says Auth was not
/// reached (or answered unreadably), with the cause.
pub trait AuthApi: Send + Sync + 'static {
    /// `POST /auth/v1/token?grant_type=refresh_token` with `refresh_token`.
    fn refresh_grant(
        &self,
        refresh_token: &str,
    ) -> impl Future<Output = Result<AuthAnswer, String>> + Send;
    /// `GET /auth/v1/user` with `access_token` as the bearer.
    fn user(&self, access_token: &str) -> impl Future<Output = Result<AuthAnswer, String>> + Send;
}

impl AuthApi for Upstream {
    async fn refresh_grant(&self, refresh_token: &str) -> Result<AuthAnswer, String> {
        let body = serde_json::json!({"refresh_token": refresh_token}).to_string();
        let request = Request::builder()
            .method(Method::POST)
            .uri("/auth/v1/token?grant_type=refresh_token")
            .header(AUTHORIZATION, self.anon_bearer.clone())
            .header(CONTENT_TYPE, "application/json")
            .header("x-supabase-api-version", "2024-01-01")
            .body(full(body))
            .map_err(|e| e.to_string())?;
        ask(self, request).await
    }

    async fn user(&self, access_token: &str) -> Result<AuthAnswer, String> {
        let bearer = bearer(access_token).ok_or("the token cannot be sent in a header")?;
        let request = Request::builder()
            .method(Method::GET)
            .uri("/auth/v1/user")
            .header(AUTHORIZATION, bearer)
            .header("x-supabase-api-version", "2024-01-01")
            .body(empty())
            .map_err(|e| e.to_string())?;
        ask(self, request).await
    }
}

async fn ask(
    upstream: &Upstream,
    request: Request<crate::body::Body>,
) -> Result<AuthAnswer, String> {
    let (parts, body) = upstream
        .call(request, ANSWER_LIMIT)
        .await
        .map_err(|e| e.to_string())?;
    let error_code = parts
        .headers
        .get("x-sb-error-code")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Ok(AuthAnswer {
        status: parts.status.as_u16(),
        error_code,
        body,
    })
}
