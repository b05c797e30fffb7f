//! `sb-cookie-proxy check`: the configuration loaded exactly as start-up
//! loads it (unknown `PROXY_*`/`SUPABASE_*` variables named as warnings),
//! then the project and the session store probed: Auth's `/health` and
//! `/settings`, PostgREST, a Realtime socket, the store and, in mint mode,
//! a minted token shown to Auth. One [`Line`] per probe says what passed,
//! or what is wrong and how to fix it.
//!
//! The probes run at once, each within [`PROBE_TIMEOUT`] and on a
//! connection of its own (through the proxy's [`Connector`]), so a check
//! never hangs and takes as long as its slowest probe.

mod answer;
mod auth;
mod get;
mod line;
mod mint;
mod reach;
mod realtime;
mod rest;
mod store;

pub use line::{Line, Status};

use crate::connect::{Connector, Origin};
use http::HeaderValue;
use sbp_core::config::{Config, StoreSpec, TokenMode};
use std::path::Path;
use std::time::Duration;

/// The longest any one probe may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a check found.
pub struct Report {
    pub lines: Vec<Line>,
    /// The configuration could not be loaded, so nothing was probed.
    pub bad_config: bool,
}

impl Report {
    /// 0 when every probe passed, 1 when one failed, 2 when the
    /// configuration cannot be loaded (as `serve` exits then).
    pub fn exit_code(&self) -> u8 {
        if self.bad_config {
            2
        } else if self.lines.iter().any(|l| l.status == Status::Fail) {
            1
        } else {
            0
        }
    }
}

/// The project as the probes reach it.
struct Project<'a> {
    config: &'a Config,
    origin: Origin,
    /// `apikey: <SUPABASE_ANON_KEY>`.
    apikey: HeaderValue,
}

/// Loads the configuration from the environment and `file`, then probes.
pub async fn run(file: Option<&Path>) -> Report {
    let mut lines: Vec<Line> = crate::config::unknown_environment()
        .iter()
        .map(|unknown| Line::warn("config", format!("{unknown} (ignored)")))
        .collect();
    let config = match crate::config::load(file) {
        Ok(config) => config,
        Err(e) => return bad_config(lines, &e.to_string()),
    };
    let project = match project(&config) {
        Ok(project) => project,
        Err(problem) => return bad_config(lines, &problem),
    };
    lines.push(Line::ok("config", summary(&config)));
    let (health, settings, rest, realtime, store, mint) = tokio::join!(
        auth::health(&project),
        auth::settings(&project),
        rest::probe(&project),
        realtime::probe(&project),
        store::probe(&config),
        mint::probe(&project),
    );
    lines.extend([health, settings, rest, realtime, store]);
    lines.extend(mint);
    Report {
        lines,
        bad_config: false,
    }
}

/// What start-up would refuse besides the settings themselves: the CA
/// file of `PROXY_UPSTREAM_CA`, a key that cannot go in a header.
fn project(config: &Config) -> Result<Project<'_>, String> {
    let tls =
        crate::tls::client_config(config.upstream_ca.as_deref()).map_err(|e| e.to_string())?;
    let origin =
        Origin::of(&config.supabase_url, Connector::from(tls)).map_err(|e| e.to_string())?;
    let apikey = HeaderValue::from_str(&config.anon_key)
        .map_err(|_| "SUPABASE_ANON_KEY: is not a valid header value".to_string())?;
    Ok(Project {
        config,
        origin,
        apikey,
    })
}

fn bad_config(mut lines: Vec<Line>, problems: &str) -> Report {
    lines.extend(
        problems
            .lines()
            .map(|problem| Line::fail("config", problem.to_string())),
    );
    Report {
        lines,
        bad_config: true,
    }
}

/// The loaded configuration in a few words: where, which mode, which store.
fn summary(config: &Config) -> String {
    let mode = match config.token_mode {
        TokenMode::Refresh => "refresh",
        TokenMode::Mint(_) => "mint",
    };
    let store = match config.session_store {
        StoreSpec::Memory => "memory",
        StoreSpec::File(_) => "file",
        StoreSpec::Redis(_) => "redis",
    };
    format!(
        "{}, {mode} mode, {store} store",
        config.supabase_url.join("")
    )
}
