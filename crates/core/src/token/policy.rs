//! When an upstream token must be refreshed, and whether it can still be used.

use crate::env::UnixSeconds;
use crate::session::{Session, UpstreamTokens};

/// The configured margin, but never more than a quarter of the token's lifetime.
pub fn effective_margin(tokens: &UpstreamTokens, margin: u64) -> i64 {
    let lifetime = tokens.expires_at.saturating_sub(tokens.issued_at).max(0);
    i64::try_from(margin).unwrap_or(i64::MAX).min(lifetime / 4)
}

/// Whether the token is within its refresh margin (or past expiry).
pub fn needs_refresh(tokens: &UpstreamTokens, now: UnixSeconds, margin: u64) -> bool {
    now >= tokens
        .expires_at
        .saturating_sub(effective_margin(tokens, margin))
}

/// Whether the session needs new tokens before its next use: its token is
/// within the refresh margin, or the user changed since it was issued
/// (`Session::tokens_outdated`).
pub fn needs_new_tokens(session: &Session, now: UnixSeconds, margin: u64) -> bool {
    session.tokens_outdated.is_some() || needs_refresh(&session.tokens, now, margin)
}

/// Whether the token is still valid and may be sent while a refresh fails.
pub fn usable(tokens: &UpstreamTokens, now: UnixSeconds) -> bool {
    now < tokens.expires_at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(issued_at: i64, expires_at: i64) -> UpstreamTokens {
        UpstreamTokens {
            access_token: String::new(),
            refresh_token: String::new(),
            issued_at,
            expires_at,
        }
    }

    #[test]
    fn margin_is_capped_at_a_quarter_of_the_lifetime() {
        assert_eq!(effective_margin(&tokens(0, 3600), 60), 60);
        assert_eq!(effective_margin(&tokens(0, 20), 60), 5);
        assert_eq!(effective_margin(&tokens(10, 0), 60), 0);
    }

    #[test]
    fn extreme_times_and_margins_do_not_overflow() {
        // Found by fuzzing (fuzz/ token_claims): Auth's `iat` and `exp` are
        // read as any i64, and a margin as any u64.
        let t = tokens(i64::MIN, i64::MAX);
        assert_eq!(effective_margin(&t, u64::MAX), i64::MAX / 4);
        assert!(!needs_refresh(&t, 0, u64::MAX));
        assert_eq!(effective_margin(&tokens(0, 3600), u64::MAX), 900);
        assert!(needs_refresh(&tokens(i64::MIN, i64::MIN), 0, 60));
    }

    #[test]
    fn refresh_window() {
        let t = tokens(0, 3600);
        assert!(!needs_refresh(&t, 3539, 60));
        assert!(needs_refresh(&t, 3540, 60));
        assert!(usable(&t, 3599));
        assert!(!usable(&t, 3600));
    }

    #[test]
    fn outdated_tokens_need_replacing_however_fresh() {
        let mut session = crate::session::tests_support::sample(0);
        assert!(!needs_new_tokens(&session, 10, 60));
        session.tokens_outdated = Some("hook-1".into());
        assert!(needs_new_tokens(&session, 10, 60));
        session.tokens_outdated = None;
        assert!(needs_new_tokens(&session, 3540, 60));
    }
}
