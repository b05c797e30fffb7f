//! An answer from the project, and what the answers that are not a
//! service's own say: the gateway refusing the API key, or the gateway (or
//! a CDN) answering for a service that is down.

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, StatusCode};
use serde_json::Value;

/// The fix when the gateway refuses `SUPABASE_ANON_KEY`.
pub const WRONG_KEY: &str = "SUPABASE_ANON_KEY is not this project's key: copy the anon \
     (or publishable) key from the dashboard's API settings";

/// The fix when a service's answer comes from something else than Supabase.
pub const NOT_SUPABASE: &str = "SUPABASE_URL must be the project's API URL \
     (https://<project ref>.supabase.co), not the app's or the dashboard's";

/// An answer, read whole.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The error's code: the `x-sb-error-code` header, or the body's
    /// `error_code` (or a string `code`).
    pub fn error_code(&self) -> Option<String> {
        let header = self
            .headers
            .get("x-sb-error-code")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        header.or_else(|| {
            let json = self.json()?;
            ["error_code", "code"]
                .iter()
                .find_map(|key| json.get(key)?.as_str().map(str::to_string))
        })
    }

    /// The error's message, in whichever shape it came: `message` (the
    /// gateway, Auth's API version 2024-01-01, PostgREST), `msg` (Auth's
    /// older shape) or `error_description`.
    pub fn message(&self) -> Option<String> {
        let json = self.json()?;
        ["message", "msg", "error_description"]
            .iter()
            .find_map(|key| json.get(key)?.as_str().map(str::to_string))
    }

    fn is_html(&self) -> bool {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/html"))
    }

    /// The status and what the body says, as shown in a line:
    /// `401 Invalid API key`, `503 (an HTML page)`.
    pub fn shown(&self) -> String {
        let status = self.status.as_u16();
        match self.message() {
            Some(message) => format!("{status} {message}"),
            None if self.is_html() => format!("{status} (an HTML page)"),
            None => status.to_string(),
        }
    }

    /// Whether this is the gateway refusing the request's `apikey`.
    fn refuses_the_key(&self) -> bool {
        let code = self.error_code();
        self.status == StatusCode::UNAUTHORIZED
            && (matches!(code.as_deref(), Some("invalid_api_key" | "no_api_key"))
                || matches!(
                    self.message().as_deref(),
                    Some("Invalid API key" | "No API key found in request")
                ))
    }

    /// Whether this says the service is not at this URL: a 404 that is an
    /// HTML page, or that has no body a Supabase service would write.
    fn is_foreign_not_found(&self) -> bool {
        self.status == StatusCode::NOT_FOUND && (self.is_html() || self.json().is_none())
    }
}

/// What is wrong, when `answer` is not `service`'s own: the gateway
/// refusing the key, a page for a service that is down, or something that
/// is not Supabase answering.
pub fn not_the_service(service: &str, answer: &Answer) -> Option<String> {
    let shown = answer.shown();
    if answer.refuses_the_key() {
        return Some(format!(
            "{service} refused the API key ({shown}); {WRONG_KEY}"
        ));
    }
    if answer.status.is_server_error() {
        return Some(format!(
            "{service} answered {shown}; the project may be paused, restarting or down: \
             check its status in the dashboard"
        ));
    }
    if answer.is_foreign_not_found() {
        return Some(format!("{service} is not there ({shown}); {NOT_SUPABASE}"));
    }
    None
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use http::HeaderValue;

    /// The API gateway's refusal of a key that is not the project's.
    pub fn gateway_refusal() -> Answer {
        answer(
            401,
            "application/json",
            r#"{"message":"Invalid API key"}"#,
            None,
        )
    }

    /// An answer with `status`, `content_type` and `body`, and the
    /// `x-sb-error-code` header when given.
    pub fn answer(status: u16, content_type: &str, body: &str, code: Option<&str>) -> Answer {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        if let Some(code) = code {
            headers.insert("x-sb-error-code", HeaderValue::from_str(code).unwrap());
        }
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn the_gateway_refusing_the_key_names_the_setting() {
        let kong = answer(
            401,
            "application/json",
            r#"{"message":"Invalid API key","hint":"Double check your Supabase `anon` or `service_role` API key."}"#,
            None,
        );
        assert_eq!(
            not_the_service("Auth", &kong).unwrap(),
            format!("Auth refused the API key (401 Invalid API key); {WRONG_KEY}")
        );
        let missing = answer(
            401,
            "application/json",
            r#"{"message":"No API key found in request"}"#,
            None,
        );
        assert!(
            not_the_service("REST", &missing)
                .unwrap()
                .ends_with(WRONG_KEY)
        );
        let coded = answer(
            401,
            "application/json",
            r#"{"code":401,"error_code":"invalid_api_key","msg":"Invalid API key"}"#,
            Some("invalid_api_key"),
        );
        assert!(
            not_the_service("Auth", &coded)
                .unwrap()
                .ends_with(WRONG_KEY)
        );
    }

    #[test]
    fn a_service_down_or_missing_is_told_from_its_own_answers() {
        let down = answer(503, "text/html; charset=utf-8", "<html>503</html>", None);
        assert_eq!(
            not_the_service("REST", &down).unwrap(),
            "REST answered 503 (an HTML page); the project may be paused, restarting or down: \
             check its status in the dashboard"
        );
        let elsewhere = answer(404, "text/html", "<h1>Not found</h1>", None);
        assert_eq!(
            not_the_service("Auth", &elsewhere).unwrap(),
            format!("Auth is not there (404 (an HTML page)); {NOT_SUPABASE}")
        );
        // A service's own refusals are its business, not the gateway's.
        let postgrest = answer(
            401,
            "application/json",
            r#"{"code":"PGRST301","message":"JWSError"}"#,
            None,
        );
        assert_eq!(not_the_service("REST", &postgrest), None);
        let missing_table = answer(
            404,
            "application/json",
            r#"{"code":"PGRST205","message":"Could not find the table"}"#,
            None,
        );
        assert_eq!(not_the_service("REST", &missing_table), None);
        assert_eq!(missing_table.error_code().as_deref(), Some("PGRST205"));
        assert_eq!(
            not_the_service("REST", &answer(200, "application/json", "{}", None)),
            None
        );
    }
}
