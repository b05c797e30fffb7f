//! A JSON object read as its entries, in order, with every value left as
//! its raw text, so that one entry can be replaced and the object written
//! back with everything else as the client sent it.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// A JSON string, borrowed from the input when it has no escapes.
#[derive(serde::Deserialize)]
pub(super) struct Text<'a>(#[serde(borrow)] pub Cow<'a, str>);

/// The entries of a JSON object, in document order; values are raw JSON text.
pub(super) struct Entries<'a>(pub Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> Entries<'a> {
    /// Reads `json` as an object; `None` when it is not one.
    pub fn parse(json: &'a str) -> Option<Self> {
        serde_json::from_str(json).ok()
    }

    /// The raw value of `key`; `None` when it is missing or appears twice
    /// (a duplicate makes the object ambiguous: parsers disagree on which wins).
    pub fn unique(&self, key: &str) -> Option<&'a RawValue> {
        let mut found = self.0.iter().filter(|(k, _)| k == key);
        let (_, value) = found.next()?;
        found.next().is_none().then_some(*value)
    }

    /// The object with `key` set to `value` (raw JSON): the first entry of
    /// that name is replaced in place and any later ones dropped; a missing
    /// key is appended.
    pub fn with(&self, key: &str, value: &str) -> String {
        self.edited(&[(key, Some(value))])
    }

    /// Whether the object has an entry named `key`.
    pub fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// The object with each change applied: `(key, Some(value))` sets `key`
    /// as [`Entries::with`] does, `(key, None)` removes every entry of that
    /// name. Every other entry keeps its place and text.
    pub fn edited(&self, changes: &[(&str, Option<&str>)]) -> String {
        let change = |key: &str| changes.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        let mut out = String::with_capacity(
            self.0
                .iter()
                .map(|(k, v)| k.len() + v.get().len() + 4)
                .chain(
                    changes
                        .iter()
                        .map(|(k, v)| k.len() + v.map_or(0, str::len) + 4),
                )
                .sum::<usize>()
                + 2,
        );
        out.push('{');
        let mut placed: Vec<&str> = Vec::with_capacity(changes.len());
        for (k, v) in &self.0 {
            let raw = match change(k) {
                None => v.get(),
                Some(None) => continue,
                Some(Some(value)) => {
                    if placed.contains(&k.as_ref()) {
                        continue;
                    }
                    placed.push(k);
                    value
                }
            };
            push_entry(&mut out, k, raw);
        }
        for (key, value) in changes {
            if let Some(value) = value
                && !placed.contains(key)
            {
                push_entry(&mut out, key, value);
            }
        }
        out.push('}');
        out
    }
}

fn push_entry(out: &mut String, key: &str, raw: &str) {
    if out.len() > 1 {
        out.push(',');
    }
    out.push_str(&json_string(key));
    out.push(':');
    out.push_str(raw);
}

/// `text` as a JSON string literal.
pub(super) fn json_string(text: &str) -> String {
    // Serialising a `str` cannot fail.
    serde_json::to_string(text).unwrap_or_default()
}

impl<'de> Deserialize<'de> for Entries<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;

        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some((key, value)) = map.next_entry::<Text<'de>, &'de RawValue>()? {
                    entries.push((key.0, value));
                }
                Ok(Entries(entries))
            }
        }

        deserializer.deserialize_map(EntriesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_raw_values() {
        let json = r#"{"z": 1.50, "a" : {"x":[1, 2]}, "s":"\u00e9"}"#;
        let entries = Entries::parse(json).unwrap();
        let keys: Vec<&str> = entries.0.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["z", "a", "s"]);
        assert_eq!(
            entries.with("a", "null"),
            r#"{"z":1.50,"a":null,"s":"\u00e9"}"#
        );
        assert_eq!(
            entries.with("t", r#""v""#),
            r#"{"z":1.50,"a":{"x":[1, 2]},"s":"\u00e9","t":"v"}"#
        );
    }

    #[test]
    fn duplicates_are_ambiguous_and_collapse_when_set() {
        let entries = Entries::parse(r#"{"k":1,"o":2,"k":3}"#).unwrap();
        assert!(entries.unique("k").is_none());
        assert_eq!(entries.unique("o").unwrap().get(), "2");
        assert_eq!(entries.with("k", "9"), r#"{"k":9,"o":2}"#);
    }

    #[test]
    fn entries_are_set_and_removed_in_one_pass() {
        let entries = Entries::parse(r#"{"a":1,"t":"x","u":2,"b":3,"u":4}"#).unwrap();
        assert!(entries.has("u") && !entries.has("z"));
        assert_eq!(
            entries.edited(&[("t", Some(r#""y""#)), ("u", None)]),
            r#"{"a":1,"t":"y","b":3}"#
        );
        assert_eq!(
            entries.edited(&[("t", None), ("z", Some("0")), ("a", Some("5"))]),
            r#"{"a":5,"u":2,"b":3,"u":4,"z":0}"#
        );
        assert_eq!(
            Entries::parse(r#"{"u":1}"#).unwrap().edited(&[("u", None)]),
            "{}"
        );
    }

    #[test]
    fn escaped_keys_are_written_back_escaped() {
        let entries = Entries::parse(r#"{"a\"b":1}"#).unwrap();
        assert_eq!(entries.0[0].0, "a\"b");
        assert_eq!(entries.with("x", "0"), r#"{"a\"b":1,"x":0}"#);
        assert_eq!(Entries::parse("{}").unwrap().with("x", "0"), r#"{"x":0}"#);
    }

    #[test]
    fn non_objects_are_refused() {
        for bad in [
            "",
            "[]",
            "1",
            "\"s\"",
            "{",
            "{\"a\":}",
            "{\"a\":1}x",
            "null",
        ] {
            assert!(Entries::parse(bad).is_none(), "{bad}");
        }
    }
}
