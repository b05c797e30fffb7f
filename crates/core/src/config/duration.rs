//! Durations written as `30s`, `5m`, `12h` or `7d`.

/// Parses `<digits><unit>` with unit `s`, `m`, `h` or `d` into seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` has no unit; write e.g. 30s, 5m, 12h or 7d"))?;
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err(format!(
            "`{text}` is not a duration; write e.g. 30s, 5m, 12h or 7d"
        ));
    }
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "`{text}` has an unknown unit `{unit}`; use s, m, h or d"
            ));
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        // Durations are added to Unix times (i64).
        .filter(|n| i64::try_from(*n).is_ok())
        .ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration("30s"), Ok(30));
        assert_eq!(parse_duration("5m"), Ok(300));
        assert_eq!(parse_duration("12h"), Ok(43_200));
        assert_eq!(parse_duration("7d"), Ok(604_800));
        assert_eq!(parse_duration(" 0s "), Ok(0));
        assert_eq!(parse_duration("9223372036854775807s"), Ok(i64::MAX as u64));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "30",
            "s",
            "5x",
            "-5m",
            "1.5h",
            "99999999999999999999d",
            // Found by fuzzing (fuzz/ config): over i64::MAX seconds, a
            // session TTL made sessions that expired before they started.
            "9223372036854775808s",
            "5 m",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad} accepted");
        }
    }
}
