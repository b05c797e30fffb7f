//! PostgREST under `/rest/v1`: verifies the bearer (30 s clock skew), answers
//! `GET /rest/v1/todos` with a row and everything else with an echo; the
//! `rest_*` faults make it slow or down.

use http::{HeaderValue, Response, StatusCode, header};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Identity, echo};
use crate::jwt::JwtError;
use crate::request::Req;
use crate::response::{StubBody, json};
use crate::state::Shared;

/// PostgREST's allowed clock skew for `exp`, `nbf` and `iat`.
const CLOCK_SKEW_SECS: u64 = 30;

/// [`handle`], after the `rest_delay_ms` fault, or the `rest_answer` fault instead.
pub(crate) async fn handle_with_faults(shared: &Shared, req: &Req) -> Response<StubBody> {
    let delay = shared.faults.rest_delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    match shared.faults.rest_answer() {
        Some(answer) => answer.into_response(),
        None => handle(shared, req),
    }
}

pub(crate) fn handle(shared: &Shared, req: &Req) -> Response<StubBody> {
    let who = match identify(shared, req) {
        Ok(who) => who,
        Err(refusal) => return refusal.into_response(),
    };
    let reads = matches!(req.method.as_str(), "GET" | "HEAD");
    if reads && req.path == "/rest/v1/todos" {
        return json(
            StatusCode::OK,
            &json!([{"id": 1, "title": "hello", "user_id": who.sub}]),
        );
    }
    json(StatusCode::OK, &echo("rest", req, &who))
}

/// The request's identity under PostgREST's rules: no bearer is the anon
/// role; a bad one is a 401 (`PGRST303` expired, `PGRST301` otherwise).
pub(crate) fn identify(shared: &Shared, req: &Req) -> Result<Identity, Refusal> {
    let Some(token) = req.bearer() else {
        return Ok(Identity {
            role: Some("anon".to_owned()),
            ..Identity::default()
        });
    };
    match shared.keys.verify(token, CLOCK_SKEW_SECS) {
        Ok(claims) => Ok(Identity::from_claims(claims, Some("anon"))),
        Err(JwtError::Expired) => Err(Refusal {
            code: "PGRST303",
            message: "JWT expired".to_owned(),
        }),
        Err(JwtError::Invalid(message)) => Err(Refusal {
            code: "PGRST301",
            message,
        }),
    }
}

/// A bearer PostgREST refuses.
pub(crate) struct Refusal {
    code: &'static str,
    message: String,
}

impl Refusal {
    /// 401 with PostgREST's error body and a `WWW-Authenticate` challenge.
    pub fn into_response(self) -> Response<StubBody> {
        let mut response = json(
            StatusCode::UNAUTHORIZED,
            &json!({"code": self.code, "message": self.message, "details": null, "hint": null}),
        );
        let challenge = format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\"",
            self.message.replace(['"', '\\'], "'")
        );
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}
