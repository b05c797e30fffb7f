//! The proxy server: listener, pipeline, upstream client and session stores.
pub mod store;
