//! Token policy: reading Auth's tokens, minting upstream tokens, the
//! browser's placeholders, and when to refresh (or re-mint).

mod api_key;
mod claims;
mod freshness;
mod mint;
mod placeholder;
mod policy;

pub use api_key::ApiKeyKind;
pub use claims::{AccessClaims, read_claims, session_claims};
pub use freshness::{AfterRefresh, Refreshed, after_refresh};
pub use mint::{MintKey, claims_for_user, user_changes_claims};
pub use placeholder::{PLACEHOLDER_TTL, PlaceholderKey, placeholder_refresh_token};
pub use policy::{effective_margin, needs_new_tokens, needs_refresh, usable};
