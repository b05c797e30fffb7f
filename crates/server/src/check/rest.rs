//! PostgREST: `GET /rest/v1/` with the anon `apikey`. Any answer PostgREST
//! writes itself (its OpenAPI description, a 401 for a role that may not
//! read it, a 404 for a schema or table that is not there) shows REST is
//! up; the gateway refusing the key, a gateway's page for a PostgREST that
//! is down, or an answer from something else is a failure.

use super::Project;
use super::answer::{Answer, not_the_service};
use super::line::{Line, timed};
use super::reach::ON_TIMEOUT;

pub async fn probe(project: &Project<'_>) -> Line {
    timed("rest", ON_TIMEOUT, async {
        let answer = project
            .get("/rest/v1/", &[])
            .await
            .map_err(|e| e.failure())?;
        judge(&answer)
    })
    .await
}

/// The line's note when REST is up, else what is wrong.
fn judge(answer: &Answer) -> Result<String, String> {
    if let Some(problem) = not_the_service("REST", answer) {
        return Err(problem);
    }
    if answer.status.is_success() {
        Ok(String::new())
    } else {
        Ok(format!("PostgREST answered {}", answer.shown()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::answer::tests::{answer, gateway_refusal};
    use super::*;

    #[test]
    fn postgrests_own_refusals_pass_and_the_gateways_fail() {
        assert_eq!(
            judge(&answer(200, "application/openapi+json", "{}", None)),
            Ok(String::new())
        );
        let forbidden = answer(
            401,
            "application/json",
            r#"{"code":"42501","message":"permission denied for schema public"}"#,
            None,
        );
        assert_eq!(
            judge(&forbidden),
            Ok("PostgREST answered 401 permission denied for schema public".into())
        );
        let kong = gateway_refusal();
        assert!(
            judge(&kong)
                .unwrap_err()
                .starts_with("REST refused the API key (401 Invalid API key); SUPABASE_ANON_KEY")
        );
        let gateway = answer(502, "text/html", "<html>Bad Gateway</html>", None);
        assert!(
            judge(&gateway)
                .unwrap_err()
                .starts_with("REST answered 502 (an HTML page); the project may be paused")
        );
    }
}
