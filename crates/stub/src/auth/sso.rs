//! SAML 2.0 SSO with Auth as the service provider, as GoTrue's `sso.go`
//! (`SingleSignOn`) and `samlacs.go` (`SamlAcs`) play it.
//!
//! `POST /sso {domain | provider_id, redirect_to, skip_http_redirect,
//! code_challenge, code_challenge_method}` finds the provider, keeps a
//! relay state (the provider, the request's id, `redirect_to` unchecked,
//! the PKCE challenge) and answers with the identity provider's URL
//! carrying `SAMLRequest` and `RelayState` (200 `{url}` with
//! `skip_http_redirect`, else 303). The identity provider (`idp.rs`) posts
//! `SAMLResponse` and `RelayState` to `POST /sso/saml/acs`, which uses the
//! relay state up, checks the assertion, signs in (or creates) the
//! provider's user, opens an Auth session and answers 302 to `redirect_to`
//! (the allow list applies; the Site URL otherwise) with `?code=` (PKCE)
//! or the tokens in the fragment; its errors are a 303 to the Site URL
//! with `error`, `error_code` and `error_description` in the query.
//!
//! The stand-in messages are in `saml.rs`; the signature check is that
//! the identity provider issued that very `SAMLResponse`. `crates/stub/AUTH-ROUTES.md` lists the facts.

use std::collections::{HashMap, HashSet};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::cookies::add_legacy_cookies;
use super::error::AuthError;
use super::issue::sign_in;
use super::pkce::Challenge;
use super::redirects::{is_allowed, oauth_error_kind, site_url};
use super::saml::{Assertion, AuthnRequest, decode, encode, idp_entity_id, sp_entity_id};
use super::user::User;
use super::{read_body, read_json};
use crate::config::SsoProvider;
use crate::request::Req;
use crate::response::{StubBody, json, redirect};
use crate::state::Shared;

/// A sign-in sent to an identity provider, waiting for its answer (a row
/// of `saml_relay_states`).
#[derive(Debug, Clone)]
struct RelayState {
    provider_id: Uuid,
    request_id: String,
    /// As the app sent it; checked against the allow list at the ACS.
    redirect_to: String,
    challenge: Option<Challenge>,
}

/// Auth's SAML tables, and what the stand-in identity provider signed.
#[derive(Debug, Default)]
pub(crate) struct SamlState {
    relay_states: HashMap<Uuid, RelayState>,
    /// Every `SAMLResponse` the identity provider issued: the stand-in for
    /// its signature, which Auth checks against the provider's metadata.
    issued: HashSet<String>,
}

impl SamlState {
    /// Remembers a `SAMLResponse` the identity provider signed.
    pub fn note_issued(&mut self, response: &str) {
        self.issued.insert(response.to_owned());
    }
}

