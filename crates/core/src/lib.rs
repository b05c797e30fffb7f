//! I/O-free core of the Supabase cookie auth proxy.
//!
//! Everything here is a pure decision or data model. The runtime
//! (`sb-cookie-proxy`, `crates/server`) moves bytes and calls stores; it
//! decides nothing that can be decided here. No tokio, no sockets, no wall
//! clock: time and randomness are injected through [`env::Clock`] and
//! [`env::RandomSource`]. It builds for `wasm32-unknown-unknown`.
//!
//! # Modules
//!
//! - [`config`]: every setting, read through a [`config::ConfigSource`] and
//!   validated into a [`config::Config`] (or one problem per key).
//! - [`route`]: what a request is: an `/edge/v1` endpoint, an Auth call the
//!   proxy intercepts, or a forward to a Supabase service.
//! - [`guard`]: the CSRF verdict, the client IP behind trusted proxies, the
//!   rate-limit buckets.
//! - [`cors`]: the preflight decision and the CORS headers of an answer.
//! - [`http`]: the session cookie, hop-by-hop headers, the response header
//!   policy, which requests may be replayed, decoding compressed answers.
//! - [`session`]: the cookie's secret and store key, the session model,
//!   sealing tokens at rest, the [`session::SessionStore`] trait, what a
//!   request does after a refresh.
//! - [`token`]: the browser's placeholders, when to refresh, minting, the
//!   claims tokens are made from, API key kinds.
//! - [`auth`]: turning Auth's token responses into sessions, scrubbing its
//!   other answers, which refresh answers end a session, Auth's error shapes.
//! - [`realtime`]: Phoenix frames and the token written into them, channel
//!   tracking, the upgrade decision, the close code of an ended session.
//! - [`edge`]: the JSON of the `/edge/v1` endpoints.
//! - [`hooks`]: the Standard Webhooks signature of `/edge/v1/hooks/auth` calls.
//! - [`redirect`]: where the redirect flows may send the browser (`next`).
//! - [`flow`]: server-side PKCE: the verifier, its sealed cookie, Auth's URLs.
//! - [`env`](mod@env): the [`env::Clock`] and [`env::RandomSource`] traits.
//! - [`error`]: [`ProxyError`] and its one mapping to a status and a body.
//!
//! # What a second runtime must still provide
//!
//! A runtime that reuses this crate unchanged (such as a Cloudflare Worker)
//! must still do what `crates/server` does around it:
//!
//! - **An HTTP server** for browsers, with the head limits and timeouts of
//!   [`config::Limits`] and a connection limit, running the request through
//!   route, guards, session, handler and response in that order, and
//!   answering CORS preflights first.
//! - **An HTTP client to Supabase** over TLS (the public roots and the
//!   configured private CA), with a bound on the answer's start; Auth's
//!   answers read whole within their limit and decoded with
//!   [`http::decode_body`], the others streamed both ways with idle limits.
//! - **The configuration's source**: a [`config::ConfigSource`] over the
//!   runtime's environment (the server adds a TOML file).
//! - **A session store** implementing [`session::SessionStore`], including
//!   the refresh lock (`lock_refresh`, `renew_refresh`, `unlock_refresh`)
//!   when several processes share it, with tokens sealed by
//!   [`session::TokenSeal`] when a store key is set; and, in front of it,
//!   a cache that never holds what the store refused or a session deleted
//!   meanwhile (and forgets entries other instances changed).
//! - **[`env::Clock`] and [`env::RandomSource`]**: the wall clock in Unix
//!   seconds and a CSPRNG (the session secret is 256 random bits).
//! - **Single-flight refresh**: one refresh of a session at a time in the
//!   process and, through the store's lock, across processes; the answer
//!   read by [`auth::read_refresh_answer`] and the request's course decided
//!   by [`token::after_refresh`]. In mint mode, signing with
//!   [`token::MintKey`] instead, and background checks with Auth
//!   (`GET /auth/v1/user`, at most once per `PROXY_MINT_CHECK`) whose
//!   session-ending answers ([`auth::session_gone`]) end the session.
//! - **Ending sessions**: deleting them from the store and the cache, and
//!   telling this instance's Realtime sockets of that session to close
//!   ([`realtime::SESSION_ENDED_CLOSE_CODE`]).
//! - **The Realtime relay**: the WebSocket upgrade on both sides, frames
//!   relayed both ways with the token written in by [`realtime`], and a
//!   keeper that refreshes the socket's token and pushes it on every joined
//!   topic.
//! - **Timers and background work**: the minute's sweep of expired
//!   sessions, last-use writes off the request path, the rate limiter's
//!   buckets ([`guard::bucket_key`]), the refresh lock's lease renewal, the
//!   timeouts of requests, bodies, refreshes and sockets.
//! - **Logging**, and a graceful shutdown that lets background work finish.

pub mod auth;
pub mod config;
pub mod cors;
pub mod edge;
pub mod env;
pub mod error;
pub mod flow;
pub mod front_door;
pub mod guard;
pub mod hooks;
pub mod http;
pub mod identity;
pub mod realtime;
pub mod redirect;
pub mod route;
pub mod session;
pub mod token;

pub use error::ProxyError;
