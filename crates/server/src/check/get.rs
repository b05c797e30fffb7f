//! One `GET` to the project on a connection of its own (hyper's HTTP/1.1
//! client over [`reach::open`]), its answer read whole and decoded.

use super::Project;
use super::answer::Answer;
use super::reach::{self, Unreached};
use crate::body::{empty, read_decoded};
use crate::pool::describe;
use http::header::{ACCEPT_ENCODING, HOST, HeaderName, HeaderValue};
use http::{Method, Request};
use hyper_util::rt::TokioIo;

/// The most of an answer that is read.
const ANSWER_LIMIT: usize = 1 << 20;

impl Project<'_> {
    /// `GET path` with the anon `apikey` and `headers`.
    pub async fn get(
        &self,
        path: &str,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<Answer, Unreached> {
        let stream = reach::open(&self.origin).await?;
        let not_http = |e: hyper::Error| Unreached::NotHttp(describe(&e));
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(not_http)?;
        tokio::spawn(connection);
        let mut request = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(HOST, self.config.supabase_url.authority())
            .header(ACCEPT_ENCODING, "identity")
            .header("apikey", self.apikey.clone())
            .body(empty())
            .map_err(|e| Unreached::NotHttp(e.to_string()))?;
        for (name, value) in headers {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        let (mut parts, body) = sender
            .send_request(request)
            .await
            .map_err(not_http)?
            .into_parts();
        let body = read_decoded(&mut parts, body, ANSWER_LIMIT)
            .await
            .map_err(|e| Unreached::NotHttp(e.to_string()))?;
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}
