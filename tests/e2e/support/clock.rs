//! Waiting on the wall clock. The proxy and the stand-in judge tokens by
//! it (they run for real, so tokio's paused time cannot stand in for it):
//! a test that needs a token inside its refresh margin, or expired, waits
//! for that token's own times instead of a fixed span from sign-in, so that
//! a slow sign-in or request on a loaded machine cannot move it out of the
//! window it tests.

use sbp_stub::Stub;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Waits until the wall clock reads `unix` seconds (at once when past).
pub async fn wall_clock_at(unix: f64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs_f64();
    tokio::time::sleep(Duration::from_secs_f64((unix - now).max(0.0))).await;
}

/// Waits until a token of `lifetime` seconds expiring at `exp` is inside
/// the proxy's refresh margin (a quarter of its lifetime, under the default
/// margin) and still valid: half a second into the margin.
pub async fn inside_refresh_margin(exp: i64, lifetime: u64) {
    let margin = lifetime as f64 / 4.0;
    wall_clock_at(exp as f64 - margin + 0.5).await;
}

/// Waits until a token expiring at `exp` has expired (half a second past).
pub async fn expired(exp: i64) {
    wall_clock_at(exp as f64 + 0.5).await;
}

/// The `exp` of the last access token `stub` issued: the session's, in a
/// test where one user signed in.
pub fn last_access_token_exp(stub: &Stub) -> i64 {
    let tokens = stub.issued_tokens();
    let jwt = tokens
        .iter()
        .rev()
        .find(|t| t.split('.').count() == 3)
        .expect("the stub issued an access token");
    super::jwt_claims(jwt)["exp"]
        .as_i64()
        .expect("an access token with exp")
}
