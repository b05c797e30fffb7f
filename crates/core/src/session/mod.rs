//! Sessions: the secret in the cookie, what is stored for it, and the store trait.

mod model;
mod secret;
mod store;

pub use model::{NewSession, Session, UpstreamTokens};
pub use secret::{SessionKey, SessionSecret};
pub use store::{SessionStore, StoreError};

#[cfg(test)]
pub(crate) use model::tests_support;
