//! Wall-clock helpers: Unix seconds for JWT claims, RFC 3339 for Auth's timestamps.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    u64::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0)
}

/// The current time as Auth prints it, e.g. `2024-05-01T12:00:00.123456Z`.
pub(crate) fn rfc3339_now() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

/// Formats a timestamp as RFC 3339 (empty only for years outside 0..=9999).
pub(crate) fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}
