//! The stub tested over real sockets: Auth flows and habits, MFA, the
//! compressing edge, the data services, the test-control endpoints, and
//! conformance with Auth's OpenAPI description.

mod auth_errors;
mod auth_flows;
mod auth_habits;
mod binary;
mod client;
mod compression;
mod conformance;
mod mfa;
mod realtime;
mod redirect_flows;
mod refresh;
mod revocation;
mod services;
mod sso;
