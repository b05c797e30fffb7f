//! The front door: a request for the app behind the proxy (`PROXY_APP_URL`),
//! streamed both ways, WebSocket and other upgrades relayed byte for byte.
//!
//! The app receives the browser's request without the proxy's cookie and
//! with `X-Forwarded-*` and, for a live session, `X-Supabase-Identity` (any
//! copy the browser sent is removed). An unsafe request or an upgrade from
//! an origin outside `PROXY_ALLOWED_ORIGINS` goes on without the identity: the
//! identity is as ambient as a cookie, so the proxy does not lend it to
//! cross-site writes (docs/SECURITY.md). The app's answer comes back as it
//! is, less hop-by-hop headers and any `Set-Cookie` of the proxy's cookie;
//! CORS is the app's (its preflights reach it, its answers get no CORS
//! headers from the proxy).
//! App requests never refresh Auth's tokens: the identity is made from the
//! session's cached user and claims.

use crate::body::{Body, empty, upload};
use crate::front_door::FrontDoor;
use crate::pipeline::context::Ctx;
use crate::pipeline::response::relay::idle_limit;
use crate::realtime::SocketSlot;
use crate::upstream::X_FORWARDED_FOR;
use http::header::{
    CONNECTION, COOKIE, HOST, HeaderMap, HeaderName, HeaderValue, ORIGIN, REFERER, SET_COOKIE,
    UPGRADE,
};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use sbp_core::ProxyError;
use sbp_core::front_door::{app_cookie_allowed, replaced_for_app};
use sbp_core::guard::{CsrfVerdict, check_csrf, is_unsafe};
use sbp_core::http::HopByHop;
use sbp_core::identity::IDENTITY_HEADER;
use std::time::Duration;

static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_SUPABASE_IDENTITY: HeaderName = HeaderName::from_static(IDENTITY_HEADER);

/// Sends the request to the app and relays its answer.
pub async fn forward(ctx: &mut Ctx<'_>, body: Incoming) -> Result<Response<Body>, ProxyError> {
    let app = ctx.app.clone();
    let Some(door) = &app.front_door else {
        return Err(ProxyError::NotFound);
    };
    ctx.for_app = true;
    let upgrade = upgrade_asked(&ctx.parts.headers);
    // An upgraded connection counts against `PROXY_MAX_SOCKETS`, with
    // Realtime's, from before the app sees it.
    let slot = match upgrade {
        Some(_) => Some(app.realtime.take_slot().ok_or(ProxyError::TooManySockets)?),
        None => None,
    };
    let mut request = Request::new(upload(body, idle_limit(ctx)));
    *request.method_mut() = ctx.parts.method.clone();
    *request.uri_mut() = door.client.uri(ctx.parts.uri.path_and_query());
    *request.headers_mut() = app_headers(ctx, door, upgrade.clone());
    let timeout = Duration::from_secs(app.config.limits.upstream_timeout);
    let mut response = match tokio::time::timeout(timeout, door.client.send(request)).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => return Err(ProxyError::UpstreamUnavailable(format!("the app: {e}"))),
        Err(_) => return Err(ProxyError::UpstreamTimeout),
    };
    if let Some(slot) = slot
        && response.status() == StatusCode::SWITCHING_PROTOCOLS
    {
        return relay_upgrade(ctx, response, slot);
    }
    clean_answer(response.headers_mut(), &app.config.cookie_name);
    let (parts, body) = response.into_parts();
    Ok(Response::from_parts(parts, upload(body, idle_limit(ctx))))
}

/// The `Upgrade` header of a request that asks for one (`Connection: upgrade`).
fn upgrade_asked(headers: &HeaderMap) -> Option<HeaderValue> {
    let asks = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    asks.then(|| headers.get(UPGRADE).cloned()).flatten()
}

