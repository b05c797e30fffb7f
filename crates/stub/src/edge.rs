//! What the edge in front of every service does to an answer before it
//! leaves: the CDN's compression (see [`crate::encoding`]) and the
//! `Set-Cookie` headers a test injects.

use std::sync::atomic::Ordering;

use http::header::{CONTENT_ENCODING, SET_COOKIE};
use http::{HeaderValue, Response};

use crate::encoding::{Coding, Treatment, apply, is_json, negotiate};
use crate::response::StubBody;
use crate::state::{Shared, lock};

/// Passes a service's answer through the edge.
pub(crate) async fn pass(
    shared: &Shared,
    is_auth: bool,
    accept_encoding: Option<&str>,
    mut response: Response<StubBody>,
) -> Response<StubBody> {
    for cookie in lock(&shared.faults.set_cookies).iter() {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    match treatment(shared, is_auth, accept_encoding, &response) {
        Some(treatment) => apply(response, treatment).await,
        None => response,
    }
}

/// How the edge encodes this answer, if at all.
fn treatment(
    shared: &Shared,
    is_auth: bool,
    accept_encoding: Option<&str>,
    response: &Response<StubBody>,
) -> Option<Treatment> {
    if response.headers().contains_key(CONTENT_ENCODING) || !is_json(response.headers()) {
        return None;
    }
    let faults = &shared.faults;
    if is_auth && faults.auth_bad_gzip.load(Ordering::SeqCst) {
        return Some(Treatment::MislabelGzip);
    }
    let negotiated = negotiate(accept_encoding);
    if shared.config.compress
        && let Some(coding) = negotiated
    {
        return Some(Treatment::Encode(coding));
    }
    (is_auth && faults.auth_encode_unasked.load(Ordering::SeqCst))
        .then(|| Treatment::Encode(negotiated.unwrap_or(Coding::Gzip)))
}
