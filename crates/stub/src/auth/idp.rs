//! The stand-in SAML identity provider behind each configured SSO
//! provider: `GET /__stub/idp/<provider id>/sso?SAMLRequest=&RelayState=`
//! (the HTTP-Redirect binding `POST /auth/v1/sso` points at). Like a real
//! identity provider after its login, it answers with an HTML page whose
//! form posts itself (HTTP-POST binding) to Auth's ACS with `SAMLResponse`
//! and the `RelayState` it was given. Nobody logs in: it signs in the
//! provider's account at once ([`SsoProvider::account`]) and remembers
//! the assertion as signed.

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use uuid::Uuid;

use super::saml::{Assertion, AuthnRequest, acs_url, decode, encode, idp_entity_id};
use crate::config::SsoProvider;
use crate::request::Req;
use crate::response::{StubBody, bytes, html_escape};
use crate::state::Shared;

/// Answers `rest`, the path after `/__stub/idp/`.
pub(crate) fn handle(shared: &Shared, req: &Req, rest: &str) -> Response<StubBody> {
    let provider = rest
        .strip_suffix("/sso")
        .and_then(|id| shared.config.sso_providers.iter().find(|p| p.id == id));
    let Some(provider) = provider else {
        return text(StatusCode::NOT_FOUND, "No such identity provider");
    };
    if req.method != Method::GET {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "Use GET (HTTP-Redirect binding)",
        );
    }
    let Some(request) = req
        .query_param("SAMLRequest")
        .and_then(|r| decode::<AuthnRequest>(&r))
    else {
        return text(
            StatusCode::BAD_REQUEST,
            "SAMLRequest is missing or is not an AuthnRequest",
        );
    };
    let relay_state = req.query_param("RelayState").unwrap_or_default();
    let response = encode(&assertion(shared, provider, request));
    shared.auth().saml.note_issued(&response);
    let page = format!(
        "<!DOCTYPE html>\n<html><head><title>Signing in</title></head>\
         <body onload=\"document.forms[0].submit()\">\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"SAMLResponse\" value=\"{response}\">\
         <input type=\"hidden\" name=\"RelayState\" value=\"{relay_state}\">\
         <noscript><button type=\"submit\">Continue</button></noscript>\
         </form></body></html>\n",
        action = html_escape(&acs_url(shared)),
        response = html_escape(&response),
        relay_state = html_escape(&relay_state),
    );
    bytes(
        StatusCode::OK,
        "text/html; charset=utf-8",
        Bytes::from(page),
    )
}

/// The provider's account, for the request it answers.
fn assertion(shared: &Shared, provider: &SsoProvider, request: AuthnRequest) -> Assertion {
    Assertion {
        id: format!("_{}", Uuid::new_v4().simple()),
        in_response_to: request.id,
        issuer: idp_entity_id(shared, provider),
        audience: request.issuer,
        name_id: provider.account(),
    }
}

fn text(status: StatusCode, message: &str) -> Response<StubBody> {
    bytes(
        status,
        "text/plain; charset=utf-8",
        Bytes::from(message.to_owned()),
    )
}