/// The headers the app receives.
fn app_headers(ctx: &Ctx, door: &FrontDoor, upgrade: Option<HeaderValue>) -> HeaderMap {
    let incoming = &ctx.parts.headers;
    let config = &ctx.app.config;
    let mut out = HeaderMap::with_capacity(incoming.len() + 5);
    let upgrading = upgrade.is_some();
    let hop_by_hop = HopByHop::of(incoming);
    for (name, value) in incoming {
        if !replaced_for_app(name) && !hop_by_hop.contains(name) {
            out.append(name.clone(), value.clone());
        }
    }
    if let Some(upgrade) = upgrade {
        out.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        out.insert(UPGRADE, upgrade);
    }
    if let Some(cookie) = ctx
        .connection
        .forwarded_cookie(incoming.get_all(COOKIE), &config.cookie_name)
    {
        out.insert(COOKIE, cookie);
    }
    if let Some(client) = ctx.connection.forwarded_for(ctx.client_ip()) {
        out.insert(X_FORWARDED_FOR.clone(), client);
    }
    out.insert(
        X_FORWARDED_PROTO.clone(),
        HeaderValue::from_static(config.public_url.scheme()),
    );
    if let Some(host) = incoming.get(HOST) {
        out.insert(X_FORWARDED_HOST.clone(), host.clone());
    }
    if let Some(identity) = identity(ctx, door, upgrading) {
        out.insert(X_SUPABASE_IDENTITY.clone(), identity);
    }
    out
}

/// The identity of the request's live session, unless it is an unsafe
/// request or an upgrade from an origin the proxy does not allow (a page
/// elsewhere may open a WebSocket that carries the cookie).
fn identity(ctx: &Ctx, door: &FrontDoor, upgrading: bool) -> Option<HeaderValue> {
    let live = ctx.live()?;
    let config = &ctx.app.config;
    // An upgrade is judged as an unsafe request is.
    let method = if upgrading {
        &Method::POST
    } else {
        &ctx.parts.method
    };
    let verdict = check_csrf(
        method,
        is_unsafe(method),
        false,
        ctx.header(ORIGIN),
        ctx.header(REFERER),
        |origin| config.origin_allowed(origin),
    );
    if let CsrfVerdict::Refused(why) = verdict {
        tracing::info!(path = %ctx.parts.uri.path(), %why, "cross-site request to the app: sent without the identity");
        return None;
    }
    // Mint mode checks a session in use with Auth now and then.
    ctx.app.sessions.check_if_due(&live.key, &live.session);
    door.identities.header(&live.session, ctx.app.now())
}

/// The app's answer less hop-by-hop headers and the proxy's cookie.
fn clean_answer(headers: &mut HeaderMap, cookie_name: &str) {
    let hop_by_hop: Vec<HeaderName> = {
        let hop = HopByHop::of(headers);
        headers
            .keys()
            .filter(|n| hop.contains(n))
            .cloned()
            .collect()
    };
    for name in hop_by_hop {
        headers.remove(name);
    }
    let cookies: Vec<HeaderValue> = headers.get_all(SET_COOKIE).iter().cloned().collect();
    if cookies.is_empty() {
        return;
    }
    headers.remove(SET_COOKIE);
    for cookie in cookies {
        if cookie
            .to_str()
            .map_or(true, |text| app_cookie_allowed(text, cookie_name))
        {
            headers.append(SET_COOKIE, cookie);
        } else {
            tracing::warn!("the app set the proxy's cookie; it was dropped");
        }
    }
}

/// The app switched protocols: the browser gets the app's 101 and the two
/// connections are joined byte for byte once both are upgraded, holding
/// `slot` until both are closed. When the proxy stops, both are cut: the
/// bytes are the app's own protocol, so no close frame can be put in.
fn relay_upgrade(
    ctx: &mut Ctx,
    mut response: Response<Incoming>,
    mut slot: SocketSlot,
) -> Result<Response<Body>, ProxyError> {
    let browser = ctx
        .parts
        .extensions
        .remove::<OnUpgrade>()
        .ok_or_else(|| ProxyError::BadRequest("the connection cannot be upgraded".into()))?;
    let app_side = hyper::upgrade::on(&mut response);
    tokio::spawn(async move {
        match tokio::try_join!(browser, app_side) {
            Ok((browser, app_side)) => {
                let (mut browser, mut app_side) = (TokioIo::new(browser), TokioIo::new(app_side));
                tokio::select! {
                    joined = tokio::io::copy_bidirectional(&mut browser, &mut app_side) => {
                        if let Err(e) = joined {
                            tracing::debug!(error = %e, "an upgraded connection to the app ended");
                        }
                    }
                    () = slot.stopping() => {}
                }
            }
            Err(e) => tracing::warn!(error = %e, "an upgrade to the app failed"),
        }
    });
    let (parts, _) = response.into_parts();
    Ok(Response::from_parts(parts, empty()))
}
