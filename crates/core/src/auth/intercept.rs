//! Reading Auth's token responses and writing what the browser gets instead.

use super::scrub::scrub_json;
use crate::env::UnixSeconds;
use crate::session::UpstreamTokens;
use crate::token::{AccessClaims, read_claims};
use serde_json::{Map, Value};

/// A successful sign-in read from Auth's token response.
#[derive(Debug, Clone)]
pub struct SignIn {
    pub tokens: UpstreamTokens,
    pub claims: AccessClaims,
    pub user: Value,
    /// Auth's JSON body, to be returned with the tokens replaced.
    pub body: Map<String, Value>,
}

/// Reads a token response: a JSON object with a JWT `access_token` (with
/// `sub` and `exp`) and a non-empty `refresh_token`. Anything else is `None`.
pub fn read_token_response(body: &[u8]) -> Option<SignIn> {
    let Value::Object(body) = serde_json::from_slice(body).ok()? else {
        return None;
    };
    let access_token = body.get("access_token")?.as_str()?.to_string();
    let refresh_token = body.get("refresh_token")?.as_str()?.to_string();
    if refresh_token.is_empty() {
        return None;
    }
    let claims = read_claims(&access_token)?;
    let mut user = match body.get("user") {
        Some(user @ Value::Object(_)) => user.clone(),
        _ => serde_json::json!({"id": claims.sub}),
    };
    // The user is kept with the session and shown to the browser, and the
    // body is returned to it: neither keeps a token, whatever its name.
    scrub_json(&mut user);
    let mut body = body;
    let tokens = [access_token.as_str(), refresh_token.as_str()];
    if let Value::Object(user) = &mut user {
        drop_token_copies(user, &tokens);
    }
    drop_token_copies(&mut body, &tokens);
    Some(SignIn {
        tokens: UpstreamTokens {
            access_token,
            refresh_token,
            issued_at: claims.iat,
            expires_at: claims.exp,
        },
        claims,
        user,
        body,
    })
}

/// Removes, at any depth, every string that contains one of `tokens`, and
/// every entry whose key does. Tokens shorter than 8 bytes are not looked
/// for: Auth's are longer, and a short one would match ordinary text.
fn drop_token_copies(map: &mut Map<String, Value>, tokens: &[&str]) {
    let tokens: Vec<&str> = tokens.iter().copied().filter(|t| t.len() >= 8).collect();
    if !tokens.is_empty() {
        drop_in_map(map, &tokens);
    }
}

fn holds_token(text: &str, tokens: &[&str]) -> bool {
    tokens.iter().any(|t| text.contains(t))
}

fn is_token_copy(value: &Value, tokens: &[&str]) -> bool {
    matches!(value, Value::String(s) if holds_token(s, tokens))
}

fn drop_in_map(map: &mut Map<String, Value>, tokens: &[&str]) {
    map.retain(|k, v| !holds_token(k, tokens) && !is_token_copy(v, tokens));
    for value in map.values_mut() {
        drop_in_value(value, tokens);
    }
}

fn drop_in_value(value: &mut Value, tokens: &[&str]) {
    match value {
        Value::Object(map) => drop_in_map(map, tokens),
        Value::Array(items) => {
            items.retain(|v| !is_token_copy(v, tokens));
            items.iter_mut().for_each(|v| drop_in_value(v, tokens));
        }
        _ => {}
    }
}

