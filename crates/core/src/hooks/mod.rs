//! Calls to `POST /edge/v1/hooks/auth`: Supabase Database Webhook payloads
//! about `auth.users` and `auth.sessions`, signed with Standard Webhooks.
//!
//! [`HookSecrets`] reads `PROXY_HOOK_SECRET`; [`verify`] checks a call's
//! `webhook-id`, `webhook-timestamp` and `webhook-signature` headers
//! against its body; [`parse`] and [`decide`] say what its payload means.

mod payload;
mod signature;

pub use payload::{Change, Effect, Payload, PayloadError, decide, parse, user_from_row};
pub use signature::{HookSecrets, SignatureError, TIMESTAMP_TOLERANCE, sign, verify};
