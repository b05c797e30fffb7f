//! Mint mode: a token signed with the configured key for a placeholder
//! user (the nil UUID, which no project has) shown to Auth's
//! `GET /auth/v1/user`. Auth checks the signature before it looks the user
//! up: `user_not_found` means the signature was accepted, `bad_jwt` that
//! the project does not trust the key.

use super::Project;
use super::answer::{Answer, not_the_service};
use super::line::{Line, timed};
use super::reach::ON_TIMEOUT;
use crate::runtime::unix_now;
use http::HeaderValue;
use http::header::AUTHORIZATION;
use sbp_core::config::TokenMode;
use serde_json::{Map, Value, json};

/// The placeholder user's id.
const NOBODY: &str = "00000000-0000-0000-0000-000000000000";
/// Lifetime of the probe's token, seconds.
const TTL: u64 = 60;

/// `None` outside mint mode.
pub async fn probe(project: &Project<'_>) -> Option<Line> {
    let TokenMode::Mint(key) = &project.config.token_mode else {
        return None;
    };
    let setting = key.setting();
    let line = timed("mint", ON_TIMEOUT, async {
        let claims = json!({"sub": NOBODY, "role": "authenticated", "aud": "authenticated"});
        let claims: Map<String, Value> = claims.as_object().cloned().unwrap_or_default();
        let (token, _, _) = key
            .mint(&claims, unix_now(), TTL)
            .map_err(|e| format!("{setting} cannot sign a token: {e}"))?;
        let bearer = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| format!("{setting} signs tokens that cannot go in a header"))?;
        let headers = [
            (AUTHORIZATION, bearer),
            (
                "x-supabase-api-version".try_into().expect("a header name"),
                HeaderValue::from_static("2024-01-01"),
            ),
        ];
        let answer = project
            .get("/auth/v1/user", &headers)
            .await
            .map_err(|e| e.failure())?;
        judge(setting, &answer)
    })
    .await;
    Some(line)
}

/// Whether Auth accepted the minted token's signature; the fix names `setting`.
fn judge(setting: &str, answer: &Answer) -> Result<String, String> {
    if let Some(problem) = not_the_service("Auth", answer) {
        return Err(problem);
    }
    let code = answer.error_code();
    match (answer.status.as_u16(), code.as_deref()) {
        (200, _) => Ok("Auth accepts minted tokens".to_string()),
        (_, Some("user_not_found" | "session_not_found")) => {
            Ok("Auth accepts minted tokens (the placeholder user does not exist)".to_string())
        }
        (_, Some("bad_jwt")) => {
            let message = answer.message().unwrap_or_default();
            let clock = ["expired", "future", "not yet valid"]
                .iter()
                .any(|word| message.contains(word));
            if clock {
                Err(format!(
                    "Auth refuses a minted token ({message}); this machine's clock is off: \
                     sync it (NTP)"
                ))
            } else {
                Err(format!(
                    "Auth refuses a minted token ({message}); {}",
                    untrusted_key(setting)
                ))
            }
        }
        _ => Err(format!(
            "Auth answered a minted token with {}; {}",
            answer.shown(),
            untrusted_key(setting)
        )),
    }
}

/// The fix when the project does not trust the key of `setting`.
fn untrusted_key(setting: &str) -> String {
    if setting == "SUPABASE_JWT_SECRET" {
        "SUPABASE_JWT_SECRET is not this project's JWT secret: copy it from the \
         dashboard's JWT settings"
            .to_string()
    } else {
        "the project does not trust PROXY_JWT_PRIVATE_KEY: import it among the project's \
         JWT signing keys (standby or in use), and check PROXY_JWT_KEY_ID"
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::super::answer::tests::{answer, gateway_refusal};
    use super::*;

    fn auth_error(status: u16, code: &str, message: &str) -> Answer {
        let body = json!({"code": code, "message": message}).to_string();
        answer(status, "application/json", &body, Some(code))
    }

    #[test]
    fn a_signature_auth_accepts_passes_and_one_it_refuses_names_the_key() {
        let nobody = auth_error(
            403,
            "user_not_found",
            "User from sub claim in JWT does not exist",
        );
        assert_eq!(
            judge("SUPABASE_JWT_SECRET", &nobody),
            Ok("Auth accepts minted tokens (the placeholder user does not exist)".into())
        );
        let bad = auth_error(
            403,
            "bad_jwt",
            "invalid JWT: unable to parse or verify signature, signature is invalid",
        );
        assert_eq!(
            judge("SUPABASE_JWT_SECRET", &bad).unwrap_err(),
            "Auth refuses a minted token (invalid JWT: unable to parse or verify signature, \
             signature is invalid); SUPABASE_JWT_SECRET is not this project's JWT secret: copy \
             it from the dashboard's JWT settings"
        );
        assert!(
            judge("PROXY_JWT_PRIVATE_KEY", &bad)
                .unwrap_err()
                .contains("import it among the project's JWT signing keys")
        );
        let late = auth_error(
            403,
            "bad_jwt",
            "invalid JWT: unable to parse or verify signature, token has invalid claims: token is expired",
        );
        assert!(
            judge("SUPABASE_JWT_SECRET", &late)
                .unwrap_err()
                .ends_with("sync it (NTP)")
        );
        let kong = gateway_refusal();
        assert!(
            judge("SUPABASE_JWT_SECRET", &kong)
                .unwrap_err()
                .contains("SUPABASE_ANON_KEY")
        );
    }
}
