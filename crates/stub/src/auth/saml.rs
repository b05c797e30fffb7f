//! The stand-in SAML messages and the names of the two parties: the
//! `AuthnRequest` Auth sends the identity provider and the assertion it
//! gets back, each travelling as base64 of its JSON (where SAML has
//! deflated or plain base64 XML), and the entity ids and ACS URL.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::SsoProvider;
use crate::state::Shared;

/// The stand-in `AuthnRequest` Auth sends the identity provider.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct AuthnRequest {
    #[serde(rename = "ID")]
    pub id: String,
    /// Auth's entity id.
    #[serde(rename = "Issuer")]
    pub issuer: String,
}

/// The stand-in assertion the identity provider posts back.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Assertion {
    #[serde(rename = "ID")]
    pub id: String,
    /// The `AuthnRequest` it answers.
    #[serde(rename = "InResponseTo")]
    pub in_response_to: String,
    /// The identity provider's entity id.
    #[serde(rename = "Issuer")]
    pub issuer: String,
    /// Auth's entity id.
    #[serde(rename = "Audience")]
    pub audience: String,
    /// The user's address (NameID format `emailAddress`).
    #[serde(rename = "NameID")]
    pub name_id: String,
}

/// A stand-in SAML message as it travels: base64 of its JSON.
pub(crate) fn encode<T: Serialize>(message: &T) -> String {
    STANDARD.encode(serde_json::to_vec(message).unwrap_or_default())
}

/// A stand-in SAML message read back, if it is one.
pub(crate) fn decode<T: DeserializeOwned>(text: &str) -> Option<T> {
    let bytes = STANDARD.decode(text).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Auth's entity id (`<API_EXTERNAL_URL>/sso/saml/metadata`).
pub(crate) fn sp_entity_id(shared: &Shared) -> String {
    format!("{}/sso/saml/metadata", shared.issuer)
}

/// Auth's Assertion Consumer Service, where identity providers post.
pub(crate) fn acs_url(shared: &Shared) -> String {
    format!("{}/sso/saml/acs", shared.issuer)
}

/// The entity id of the stand-in identity provider behind `provider`.
pub(crate) fn idp_entity_id(shared: &Shared, provider: &SsoProvider) -> String {
    format!("{}/__stub/idp/{}", shared.base_url, provider.id)
}
