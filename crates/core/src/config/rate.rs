//! Reading a rate limit setting (`PROXY_AUTH_RATE_LIMIT`): `N/PERIOD`.

use super::duration::parse_duration;
use crate::guard::RateLimit;

/// Parses `N/PERIOD`, e.g. `30/1m`.
pub fn parse_rate_limit(text: &str) -> Result<RateLimit, String> {
    let (count, period) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}` is not a rate; write e.g. 30/1m"))?;
    let burst: u32 = count
        .trim()
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{count}` is not a positive count"))?;
    let period = parse_duration(period)?;
    if period == 0 {
        return Err("the period must be longer than 0s".into());
    }
    Ok(RateLimit { burst, period })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        assert_eq!(
            parse_rate_limit("30/1m"),
            Ok(RateLimit {
                burst: 30,
                period: 60
            })
        );
        for bad in ["30", "0/1m", "x/1m", "5/0s", "5/soon"] {
            assert!(parse_rate_limit(bad).is_err(), "{bad}");
        }
    }
}
