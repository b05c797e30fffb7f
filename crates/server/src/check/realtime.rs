//! Realtime: a WebSocket upgrade on `/realtime/v1/websocket?apikey=...&vsn=1.0.0`
//! (tokio-tungstenite over [`reach::open`]), then a Phoenix heartbeat that
//! Realtime must answer, then the socket closed.

use super::Project;
use super::answer::{NOT_SUPABASE, WRONG_KEY};
use super::line::{Line, timed};
use super::reach::{self, ON_TIMEOUT, Unreached};
use futures_util::{SinkExt, StreamExt};
use sbp_core::realtime::handshake::upstream_query;
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error, Message};

/// A heartbeat in the 1.0.0 serializer, and the `ref` of its reply.
const HEARTBEAT: &str = r#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"1"}"#;

pub async fn probe(project: &Project<'_>) -> Line {
    timed("realtime", ON_TIMEOUT, async {
        let url = &project.config.supabase_url;
        let scheme = if url.is_https() { "wss" } else { "ws" };
        let query = upstream_query(Some("vsn=1.0.0"), &project.config.anon_key);
        let mut request = format!(
            "{scheme}://{}/realtime/v1/websocket?{query}",
            url.authority()
        )
        .into_client_request()
        .map_err(|e| format!("SUPABASE_URL gives no WebSocket URL: {e}"))?;
        request
            .headers_mut()
            .insert("apikey", project.apikey.clone());
        let stream = reach::open(&project.origin)
            .await
            .map_err(|e| e.failure())?;
        let (mut socket, _) = tokio_tungstenite::client_async(request, stream)
            .await
            .map_err(|e| refused(&e))?;
        socket
            .send(Message::text(HEARTBEAT))
            .await
            .map_err(|e| format!("the socket opened but a heartbeat could not be sent: {e}"))?;
        let answer = loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => match heartbeat_reply(&text) {
                    Some(status) => break status,
                    None => continue,
                },
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(format!("the socket failed: {e}; {ON_TIMEOUT}")),
                None => {
                    return Err(format!(
                        "Realtime closed the socket without answering a heartbeat; {NOT_SUPABASE}"
                    ));
                }
            }
        };
        let _ = socket.close(None).await;
        match answer.as_str() {
            "ok" => Ok(String::new()),
            other => Err(format!(
                "Realtime answered a heartbeat with `{other}`; check the project's Realtime settings"
            )),
        }
    })
    .await
}

/// The status of the heartbeat's reply, if `text` is it.
fn heartbeat_reply(text: &str) -> Option<String> {
    let message: Value = serde_json::from_str(text).ok()?;
    let is_reply = message["event"] == "phx_reply" && message["ref"] == "1";
    is_reply.then(|| {
        message["payload"]["status"]
            .as_str()
            .unwrap_or("no status")
            .to_string()
    })
}

/// What a failed upgrade says is wrong; never the URL (it holds the key).
fn refused(error: &Error) -> String {
    let Error::Http(response) = error else {
        return Unreached::NotHttp(format!("the WebSocket handshake failed: {error}")).failure();
    };
    let status = response.status();
    let message = response
        .body()
        .as_deref()
        .and_then(|body| serde_json::from_slice::<Value>(body).ok())
        .and_then(|body| body["message"].as_str().map(str::to_string));
    let shown = match message {
        Some(message) => format!("{} {message}", status.as_u16()),
        None => status.as_u16().to_string(),
    };
    match status.as_u16() {
        401 | 403 => format!("Realtime refused the API key ({shown}); {WRONG_KEY}"),
        404 => format!("Realtime is not there ({shown}); {NOT_SUPABASE}"),
        500.. => format!(
            "Realtime answered {shown}; the project may be paused, restarting or down: \
             check its status in the dashboard"
        ),
        _ => format!(
            "Realtime refused the upgrade ({shown}); something between (a proxy, a load \
             balancer) may not pass WebSocket upgrades"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::http::Response;

    fn refusal(status: u16, body: Option<&str>) -> String {
        let response = Response::builder()
            .status(status)
            .body(body.map(|b| b.as_bytes().to_vec()))
            .unwrap();
        refused(&Error::Http(Box::new(response)))
    }

    #[test]
    fn a_refused_upgrade_names_its_cause() {
        assert_eq!(
            refusal(403, Some(r#"{"message":"invalid apikey"}"#)),
            format!("Realtime refused the API key (403 invalid apikey); {WRONG_KEY}")
        );
        assert!(refusal(404, None).starts_with("Realtime is not there (404)"));
        assert!(refusal(503, None).contains("paused, restarting or down"));
        assert!(refusal(400, None).contains("may not pass WebSocket upgrades"));
    }

    #[test]
    fn only_the_heartbeats_reply_ends_the_wait() {
        let reply = r#"{"topic":"phoenix","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"1"}"#;
        assert_eq!(heartbeat_reply(reply).as_deref(), Some("ok"));
        let other = r#"{"topic":"realtime:x","event":"presence_state","payload":{},"ref":null}"#;
        assert_eq!(heartbeat_reply(other), None);
        assert_eq!(heartbeat_reply("not json"), None);
    }
}