/// A token response body for the browser: `base` (Auth's body, or just the
/// user) with every token replaced by the given placeholders.
pub fn browser_token_response(
    base: &Map<String, Value>,
    user: &Value,
    access_placeholder: &str,
    access_expires_at: UnixSeconds,
    refresh_placeholder: &str,
    now: UnixSeconds,
) -> Vec<u8> {
    let mut body = Value::Object(base.clone());
    scrub_json(&mut body);
    let Value::Object(mut body) = body else {
        return Vec::new();
    };
    body.insert("access_token".into(), access_placeholder.into());
    body.insert("refresh_token".into(), refresh_placeholder.into());
    body.insert("token_type".into(), "bearer".into());
    body.insert("expires_in".into(), (access_expires_at - now).into());
    body.insert("expires_at".into(), access_expires_at.into());
    body.insert("user".into(), user.clone());
    Value::Object(body).to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};

    fn jwt() -> String {
        encode(
            &Header::default(),
            &serde_json::json!({"sub": "u1", "iat": 100, "exp": 3700, "session_id": "s1"}),
            &EncodingKey::from_secret(b"secret"),
        )
        .unwrap()
    }

    #[test]
    fn reads_a_token_response() {
        let body = serde_json::json!({
            "access_token": jwt(), "refresh_token": "r1", "expires_in": 3600,
            "token_type": "bearer", "user": {"id": "u1", "email": "a@example.com"},
            "provider_token": "p", "weak_password": null
        });
        let sign_in = read_token_response(body.to_string().as_bytes()).unwrap();
        assert_eq!(sign_in.tokens.refresh_token, "r1");
        assert_eq!(
            (sign_in.tokens.issued_at, sign_in.tokens.expires_at),
            (100, 3700)
        );
        assert_eq!(sign_in.claims.session_id.as_deref(), Some("s1"));
        assert_eq!(sign_in.user["email"], "a@example.com");

        let out = browser_token_response(&sign_in.body, &sign_in.user, "ph", 5000, "opaque", 1400);
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains(&jwt()) && !text.contains("\"r1\""));
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["access_token"], "ph");
        assert_eq!(v["refresh_token"], "opaque");
        assert_eq!(v["expires_in"], 3600);
        assert_eq!(v["expires_at"], 5000);
        assert!(v.get("provider_token").is_none());
        assert!(v.get("weak_password").is_some());
    }

    #[test]
    fn tokens_inside_the_user_never_reach_the_browser() {
        // Found by fuzzing (fuzz/ auth_response): the user object was
        // stored and returned as Auth sent it.
        let body = serde_json::json!({
            "access_token": jwt(), "refresh_token": "upstream-refresh",
            "user": {"id": "u1", "refresh_token": "upstream-refresh",
                     "identities": [{"provider_token": "p"}]}
        });
        let sign_in = read_token_response(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            sign_in.user,
            serde_json::json!({"id": "u1", "identities": [{}]})
        );
        let out = browser_token_response(&sign_in.body, &sign_in.user, "ph", 5000, "opaque", 1400);
        let text = String::from_utf8(out).unwrap();
        assert!(
            !text.contains("upstream-refresh") && !text.contains("provider_token"),
            "{text}"
        );
    }

    #[test]
    fn tokens_under_other_names_never_reach_the_browser() {
        // Found by fuzzing (fuzz/ auth_response): the access token under a
        // name no scrubber knows was returned as Auth sent it.
        let body = serde_json::json!({
            "access_token": jwt(), "refresh_token": "upstream-refresh",
            "session": {"token": jwt(), "kept": 1},
            "links": ["https://app.example/cb#t=upstream-refresh", "ok"],
            "user": {"id": "u1", "note": format!("Bearer {}", jwt())}
        });
        let sign_in = read_token_response(body.to_string().as_bytes()).unwrap();
        assert_eq!(sign_in.tokens.refresh_token, "upstream-refresh");
        assert_eq!(sign_in.user, serde_json::json!({"id": "u1"}));
        let out = browser_token_response(&sign_in.body, &sign_in.user, "ph", 5000, "opaque", 1400);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["session"], serde_json::json!({"kept": 1}));
        assert_eq!(v["links"], serde_json::json!(["ok"]));
        let text = String::from_utf8(out).unwrap();
        assert!(
            !text.contains(&jwt()) && !text.contains("upstream-refresh"),
            "{text}"
        );
    }

    #[test]
    fn non_token_responses_are_none() {
        for body in [
            &b"not json"[..],
            b"[1,2]",
            b"{\"id\":\"u1\",\"email\":\"a@example.com\"}",
            b"{\"access_token\":\"x\",\"refresh_token\":\"r\"}",
            b"{\"access_token\":\"x\",\"refresh_token\":\"\"}",
            b"{\"access_token\":5,\"refresh_token\":\"r\"}",
        ] {
            assert!(read_token_response(body).is_none());
        }
    }
}
