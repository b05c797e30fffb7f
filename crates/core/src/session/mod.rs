//! Sessions: the secret in the cookie, what is stored for it, and the store trait.

mod end;
mod model;
mod seal;
mod secret;
mod store;
mod user;

pub use end::EndReason;
pub use model::{NewSession, Session, UpstreamTokens};
pub use seal::{SealError, StoreKeys, TokenSeal, is_sealed};
pub use secret::{SessionKey, SessionSecret};
pub use store::{SessionStore, StoreError};
pub use user::UserObject;

#[cfg(test)]
pub(crate) use model::tests_support;
