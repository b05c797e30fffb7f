//! The API gateway in front of the services, for a project that uses the
//! new API keys (`StubConfig::publishable_key`).
//!
//! A request whose `apikey` is the publishable key may carry the same key
//! as its bearer (supabase-js sends it so on REST, Storage and Auth): the
//! gateway then hands the service its own anon JWT, as the hosted gateway
//! does. Any other bearer that is not JWT-shaped is refused here. Edge
//! Functions get the request untouched (they verify the bearer
//! themselves, and refuse a key sent as one), and so does Realtime (its
//! key is a query parameter). A request with a legacy key passes as is.
//!
//! Like Kong's key-auth in front of PostgREST and GraphQL, an `apikey` that
//! is none of the project's keys (a wrong or rotated key) is refused there
//! with the gateway's 401 `Invalid API key`. A request without an `apikey`
//! is let through (the stand-in's own tests call PostgREST bare).

use http::header::AUTHORIZATION;
use http::{HeaderValue, Response, StatusCode};
use serde_json::json;

use crate::faults::CannedAnswer;
use crate::request::Req;
use crate::response::{StubBody, json};
use crate::state::Shared;

/// What the gateway refused.
pub(crate) enum Refused {
    /// A bearer that is neither a JWT nor the publishable key.
    Bearer,
    /// An `apikey` that is none of the project's keys.
    ApiKey,
}

impl Refused {
    pub(crate) fn into_response(self) -> Response<StubBody> {
        match self {
            Refused::Bearer => json(
                StatusCode::UNAUTHORIZED,
                &json!({"message": "Invalid authorization header: not a JWT and not the API key"}),
            ),
            Refused::ApiKey => CannedAnswer::gateway_invalid_api_key().into_response(),
        }
    }
}

/// Whether the gateway checks the `apikey` of requests to `path` (the
/// routes Kong's key-auth guards in front of the data services).
fn checks_api_key(path: &str) -> bool {
    ["/rest/v1", "/graphql/v1"].iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// Whether `key` is one of the project's API keys.
fn is_project_key(shared: &Shared, key: &str) -> bool {
    key == shared.anon_key
        || key == shared.service_role_key
        || shared.config.publishable_key.as_deref() == Some(key)
}

/// Lets the request through (perhaps with the gateway's anon JWT as its
/// bearer), or refuses it.
pub(crate) fn admit(shared: &Shared, req: &mut Req) -> Result<(), Refused> {
    if checks_api_key(&req.path)
        && req
            .header("apikey")
            .is_some_and(|key| !is_project_key(shared, key))
    {
        return Err(Refused::ApiKey);
    }
    let Some(publishable) = shared.config.publishable_key.as_deref() else {
        return Ok(());
    };
    let passes_untouched = req.path.starts_with("/functions/v1")
        || req.path.starts_with("/realtime/v1/websocket")
        || req.header("apikey") != Some(publishable);
    if passes_untouched {
        return Ok(());
    }
    match req.bearer() {
        None => Ok(()),
        Some(bearer) if bearer == publishable => {
            let anon = HeaderValue::try_from(format!("Bearer {}", shared.anon_key))
                .map_err(|_| Refused::Bearer)?;
            req.headers.insert(AUTHORIZATION, anon);
            Ok(())
        }
        Some(bearer) if bearer.split('.').count() == 3 => Ok(()),
        Some(_) => Err(Refused::Bearer),
    }
}
