//! When an upstream token must be refreshed, and whether it can still be used.

use crate::env::UnixSeconds;
use crate::session::UpstreamTokens;

/// The configured margin, but never more than a quarter of the token's lifetime.
pub fn effective_margin(tokens: &UpstreamTokens, margin: u64) -> i64 {
    let lifetime = (tokens.expires_at - tokens.issued_at).max(0);
    (margin as i64).min(lifetime / 4)
}

/// Whether the token is within its refresh margin (or past expiry).
pub fn needs_refresh(tokens: &UpstreamTokens, now: UnixSeconds, margin: u64) -> bool {
    now >= tokens.expires_at - effective_margin(tokens, margin)
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
    fn refresh_window() {
        let t = tokens(0, 3600);
        assert!(!needs_refresh(&t, 3539, 60));
        assert!(needs_refresh(&t, 3540, 60));
        assert!(usable(&t, 3599));
        assert!(!usable(&t, 3600));
    }
}
