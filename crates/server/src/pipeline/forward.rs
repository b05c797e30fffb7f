//! Forwarding a request to Supabase with the session's token (or the anon key).

use crate::body::Body;
use crate::pipeline::context::Ctx;
use crate::upstream::{Forward, forward_request, relay_response};
use http::Response;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use sbp_core::ProxyError;

/// Sends the request upstream with `bearer` and returns the raw response.
pub async fn send(
    ctx: &Ctx,
    body: Incoming,
    bearer: &str,
) -> Result<Response<Incoming>, ProxyError> {
    let app = &ctx.app;
    let path_and_query = match ctx.parts.uri.query() {
        Some(query) => format!("{}?{query}", ctx.path),
        None => ctx.path.clone(),
    };
    let forward = Forward {
        uri: app.upstream.url(&path_and_query),
        bearer,
        anon_key: &app.config.anon_key,
        cookie_name: &app.config.cookie_name,
        client_ip: ctx.client_ip(),
        proto: app.config.public_url.scheme(),
    };
    let request = forward_request(&ctx.parts, body.map_err(Into::into).boxed(), &forward);
    app.upstream.send(request).await
}

/// The default policy: the session's fresh token, streamed both ways.
pub async fn forward(ctx: &mut Ctx, body: Incoming) -> Result<Response<Body>, ProxyError> {
    let session = ctx.fresh_session().await?;
    let bearer = match &session {
        Some(session) => session.tokens.access_token.as_str(),
        None => ctx.app.config.anon_key.as_str(),
    };
    Ok(relay_response(send(ctx, body, bearer).await?))
}
