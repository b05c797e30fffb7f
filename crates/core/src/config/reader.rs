//! Where settings come from and how each is read: the source, the problems
//! found, and the reader that collects them so that every bad setting is
//! reported at once.

use std::collections::HashMap;
use std::fmt;

/// Where settings come from. Empty values count as unset.
pub trait ConfigSource {
    fn get(&self, key: &str) -> Option<String>;
}

impl ConfigSource for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key).cloned()
    }
}

/// One bad setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub key: &'static str,
    pub message: String,
}

/// Every bad setting; displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblems(pub Vec<ConfigProblem>);

impl fmt::Display for ConfigProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self
            .0
            .iter()
            .map(|p| format!("{}: {}", p.key, p.message))
            .collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for ConfigProblems {}

pub(super) struct Reader<'a> {
    source: &'a dyn ConfigSource,
    problems: Vec<ConfigProblem>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(source: &'a dyn ConfigSource) -> Reader<'a> {
        Reader {
            source,
            problems: Vec::new(),
        }
    }

    /// Whether every setting read so far was good.
    pub(super) fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    pub(super) fn into_problems(self) -> ConfigProblems {
        ConfigProblems(self.problems)
    }

    pub(super) fn raw(&self, key: &'static str) -> Option<String> {
        self.source
            .get(key)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    pub(super) fn problem(&mut self, key: &'static str, message: impl Into<String>) {
        self.problems.push(ConfigProblem {
            key,
            message: message.into(),
        });
    }

    /// A setting parsed by `parse`, or `default` when unset; `None` on error.
    pub(super) fn parsed<T>(
        &mut self,
        key: &'static str,
        default: Option<&str>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let Some(text) = self.raw(key).or(default.map(str::to_string)) else {
            self.problem(key, "is required");
            return None;
        };
        parse(&text).map_err(|e| self.problem(key, e)).ok()
    }
}
