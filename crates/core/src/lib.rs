//! I/O-free core of the Supabase cookie auth proxy.
//!
//! Everything here is a pure decision or data model: configuration, route
//! classification, the session cookie, the session model and its store trait,
//! the token policy (placeholders for the browser, when to refresh), Auth
//! response interception and the proxy's own error mapping. The runtime
//! (`sb-cookie-proxy`) moves bytes and calls stores; it decides nothing that
//! can be decided here. No tokio, no sockets, no wall clock: time and
//! randomness are injected through [`env::Clock`] and [`env::RandomSource`].

pub mod auth;
pub mod config;
pub mod cors;
pub mod edge;
pub mod env;
pub mod error;
pub mod guard;
pub mod http;
pub mod realtime;
pub mod route;
pub mod session;
pub mod token;

pub use error::ProxyError;
