//! Why a session ended: each way out of a session has a name, for the
//! metrics (`sbp_sessions_ended_total{reason}`) and the logs.

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// The user signed out (`POST /auth/v1/logout`, any scope).
    SignOut,
    /// A sign-in of another user in the same browser replaced it.
    Replaced,
    /// The user ended it from another session (`DELETE /edge/v1/sessions/{id}`),
    /// or a second factor ended the user's other, weaker sessions.
    Revoked,
    /// An operator ended it (`sb-cookie-proxy sessions revoke`).
    Admin,
    /// Auth refused its refresh token, or said its session is gone.
    AuthEnded,
    /// The Auth hook (or a database trigger through it) ended it.
    Hook,
    /// Its idle or absolute lifetime passed.
    Expired,
}

impl EndReason {
    /// Every reason, in the order of [`EndReason::index`].
    pub const ALL: [EndReason; 7] = [
        EndReason::SignOut,
        EndReason::Replaced,
        EndReason::Revoked,
        EndReason::Admin,
        EndReason::AuthEnded,
        EndReason::Hook,
        EndReason::Expired,
    ];

    /// Its position in [`EndReason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            EndReason::SignOut => "sign_out",
            EndReason::Replaced => "replaced",
            EndReason::Revoked => "revoked",
            EndReason::Admin => "admin",
            EndReason::AuthEnded => "auth_ended",
            EndReason::Hook => "hook",
            EndReason::Expired => "expired",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_sits_at_its_index_with_its_own_label() {
        let mut labels = Vec::new();
        for (i, reason) in EndReason::ALL.into_iter().enumerate() {
            assert_eq!(reason.index(), i, "{reason:?}");
            labels.push(reason.label());
        }
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), EndReason::ALL.len(), "labels are distinct");
    }
}
