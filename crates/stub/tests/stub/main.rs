//! The stub tested over real sockets: Auth flows, the data services, the
//! test-control endpoints, and conformance with Auth's OpenAPI description.

mod auth_errors;
mod auth_flows;
mod binary;
mod client;
mod conformance;
mod realtime;
mod refresh;
mod revocation;
mod services;
