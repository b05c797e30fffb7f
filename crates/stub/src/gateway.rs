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

use http::header::AUTHORIZATION;
use http::{HeaderValue, Response, StatusCode};
use serde_json::json;

use crate::request::Req;
use crate::response::{StubBody, json};
use crate::state::Shared;

/// The gateway refused the request's bearer.
pub(crate) struct Refused;

impl Refused {
    pub(crate) fn into_response(self) -> Response<StubBody> {
        json(
            StatusCode::UNAUTHORIZED,
            &json!({"message": "Invalid authorization header: not a JWT and not the API key"}),
        )
    }
}

/// Lets the request through (perhaps with the gateway's anon JWT as its
/// bearer), or refuses it.
pub(crate) fn admit(shared: &Shared, req: &mut Req) -> Result<(), Refused> {
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
                .map_err(|_| Refused)?;
            req.headers.insert(AUTHORIZATION, anon);
            Ok(())
        }
        Some(bearer) if bearer.split('.').count() == 3 => Ok(()),
        Some(_) => Err(Refused),
    }
}
