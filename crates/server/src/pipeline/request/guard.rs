//! The guard stage: what the proxy refuses before doing any work for a
//! request: over-long URLs, cross-site requests carrying the cookie or
//! signing in, and too many secret-taking Auth calls from one client.

use crate::pipeline::context::Ctx;
use http::header::{COOKIE, ORIGIN, REFERER};
use sbp_core::ProxyError;
use sbp_core::guard::{CsrfVerdict, check_csrf, csrf_applies, is_unsafe};
use sbp_core::http::has_cookie;
use sbp_core::route::{Route, takes_secrets};

/// Whether the request carries the proxy's cookie at all (valid or not).
fn carries_cookie(ctx: &Ctx) -> bool {
    let headers = ctx.parts.headers.get_all(COOKIE);
    has_cookie(
        headers.iter().filter_map(|v| v.to_str().ok()),
        &ctx.app.config.cookie_name,
    )
}

/// Refuses a cross-site request that carries the cookie or signs in. The
/// `Origin` and `Referer` headers are looked up only for the requests the
/// check applies to (no safe method's).
fn check_origin(ctx: &Ctx, route: &Route) -> Result<(), ProxyError> {
    let config = &ctx.app.config;
    let method = &ctx.parts.method;
    // The app's requests are the app's to judge (it never receives the
    // cookie; the front door withholds the identity instead).
    let carries = is_unsafe(method) && !matches!(route, Route::App) && carries_cookie(ctx);
    let signs_in = matches!(route, Route::SignIn | Route::MfaVerify);
    if !csrf_applies(method, carries, signs_in) {
        return Ok(());
    }
    let verdict = check_csrf(
        method,
        carries,
        signs_in,
        ctx.header(ORIGIN),
        ctx.header(REFERER),
        |origin| config.origin_allowed(origin),
    );
    if let CsrfVerdict::Refused(why) = verdict {
        tracing::info!(path = %ctx.path(), %why, "cross-site request refused");
        ctx.app.metrics.csrf_refused();
        return Err(ProxyError::CrossSiteRefused(why));
    }
    Ok(())
}

pub fn check(ctx: &Ctx, route: &Route) -> Result<(), ProxyError> {
    let config = &ctx.app.config;
    let target_len = ctx
        .parts
        .uri
        .path_and_query()
        .map_or(0, |pq| pq.as_str().len());
    if target_len > config.limits.max_url_bytes {
        return Err(ProxyError::UriTooLong);
    }
    check_origin(ctx, route)?;
    if let Some(limiter) = &ctx.app.rate_limiter
        && takes_secrets(ctx.path(), ctx.parts.uri.query())
    {
        limiter.check(ctx.client_ip()).map_err(|refused| {
            ctx.app.metrics.rate_limited();
            ProxyError::RateLimited(refused)
        })?;
    }
    Ok(())
}
