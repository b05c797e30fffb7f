//! Token policy: reading Auth's tokens, the browser's placeholders, and when to refresh.

mod claims;
mod placeholder;
mod policy;

pub use claims::{AccessClaims, read_claims};
pub use placeholder::{PLACEHOLDER_TTL, PlaceholderKey, placeholder_refresh_token};
pub use policy::{effective_margin, needs_refresh, usable};
