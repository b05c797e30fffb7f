//! The server crate's error type (start-up and I/O failures).

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("{0}")]
    Config(#[from] sbp_core::config::ConfigProblems),
    #[error("cannot read config file {path}: {cause}")]
    ConfigFile { path: String, cause: String },
    #[error(transparent)]
    Store(#[from] sbp_core::session::StoreError),
    #[error("cannot listen on {addr}: {cause}")]
    Listen {
        addr: std::net::SocketAddr,
        cause: std::io::Error,
    },
    #[error("cannot set up the client to Supabase: {0}")]
    Upstream(String),
}
