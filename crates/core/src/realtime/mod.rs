//! Realtime: what the proxy understands of the Phoenix protocol that
//! Supabase Realtime speaks over `/realtime/v1/websocket`.
//!
//! Realtime authenticates inside the frames (`payload.access_token` of each
//! channel join and of `access_token` messages), so a proxy that keeps the
//! tokens must write them there: [`Channels`] rewrites the client's frames,
//! tracks the joined topics and builds the proxy's own token pushes;
//! [`handshake`] decides about the upgrade itself. Binary frames and any
//! text the proxy does not understand are relayed byte for byte.

mod channels;
mod frame;
pub mod handshake;
mod object;
#[cfg(test)]
mod tests;

pub use channels::{Channels, ClientFrame, PUSH_REF_PREFIX, ServerFrame};

/// The token an anonymous socket's joins carry: the anon key when it is a
/// JWT. A new-style API key (`sb_publishable_...`) is not a token: Realtime
/// takes it only as the socket's `apikey`, and supabase-js leaves joins
/// without a token when signed out, so the proxy does the same.
pub fn anonymous_token(anon_key: &str) -> Option<&str> {
    (!anon_key.starts_with("sb_")).then_some(anon_key)
}

/// Close code of a socket whose session ended; the reason says how.
pub const SESSION_ENDED_CLOSE_CODE: u16 = 4001;

/// Why the proxy closes a socket because of its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// Revoked, signed out, refused by Auth, or deleted for any other reason.
    Deleted,
    /// Past its absolute or idle lifetime.
    Expired,
}

impl SessionEnd {
    /// The close reason sent with [`SESSION_ENDED_CLOSE_CODE`].
    pub fn reason(self) -> &'static str {
        match self {
            SessionEnd::Deleted => "session ended",
            SessionEnd::Expired => "session expired",
        }
    }
}