/// GoTrue's `requireSAMLEnabled`, in front of every `/sso` route.
fn require_enabled(shared: &Shared) -> Result<(), AuthError> {
    if shared.config.saml_enabled {
        return Ok(());
    }
    Err(AuthError::new(
        StatusCode::NOT_FOUND,
        "saml_provider_disabled",
        "SAML 2.0 is disabled",
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SingleSignOnBody {
    /// A UUID in GoTrue (`uuid.UUID`): anything else fails to parse.
    provider_id: Option<String>,
    domain: Option<String>,
    redirect_to: Option<String>,
    skip_http_redirect: Option<bool>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

/// How `POST /sso` names the provider.
enum ProviderKey<'a> {
    Id(Uuid),
    Domain(&'a str),
}

/// The configured provider with this id, and its id as a UUID.
fn provider_by_id(shared: &Shared, id: Uuid) -> Option<(&SsoProvider, Uuid)> {
    shared
        .config
        .sso_providers
        .iter()
        .find(|p| Uuid::parse_str(&p.id).ok() == Some(id))
        .map(|p| (p, id))
}

/// `POST /sso`.
pub(super) async fn start(shared: &Shared, req: &mut Req) -> Result<Response<StubBody>, AuthError> {
    require_enabled(shared)?;
    let body: SingleSignOnBody = read_json(req).await?;
    let provider_id = match body.provider_id.as_deref() {
        None => None,
        Some(text) => Some(Uuid::parse_str(text).map_err(|e| {
            AuthError::bad_request(
                "bad_json",
                format!("Could not parse request body as JSON: {e}"),
            )
        })?),
    }
    .filter(|id| !id.is_nil());
    let domain = body.domain.as_deref().filter(|d| !d.is_empty());
    let key = match (provider_id, domain) {
        (Some(id), None) => ProviderKey::Id(id),
        (None, Some(domain)) => ProviderKey::Domain(domain),
        (Some(_), Some(_)) => {
            return Err(AuthError::validation(
                "Only one of provider_id or domain supported",
            ));
        }
        (None, None) => {
            return Err(AuthError::validation(
                "A provider_id or domain needs to be provided",
            ));
        }
    };
    let challenge = Challenge::validated(
        body.code_challenge.as_deref().unwrap_or_default(),
        body.code_challenge_method.as_deref().unwrap_or_default(),
    )?;
    let not_found =
        |message: &str| AuthError::new(StatusCode::NOT_FOUND, "sso_provider_not_found", message);
    let (provider, provider_uuid) = match key {
        ProviderKey::Id(id) => {
            provider_by_id(shared, id).ok_or_else(|| not_found("No such SSO provider"))?
        }
        ProviderKey::Domain(domain) => {
            let provider = shared
                .config
                .sso_providers
                .iter()
                .find(|p| p.domains.iter().any(|d| d == domain))
                .ok_or_else(|| not_found("No SSO provider assigned for this domain"))?;
            let id = Uuid::parse_str(&provider.id).map_err(|_| {
                AuthError::unexpected("Unable to find SSO provider by domain: its id is no UUID")
            })?;
            (provider, id)
        }
    };
    let request = AuthnRequest {
        id: format!("id-{}", Uuid::new_v4().simple()),
        issuer: sp_entity_id(shared),
    };
    let relay_id = Uuid::new_v4();
    shared.auth().saml.relay_states.insert(
        relay_id,
        RelayState {
            provider_id: provider_uuid,
            request_id: request.id.clone(),
            redirect_to: body.redirect_to.unwrap_or_default(),
            challenge,
        },
    );
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("SAMLRequest", &encode(&request))
        .append_pair("RelayState", &relay_id.to_string())
        .finish();
    let url = format!("{}/sso?{query}", idp_entity_id(shared, provider));
    if body.skip_http_redirect == Some(true) {
        return Ok(json(StatusCode::OK, &json!({ "url": url })));
    }
    Ok(redirect(&req.method, StatusCode::SEE_OTHER, &url))
}

/// `POST /sso/saml/acs` (open: no apikey, the identity provider's form
/// posts it from the browser).
pub(super) async fn acs(shared: &Shared, req: &mut Req) -> Result<Response<StubBody>, AuthError> {
    require_enabled(shared)?;
    let body = read_body(req).await?;
    let relay_state = form_value(req, &body, "RelayState").unwrap_or_default();
    let saml_response = form_value(req, &body, "SAMLResponse");
    Ok(
        match consume(shared, &relay_state, saml_response.as_deref()) {
            Ok((location, tokens)) => {
                let mut response = redirect(&req.method, StatusCode::FOUND, &location);
                if let Some(tokens) = tokens {
                    add_legacy_cookies(shared, &mut response, &tokens);
                }
                response
            }
            Err(error) => {
                let details = [
                    ("error", oauth_error_kind(error.status)),
                    ("error_code", error.code),
                    ("error_description", error.msg.as_str()),
                ];
                let location = go_query_set(&site_url(shared), &details);
                redirect(&req.method, StatusCode::SEE_OTHER, &location)
            }
        },
    )
}

/// Go's `FormValue`: the urlencoded body's value first, then the query's.
fn form_value(req: &Req, body: &[u8], name: &str) -> Option<String> {
    let form = req
        .header("content-type")
        .is_some_and(|ct| ct.trim().starts_with("application/x-www-form-urlencoded"));
    form.then(|| {
        form_urlencoded::parse(body)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    })
    .flatten()
    .or_else(|| req.query_param(name))
}

/// The ACS's work: where the browser goes, and the tokens when they
/// travel in the fragment (implicit flow).
fn consume(
    shared: &Shared,
    relay_state: &str,
    saml_response: Option<&str>,
) -> Result<(String, Option<Value>), AuthError> {
    let Some(relay_id) = Uuid::parse_str(relay_state).ok().filter(|id| !id.is_nil()) else {
        return Err(unsolicited(shared, relay_state, saml_response));
    };
    let mut store = shared.auth();
    let relay = store.saml.relay_states.remove(&relay_id).ok_or_else(|| {
        AuthError::new(
            StatusCode::NOT_FOUND,
            "saml_relay_state_not_found",
            "SAML RelayState does not exist, try logging in again?",
        )
    })?;
    let (provider, _) = provider_by_id(shared, relay.provider_id)
        .ok_or_else(|| AuthError::unexpected("Unable to find SSO Provider from SAML RelayState"))?;
    let assertion = saml_response
        .filter(|r| store.saml.issued.contains(*r))
        .and_then(decode::<Assertion>)
        .filter(|a| {
            a.in_response_to == relay.request_id
                && a.issuer == idp_entity_id(shared, provider)
                && a.audience == sp_entity_id(shared)
        })
        .ok_or_else(|| AuthError::validation("SAML Assertion is not valid"))?;
    let email = assertion.name_id.to_ascii_lowercase();
    if !email.contains('@') {
        return Err(AuthError::bad_request(
            "saml_assertion_no_email",
            "SAML Assertion does not contain an email address",
        ));
    }
    let provider_type = format!("sso:{}", relay.provider_id);
    let user_id = match store.account_owner(&provider_type, &email) {
        Some(id) => id,
        None => {
            let mut user = User::new(Some(email), None);
            user.confirm();
            user.link(&provider_type);
            store.insert_sso_user(user)
        }
    };
    if store.user(user_id).is_some_and(|u| u.banned) {
        return Err(AuthError::new(
            StatusCode::FORBIDDEN,
            "user_banned",
            "User is banned",
        ));
    }
    // GoTrue issues a session here in both flows; with PKCE the code's
    // exchange opens another one, and this one is never handed out.
    let tokens = sign_in(shared, &mut store, user_id, "sso/saml")?;
    let site = site_url(shared);
    let target = if is_allowed(&site, &shared.config.uri_allow_list, &relay.redirect_to) {
        relay.redirect_to
    } else {
        site
    };
    match relay.challenge {
        Some(challenge) => {
            let code = store.insert_flow(user_id, "sso/saml", None, Some(challenge));
            Ok((go_query_set(&target, &[("code", &code)]), None))
        }
        None => {
            let fragment = implicit_fragment(&tokens);
            Ok((format!("{target}#{fragment}"), Some(tokens)))
        }
    }
}

/// An answer with no relay state of Auth's: GoTrue's IdP-initiated path
/// (a URL or nothing as `RelayState`). The stand-in identity provider
/// only answers requests, so whatever arrives this way is refused.
fn unsolicited(shared: &Shared, relay_state: &str, saml_response: Option<&str>) -> AuthError {
    if !(relay_state.is_empty() || is_request_uri(relay_state)) {
        return AuthError::validation("SAML RelayState is not a valid UUID or URL");
    }
    let Some(response) = saml_response.filter(|r| !r.is_empty()) else {
        return AuthError::validation("SAMLResponse is missing");
    };
    let Ok(bytes) = STANDARD.decode(response) else {
        return AuthError::validation("SAMLResponse is not a valid Base64 string");
    };
    let Ok(assertion) = serde_json::from_slice::<Assertion>(&bytes) else {
        return AuthError::validation("SAMLResponse is not a valid XML SAML assertion");
    };
    let known = shared
        .config
        .sso_providers
        .iter()
        .any(|p| idp_entity_id(shared, p) == assertion.issuer);
    if !known {
        return AuthError::new(
            StatusCode::NOT_FOUND,
            "saml_idp_not_found",
            "A SAML connection has not been established with this Identity Provider",
        );
    }
    // It answers a request (`InResponseTo`) that no relay state names.
    AuthError::validation("SAML Assertion is not valid")
}

/// Whether Go's `url.ParseRequestURI` takes `text`: an absolute path or a
/// URL with a scheme.
fn is_request_uri(text: &str) -> bool {
    text.starts_with('/')
        || text.split_once(':').is_some_and(|(scheme, _)| {
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        })
}

/// `url` with `pairs` set in its query as Go's `url.Values` does it
/// (`q.Set` then `q.Encode()`): other values kept, keys sorted.
fn go_query_set(url: &str, pairs: &[(&str, &str)]) -> String {
    let (base, fragment) = url
        .split_once('#')
        .map_or((url, None), |(b, f)| (b, Some(f)));
    let (path, query) = base.split_once('?').unwrap_or((base, ""));
    let mut values: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| !pairs.iter().any(|(name, _)| name == k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    values.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    values.sort_by(|a, b| a.0.cmp(&b.0));
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(values)
        .finish();
    match fragment {
        Some(fragment) => format!("{path}?{query}#{fragment}"),
        None => format!("{path}?{query}"),
    }
}

/// GoTrue's `AsRedirectURL` fragment: the tokens, keys sorted.
fn implicit_fragment(tokens: &Value) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for key in [
        "access_token",
        "expires_at",
        "expires_in",
        "refresh_token",
        "token_type",
    ] {
        match &tokens[key] {
            Value::String(s) => out.append_pair(key, s),
            other => out.append_pair(key, &other.to_string()),
        };
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_set_and_sorted_as_go_encodes_them() {
        assert_eq!(
            go_query_set("http://a/cb?z=1&code=old&a=2#f", &[("code", "c")]),
            "http://a/cb?a=2&code=c&z=1#f"
        );
        assert_eq!(
            go_query_set("http://a/cb", &[("code", "x y")]),
            "http://a/cb?code=x+y"
        );
    }

    #[test]
    fn relay_states_that_are_urls_or_paths_are_idp_initiated() {
        assert!(is_request_uri("https://app.example.com/after"));
        assert!(is_request_uri("/after"));
        assert!(!is_request_uri("not-a-uuid"));
        assert!(!is_request_uri("1http:x"));
    }
}
