//! The proxy server: listener, request pipeline, upstream client and session
//! stores around the I/O-free `sbp-core`.
//!
//! [`start`] runs a proxy for a [`Config`](sbp_core::config::Config); the
//! binary (`main.rs`) only reads the configuration and calls it.

mod access_log;
pub mod admin;
mod app;
mod body;
pub mod check;
mod coarse_timer;
pub mod config;
mod connect;
#[cfg(feature = "demo")]
pub mod demo;
mod error;
mod front_door;
mod metrics;
mod pipeline;
mod pool;
mod rate_limiter;
mod realtime;
mod runtime;
mod server;
mod session;
mod sessions_table;
pub mod store;
mod sync;
#[cfg(test)]
mod test_support;
mod tls;
mod upstream;
mod when_woken;

pub use app::App;
pub use error::Error;
pub use server::{RunningProxy, start, start_with_store};
