//! Auth's `GET /auth/v1/health` and `GET /auth/v1/settings`, with the anon
//! `apikey` only (a publishable key is no JWT, so it goes as no bearer).

use super::Project;
use super::answer::{Answer, NOT_SUPABASE, not_the_service};
use super::line::{Line, timed};
use super::reach::ON_TIMEOUT;
use serde_json::{Map, Value};

pub async fn health(project: &Project<'_>) -> Line {
    timed("auth /health", ON_TIMEOUT, async {
        let answer = project
            .get("/auth/v1/health", &[])
            .await
            .map_err(|e| e.failure())?;
        let health = auth_object(&answer)?;
        let text = |key| health.get(key).and_then(Value::as_str);
        Ok(match (text("name"), text("version")) {
            (Some(name), Some(version)) => format!("{name} {version}"),
            (None, Some(version)) => version.to_string(),
            _ => String::new(),
        })
    })
    .await
}

pub async fn settings(project: &Project<'_>) -> Line {
    timed("auth /settings", ON_TIMEOUT, async {
        let answer = project
            .get("/auth/v1/settings", &[])
            .await
            .map_err(|e| e.failure())?;
        let settings = auth_object(&answer)?;
        if !settings.get("external").is_some_and(Value::is_object) {
            return Err(format!(
                "the answer is not Auth's settings (no `external`); {NOT_SUPABASE}"
            ));
        }
        let signups = match settings.get("disable_signup").and_then(Value::as_bool) {
            Some(true) => "sign-ups disabled",
            _ => "sign-ups allowed",
        };
        Ok(signups.to_string())
    })
    .await
}

/// Auth's answer as a JSON object, or what is wrong with it.
fn auth_object(answer: &Answer) -> Result<Map<String, Value>, String> {
    if let Some(problem) = not_the_service("Auth", answer) {
        return Err(problem);
    }
    if !answer.status.is_success() {
        return Err(format!(
            "Auth answered {}; check SUPABASE_URL and SUPABASE_ANON_KEY",
            answer.shown()
        ));
    }
    match answer.json() {
        Some(Value::Object(object)) => Ok(object),
        _ => Err(format!(
            "the answer is not Auth's (not JSON); {NOT_SUPABASE}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::answer::tests::answer;
    use super::*;

    #[test]
    fn only_auths_own_json_passes() {
        let health = answer(
            200,
            "application/json",
            r#"{"version":"v2.170.0","name":"GoTrue"}"#,
            None,
        );
        assert_eq!(auth_object(&health).unwrap()["version"], "v2.170.0");
        let app = answer(200, "text/html", "<html>the app</html>", None);
        assert_eq!(
            auth_object(&app).unwrap_err(),
            format!("the answer is not Auth's (not JSON); {NOT_SUPABASE}")
        );
        let odd = answer(418, "application/json", r#"{"message":"teapot"}"#, None);
        assert_eq!(
            auth_object(&odd).unwrap_err(),
            "Auth answered 418 teapot; check SUPABASE_URL and SUPABASE_ANON_KEY"
        );
    }
}
