//! `PROXY_LOG_FORMAT`: how the log lines on stderr are written.

/// The shape of the log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event (the default).
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Reads `PROXY_LOG_FORMAT` (`text` or `json`; unset is `text`).
pub fn parse_log_format(value: Option<&str>) -> Result<LogFormat, String> {
    match value.map(str::trim) {
        None | Some("") | Some("text") => Ok(LogFormat::Text),
        Some("json") => Ok(LogFormat::Json),
        Some(other) => Err(format!(
            "PROXY_LOG_FORMAT: `{other}` is not a log format (text or json)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_by_default_json_on_request_anything_else_refused() {
        assert_eq!(parse_log_format(None), Ok(LogFormat::Text));
        assert_eq!(parse_log_format(Some("text")), Ok(LogFormat::Text));
        assert_eq!(parse_log_format(Some("json")), Ok(LogFormat::Json));
        let err = parse_log_format(Some("yaml")).unwrap_err();
        assert!(err.starts_with("PROXY_LOG_FORMAT: `yaml`"), "{err}");
    }
}
