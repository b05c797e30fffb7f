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
    let user = match body.get("user") {
        Some(user @ Value::Object(_)) => user.clone(),
        _ => serde_json::json!({"id": claims.sub}),
    };
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
