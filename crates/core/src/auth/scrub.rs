//! Removing Supabase tokens from Auth answers that are passed to the browser.
//!
//! Token responses are rewritten with placeholders, but Auth can put tokens
//! elsewhere too: a nested `session` object, or a redirect whose URL carries
//! them (the implicit flow, which a server-side proxy cannot support: use
//! PKCE). Every Auth answer the proxy relays goes through these scrubbers.

use serde_json::Value;

/// Field names that hold secrets and never reach the browser.
pub const SECRET_FIELDS: &[&str] = &[
    "access_token",
    "refresh_token",
    "provider_token",
    "provider_refresh_token",
];

/// Removes every secret field, at any depth; returns whether anything was removed.
pub fn scrub_json(value: &mut Value) -> bool {
    match value {
        Value::Object(map) => {
            let before = map.len();
            map.retain(|k, _| !SECRET_FIELDS.contains(&k.as_str()));
            let mut removed = map.len() != before;
            for child in map.values_mut() {
                removed |= scrub_json(child);
            }
            removed
        }
        Value::Array(items) => items.iter_mut().fold(false, |acc, v| scrub_json(v) | acc),
        _ => false,
    }
}

/// Drops secret parameters from a `key=value&...` list; `None` if none were there.
fn scrub_params(params: &str) -> Option<String> {
    let pairs: Vec<&str> = params.split('&').collect();
    let kept: Vec<&str> = pairs
        .iter()
        .copied()
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or("");
            !SECRET_FIELDS.contains(&key)
        })
        .collect();
    (kept.len() != pairs.len()).then(|| kept.join("&"))
}

/// A redirect URL without secret query or fragment parameters; `None` when
/// it carried none.
pub fn scrub_location(location: &str) -> Option<String> {
    let (before_fragment, fragment) = match location.split_once('#') {
        Some((head, fragment)) => (head, Some(fragment)),
        None => (location, None),
    };
    let (path, query) = match before_fragment.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (before_fragment, None),
    };
    let new_query = query.and_then(scrub_params);
    let new_fragment = fragment.and_then(scrub_params);
    if new_query.is_none() && new_fragment.is_none() {
        return None;
    }
    let mut out = path.to_string();
    if let Some(q) = new_query.as_deref().or(query).filter(|q| !q.is_empty()) {
        out.push('?');
        out.push_str(q);
    }
    if let Some(f) = new_fragment
        .as_deref()
        .or(fragment)
        .filter(|f| !f.is_empty())
    {
        out.push('#');
        out.push_str(f);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_tokens_are_removed() {
        let mut v = json!({"user": {"id": "u"}, "session": {"access_token": "a", "refresh_token": "r", "expires_in": 1},
                           "list": [{"provider_token": "p"}]});
        assert!(scrub_json(&mut v));
        assert_eq!(
            v,
            json!({"user": {"id": "u"}, "session": {"expires_in": 1}, "list": [{}]})
        );
        let mut clean = json!({"id": "u", "tokens_used": 3});
        assert!(!scrub_json(&mut clean));
    }

    #[test]
    fn redirect_tokens_are_removed() {
        assert_eq!(
            scrub_location("https://app.example/cb#access_token=a&expires_in=3600&refresh_token=r&type=magiclink").as_deref(),
            Some("https://app.example/cb#expires_in=3600&type=magiclink")
        );
        assert_eq!(
            scrub_location("https://app.example/cb?access_token=a#refresh_token=r").as_deref(),
            Some("https://app.example/cb")
        );
        assert_eq!(scrub_location("https://app.example/cb?code=123"), None);
    }
}
