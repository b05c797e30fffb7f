//! The end-to-end suite, one test binary: the stand-in Supabase and the
//! proxy (in this process or as the real binary) over real sockets, driven
//! by the shared test kit in [`support`]. Each module is one area of the
//! proxy's behaviour; `cargo test -p sb-cookie-proxy --test e2e <module>::`
//! runs one area.

mod support;

mod admin;
mod admin_listener;
mod attacks;
mod check;
mod cli;
mod cluster;
mod database;
mod endpoints;
mod fail_closed;
mod forwarding;
mod front_door;
mod hooks;
mod logs;
mod mint;
mod packaging;
mod persistence;
mod realtime;
mod redirect_flows;
mod refresh;
mod restart;
mod sign_in;
mod store_conformance;
mod streaming;
mod tls;
