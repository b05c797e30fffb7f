//! SAML SSO with no code in the app: `/edge/v1/authorize?domain=` or
//! `?provider_id=` → Auth's `POST /sso` → the identity provider's page,
//! whose form the browser posts to Auth's ACS → `/edge/v1/callback?code=`
//! → `next`, signed in as the provider's user; and Auth's refusals
//! reaching `next`.

use super::{PUBLIC, callback, flow_cookie, location, on_proxy, param};
use crate::support::{Browser, Env, Setup};
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

const PROVIDER_ID: &str = "3f0e7c52-9d41-4b8a-a1c6-5e2f8d7b9a01";
const DOMAIN: &str = "sso.example.com";

async fn saml_env() -> Env {
    Env::with(Setup {
        sso_providers: vec![sbp_stub::SsoProvider {
            id: PROVIDER_ID.to_string(),
            domains: vec![DOMAIN.to_string()],
        }],
        ..Setup::default()
    })
    .await
}

/// The value of `attribute` in the first tag of `html` that has `marker`.
fn attribute(html: &str, marker: &str, attribute: &str) -> String {
    let tag_start = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {html}"));
    let tag = &html[html[..=tag_start].rfind('<').unwrap_or(0)..];
    let tag = &tag[..tag.find('>').expect("a whole tag")];
    let key = format!("{attribute}=\"");
    let from = tag.find(&key).expect("the attribute") + key.len();
    let value = &tag[from..from + tag[from..].find('"').expect("a closing quote")];
    assert!(!value.contains('&'), "no entities expected: {value}");
    value.to_string()
}

/// `/edge/v1/authorize?{query}`, then, as a browser, the identity
/// provider's page (on the stub) and the form it posts to Auth's ACS: the
/// callback path Auth sends the browser to, and the flow cookie.
async fn start_sso(env: &Env, browser: &mut Browser, query: &str) -> (String, String) {
    let reply = browser.get(&format!("/edge/v1/authorize?{query}")).await;
    let to_idp = location(&reply);
    let cookie = flow_cookie(&reply);
    let stub = env.stub.url();
    let idp_path = to_idp
        .strip_prefix(&stub)
        .unwrap_or_else(|| panic!("{to_idp} is not the stub's identity provider"));
    assert!(
        idp_path.starts_with(&format!("/__stub/idp/{PROVIDER_ID}/sso?SAMLRequest=")),
        "{idp_path}"
    );
    let mut on_idp = Browser::new(&stub, &env.stub.anon_key(), "none");
    on_idp.origin = Some(stub.clone());
    let page = on_idp.get(idp_path).await;
    assert_eq!(page.status, 200, "{}", page.text());
    let html = page.text();
    let action = attribute(&html, "<form", "action");
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(
            "SAMLResponse",
            &attribute(&html, "name=\"SAMLResponse\"", "value"),
        )
        .append_pair(
            "RelayState",
            &attribute(&html, "name=\"RelayState\"", "value"),
        )
        .finish();
    let acs = action.strip_prefix(&stub).expect("Auth's ACS on the stub");
    let back = on_idp
        .send(
            http::Method::POST,
            acs,
            &[("content-type", "application/x-www-form-urlencoded")],
            form,
        )
        .await;
    assert_eq!(back.status, 302, "{}", back.text());
    let to_callback = back.header("location").expect("Location").to_string();
    (on_proxy(&to_callback), cookie)
}

/// The JSON body of the one recorded request to `path`.
fn recorded_body(env: &Env, path: &str) -> Value {
    let seen: Vec<_> = env
        .stub
        .recorded()
        .into_iter()
        .filter(|r| r.path == path)
        .collect();
    assert_eq!(seen.len(), 1, "one call to {path}");
    serde_json::from_slice(&seen[0].body).expect("a JSON body")
}

async fn signs_in_through(query: &str, key: &str, value: &str) {
    let env = saml_env().await;
    let mut browser = env.browser();
    let (path, cookie) = start_sso(&env, &mut browser, query).await;
    assert!(path.starts_with("/edge/v1/callback?code="), "{path}");

    // Another browser cannot use the code.
    let mut other = env.browser();
    let refused = callback(&mut other, &path, None).await;
    assert_eq!(
        param(&location(&refused), "error").as_deref(),
        Some("invalid_request")
    );

    let done = callback(&mut browser, &path, Some(&cookie)).await;
    assert_eq!(location(&done), format!("{PUBLIC}/after"));
    assert!(browser.cookie.is_some(), "{:?}", done.set_cookies());
    env.assert_no_stub_tokens(&done);
    let session = browser.get("/edge/v1/session").await;
    assert_eq!(session.status, 200, "{}", session.text());
    let user = &session.json()["user"];
    assert_eq!(user["email"], format!("sso-user@{DOMAIN}").as_str());
    assert_eq!(
        user["app_metadata"]["provider"],
        format!("sso:{PROVIDER_ID}").as_str()
    );

    // What the proxy asked of Auth: this provider, the callback, and a
    // challenge the verifier of the code's exchange answers.
    let sso = recorded_body(&env, "/auth/v1/sso");
    assert_eq!(sso[key], value);
    assert_eq!(sso.as_object().unwrap().len(), 5, "{sso}");
    assert_eq!(sso["skip_http_redirect"], true);
    assert_eq!(sso["redirect_to"], format!("{PUBLIC}/edge/v1/callback"));
    assert_eq!(sso["code_challenge_method"], "s256");
    let exchange = recorded_body(&env, "/auth/v1/token");
    let verifier = exchange["code_verifier"].as_str().expect("a verifier");
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    assert_eq!(sso["code_challenge"], challenge.as_str());
}

#[tokio::test]
async fn sso_by_domain_ends_at_next_signed_in_as_the_providers_user() {
    signs_in_through(&format!("domain={DOMAIN}&next=/after"), "domain", DOMAIN).await;
}

#[tokio::test]
async fn sso_by_provider_id_ends_at_next_signed_in_as_the_providers_user() {
    let query = format!("provider_id={PROVIDER_ID}&next=/after");
    signs_in_through(&query, "provider_id", PROVIDER_ID).await;
}

#[tokio::test]
async fn an_unknown_sso_provider_reaches_next_as_an_error() {
    let env = saml_env().await;
    let mut browser = env.browser();
    let cases = [
        (
            "domain=nobody.example.com",
            "sso_provider_not_found",
            "No SSO provider assigned for this domain",
        ),
        (
            "provider_id=9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d",
            "sso_provider_not_found",
            "No such SSO provider",
        ),
    ];
    for (query, error, description) in cases {
        let reply = browser
            .get(&format!("/edge/v1/authorize?{query}&next=/after"))
            .await;
        let to = location(&reply);
        assert!(to.starts_with(&format!("{PUBLIC}/after?")), "{to}");
        assert_eq!(param(&to, "error").as_deref(), Some(error), "{query}");
        assert_eq!(
            param(&to, "error_description").as_deref(),
            Some(description)
        );
        assert!(reply.set_cookies().is_empty(), "no flow started: {query}");
    }
    // A provider_id that is no UUID: Auth cannot read the body.
    let reply = browser
        .get("/edge/v1/authorize?provider_id=p1&next=/after")
        .await;
    assert_eq!(
        param(&location(&reply), "error").as_deref(),
        Some("bad_json")
    );
    assert!(browser.cookie.is_none());
}
