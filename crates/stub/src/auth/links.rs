//! The email links `POST /admin/generate_link` made, by token hash: which
//! user each is for, what kind of token it is, and for an email change the
//! address it changes to. Each is used once.

use std::collections::HashMap;

use uuid::Uuid;

/// Which of a user's tokens a link carries (GoTrue keeps one column each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LinkToken {
    /// `confirmation_token`: signup and invite links.
    Confirmation,
    /// `recovery_token`: magic links and recovery links.
    Recovery,
    /// `email_change_token_current` (`current`) or `_new`: one half of an
    /// email change to `new_email`.
    EmailChange { new_email: String, current: bool },
}

/// One pending email link.
#[derive(Debug, Clone)]
pub(crate) struct EmailLink {
    pub user_id: Uuid,
    pub token: LinkToken,
}

#[derive(Debug, Default)]
pub(crate) struct EmailLinks {
    by_hash: HashMap<String, EmailLink>,
}

impl EmailLinks {
    pub fn insert(&mut self, hash: String, link: EmailLink) {
        self.by_hash.insert(hash, link);
    }

    /// Consumes the link with `hash`.
    pub fn take(&mut self, hash: &str) -> Option<EmailLink> {
        self.by_hash.remove(&hash.to_ascii_lowercase())
    }

    /// Whether a user still has an email-change link pending.
    pub fn has_email_change(&self, user_id: Uuid) -> bool {
        self.by_hash.values().any(|link| {
            link.user_id == user_id && matches!(link.token, LinkToken::EmailChange { .. })
        })
    }

    /// Drops a user's email-change links that `keep` does not keep.
    pub fn drop_email_changes(&mut self, user_id: Uuid, keep: impl Fn(&str, bool) -> bool) {
        self.by_hash.retain(|_, link| match &link.token {
            LinkToken::EmailChange { new_email, current } if link.user_id == user_id => {
                keep(new_email, *current)
            }
            _ => true,
        });
    }

    /// Whether a user has the half (`current` or new) of a change to `new_email` pending.
    pub fn has_half(&self, user_id: Uuid, new_email: &str, current: bool) -> bool {
        self.by_hash.values().any(|link| {
            link.user_id == user_id
                && link.token
                    == LinkToken::EmailChange {
                        new_email: new_email.to_owned(),
                        current,
                    }
        })
    }
}
