//! Reading the configuration: an optional TOML file, then the environment on top.
//!
//! The file's keys are the environment variable names (`SUPABASE_URL = "..."`),
//! in upper or lower case. An environment variable overrides the file.

use sbp_core::config::{Config, ConfigSource, UnknownSetting, unknown_env, unknown_key};
use std::collections::HashMap;
use std::path::Path;

/// Settings in layers: fixed ones (the demo's upstream), then the
/// environment, then a TOML file.
struct Layered<'a> {
    fixed: HashMap<String, String>,
    file: &'a HashMap<String, String>,
}

impl ConfigSource for Layered<'_> {
    fn get(&self, key: &str) -> Option<String> {
        let value = self.fixed.get(key).cloned().or_else(|| {
            std::env::var(key)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .or_else(|| self.file.get(key).cloned())
        })?;
        if key == "PROXY_JWT_PRIVATE_KEY" || key == "PROXY_IDENTITY_KEY" {
            return Some(key_text(value));
        }
        Some(value)
    }
}

/// A private key given inline (a JWK or PEM) or as the path of a file
/// holding one; an unreadable path is passed on and refused as a key.
fn key_text(value: String) -> String {
    let inline =
        value.trim_start().starts_with('{') || value.trim_start().starts_with("-----BEGIN");
    if inline {
        return value;
    }
    std::fs::read_to_string(value.trim()).unwrap_or(value)
}

/// Parses a TOML config file into settings, refusing unknown keys.
pub fn parse_toml(text: &str) -> Result<HashMap<String, String>, String> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| e.message().to_string())?;
    let mut out = HashMap::new();
    let mut problems = Vec::new();
    for (name, value) in table {
        if let Some(unknown) = unknown_key(&name) {
            problems.push(unknown.to_string());
            continue;
        }
        let key = name.to_ascii_uppercase();
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Array(items) => {
                let strings: Option<Vec<String>> = items
                    .into_iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect();
                match strings {
                    Some(strings) => strings.join(","),
                    None => {
                        problems.push(format!("{name}: a list must hold strings"));
                        continue;
                    }
                }
            }
            other => {
                problems.push(format!(
                    "{name}: expected a string, found {}",
                    other.type_str()
                ));
                continue;
            }
        };
        out.insert(key, text);
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems.join("\n"))
    }
}

/// The process's environment variables that look like the proxy's but
/// that it does not read (a misspelling is otherwise silently ignored).
pub fn unknown_environment() -> Vec<UnknownSetting> {
    let names: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .collect();
    unknown_env(names.iter().map(String::as_str))
}

/// Loads the configuration from the environment and, if given, a TOML file.
pub fn load(file: Option<&Path>) -> Result<Config, crate::Error> {
    Settings::read(file)?.load(HashMap::new())
}

/// The settings as the configuration reads them: the environment over a
/// TOML file, the file read once.
pub struct Settings {
    file: HashMap<String, String>,
}

impl Settings {
    pub fn read(file: Option<&Path>) -> Result<Settings, crate::Error> {
        Ok(Settings {
            file: read_file(file)?,
        })
    }

    /// One setting, if given.
    pub fn get(&self, key: &str) -> Option<String> {
        Layered {
            fixed: HashMap::new(),
            file: &self.file,
        }
        .get(key)
    }

    /// The configuration, with `fixed` settings that neither the
    /// environment nor the file can change.
    pub fn load(&self, fixed: HashMap<String, String>) -> Result<Config, crate::Error> {
        Ok(Config::load(&Layered {
            fixed,
            file: &self.file,
        })?)
    }
}

fn read_file(file: Option<&Path>) -> Result<HashMap<String, String>, crate::Error> {
    let Some(path) = file else {
        return Ok(HashMap::new());
    };
    let text = std::fs::read_to_string(path).map_err(|e| crate::Error::ConfigFile {
        path: path.display().to_string(),
        cause: e.to_string(),
    })?;
    parse_toml(&text).map_err(|cause| crate::Error::ConfigFile {
        path: path.display().to_string(),
        cause,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_keys_in_either_case_and_lists() {
        let settings = parse_toml(
            "supabase_url = \"http://127.0.0.1:54321\"\nPROXY_ALLOWED_ORIGINS = [\"https://a.example\", \"https://b.example\"]\n",
        )
        .unwrap();
        assert_eq!(settings["SUPABASE_URL"], "http://127.0.0.1:54321");
        assert_eq!(
            settings["PROXY_ALLOWED_ORIGINS"],
            "https://a.example,https://b.example"
        );
    }

    #[test]
    fn toml_problems_are_named() {
        let err = parse_toml("nope = 1\nPROXY_LISTEN = true\n").unwrap_err();
        assert!(err.contains("nope: unknown setting"), "{err}");
        assert!(err.contains("PROXY_LISTEN: expected a string"), "{err}");
        assert!(parse_toml("= broken").is_err());
        let err = parse_toml("proxy_sesion_store = \"memory:\"\n").unwrap_err();
        assert_eq!(
            err,
            "proxy_sesion_store: unknown setting; did you mean PROXY_SESSION_STORE?"
        );
    }

    #[test]
    fn the_identity_key_may_be_the_path_of_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = r#"{"kty":"EC","crv":"P-256","kid":"from-a-file","d":"CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk"}"#;
        let key_path = dir.path().join("identity.jwk");
        std::fs::write(&key_path, key).unwrap();
        let toml_path = dir.path().join("proxy.toml");
        std::fs::write(
            &toml_path,
            format!(
                "PROXY_IDENTITY_KEY = {:?}\n",
                key_path.display().to_string()
            ),
        )
        .unwrap();
        let settings = Settings::read(Some(&toml_path)).unwrap();
        assert_eq!(settings.get("PROXY_IDENTITY_KEY").as_deref(), Some(key));
    }
}
