//! The Realtime upgrade: `GET /realtime/v1/websocket`.

use crate::body::Body;
use crate::pipeline::context::Ctx;
use crate::realtime::{SessionLink, Upgrade};
use http::Response;
use sbp_core::ProxyError;

/// `GET /realtime/v1/websocket`: the upgrade and its origin are checked
/// before anything else, then the socket is relayed with the session's
/// fresh token (or the anon key).
pub async fn socket(ctx: &mut Ctx<'_>) -> Result<Response<Body>, ProxyError> {
    let upgrade = Upgrade::check(&ctx.app.realtime, &mut ctx.parts)?;
    let session = ctx.fresh_session().await?;
    let link = session.zip(ctx.live()).map(|(session, live)| SessionLink {
        key: live.key.clone(),
        session,
    });
    let client_ip = ctx.client_ip();
    upgrade
        .accept(
            &ctx.app.realtime,
            ctx.app.sessions.clone(),
            &ctx.parts,
            client_ip,
            link,
        )
        .await
}
