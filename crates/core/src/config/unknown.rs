//! Settings the proxy does not know: an environment variable with one of
//! its prefixes (`PROXY_`, `SUPABASE_`) or a TOML key that is not in
//! [`KEYS`], named with the closest known name so that a misspelling
//! (`PROXY_SESION_STORE`) is not silently ignored.

use super::KEYS;

/// Environment variables with the proxy's prefixes that other tools read:
/// the Supabase CLI's and Edge Functions' own. They are not reported.
const FOREIGN: &[&str] = &[
    "SUPABASE_ACCESS_TOKEN",
    "SUPABASE_DB_PASSWORD",
    "SUPABASE_DB_URL",
    "SUPABASE_PROJECT_ID",
    "SUPABASE_PROJECT_REF",
    "SUPABASE_WORKDIR",
    "SUPABASE_INTERNAL_IMAGE_REGISTRY",
];

/// Prefixes of the Supabase CLI's `config.toml` overrides
/// (`SUPABASE_AUTH_SITE_URL` for `[auth] site_url`): not reported either.
const FOREIGN_PREFIXES: &[&str] = &[
    "SUPABASE_AUTH_",
    "SUPABASE_API_",
    "SUPABASE_DB_",
    "SUPABASE_STUDIO_",
    "SUPABASE_STORAGE_",
    "SUPABASE_REALTIME_",
    "SUPABASE_EDGE_RUNTIME_",
    "SUPABASE_ANALYTICS_",
    "SUPABASE_INBUCKET_",
];

/// A setting's name farther than this many edits from every known one gets
/// no suggestion.
const MAX_DISTANCE: usize = 3;

/// A setting the proxy does not read, and the known name it is closest to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSetting {
    pub name: String,
    pub closest: Option<&'static str>,
}

impl std::fmt::Display for UnknownSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: unknown setting", self.name)?;
        match self.closest {
            Some(known) => write!(f, "; did you mean {known}?"),
            None => Ok(()),
        }
    }
}

/// The environment variables among `names` that look like the proxy's
/// (prefix `PROXY_` or `SUPABASE_`) but that it does not read, leaving out
/// other tools' well-known ones; sorted by name.
pub fn unknown_env<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<UnknownSetting> {
    let mut unknown: Vec<UnknownSetting> = names
        .into_iter()
        .filter(|name| name.starts_with("PROXY_") || name.starts_with("SUPABASE_"))
        .filter(|name| !KEYS.contains(name) && !is_foreign(name))
        .map(unknown_setting)
        .collect();
    unknown.sort_by(|a, b| a.name.cmp(&b.name));
    unknown
}

/// `name` (a TOML key, any case) if the proxy does not read it.
pub fn unknown_key(name: &str) -> Option<UnknownSetting> {
    let upper = name.to_ascii_uppercase();
    if KEYS.contains(&upper.as_str()) {
        return None;
    }
    Some(UnknownSetting {
        name: name.to_string(),
        closest: closest_key(&upper),
    })
}

fn unknown_setting(name: &str) -> UnknownSetting {
    UnknownSetting {
        name: name.to_string(),
        closest: closest_key(name),
    }
}

fn is_foreign(name: &str) -> bool {
    FOREIGN.contains(&name) || FOREIGN_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The known name fewest edits from `name` (upper case), if any is close.
pub fn closest_key(name: &str) -> Option<&'static str> {
    KEYS.iter()
        .map(|known| (edit_distance(name, known), *known))
        .filter(|(distance, _)| *distance <= MAX_DISTANCE)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, known)| known)
}

/// Levenshtein distance (insertions, deletions, substitutions) between two
/// strings, by character.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    // The previous row of the table: distances from a's prefix to each of
    // b's prefixes.
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("SESION", "SESSION"), 1);
        assert_eq!(edit_distance("flaw", "lawn"), 2);
    }

    #[test]
    fn a_misspelt_variable_gets_the_closest_known_name() {
        let unknown = unknown_env(["PROXY_SESION_STORE", "PROXY_LISTEN", "HOME"]);
        assert_eq!(unknown.len(), 1);
        assert_eq!(unknown[0].name, "PROXY_SESION_STORE");
        assert_eq!(unknown[0].closest, Some("PROXY_SESSION_STORE"));
        assert_eq!(
            unknown[0].to_string(),
            "PROXY_SESION_STORE: unknown setting; did you mean PROXY_SESSION_STORE?"
        );
        assert_eq!(
            unknown_env(["SUPABASE_ANON_KY"])[0].closest,
            Some("SUPABASE_ANON_KEY")
        );
    }

    #[test]
    fn a_name_far_from_every_known_one_gets_no_suggestion() {
        let unknown = unknown_env(["PROXY_SOMETHING_ELSE_ENTIRELY"]);
        assert_eq!(unknown[0].closest, None);
        assert_eq!(
            unknown[0].to_string(),
            "PROXY_SOMETHING_ELSE_ENTIRELY: unknown setting"
        );
    }

    #[test]
    fn other_tools_variables_are_not_reported() {
        let names = [
            "SUPABASE_ACCESS_TOKEN",
            "SUPABASE_DB_PASSWORD",
            "SUPABASE_AUTH_SITE_URL",
            "NEXT_PUBLIC_SUPABASE_URL",
            "RUST_LOG",
        ];
        assert_eq!(unknown_env(names), vec![]);
    }

    #[test]
    fn toml_keys_are_matched_in_any_case() {
        assert_eq!(unknown_key("proxy_listen"), None);
        let unknown = unknown_key("proxy_sesion_store").unwrap();
        assert_eq!(unknown.name, "proxy_sesion_store");
        assert_eq!(unknown.closest, Some("PROXY_SESSION_STORE"));
    }
}
