//! Auth's user object as the session keeps it: its compact JSON text.
//!
//! A user object is read whole (`/edge/v1/session` writes it out as is) and
//! its fields are needed only when a token is minted, so it is kept as text:
//! a parsed `serde_json::Value` takes several times the memory of the JSON.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserObject(Box<RawValue>);

impl UserObject {
    /// The compact JSON of `value`.
    pub fn from_value(value: &Value) -> UserObject {
        // Serialising a `Value` cannot fail (its keys are strings).
        UserObject(
            serde_json::value::to_raw_value(value).unwrap_or_else(|_| RawValue::NULL.to_owned()),
        )
    }

    /// The object parsed, for reading its fields.
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.0.get()).unwrap_or(Value::Null)
    }

    /// The JSON text.
    pub fn as_json(&self) -> &str {
        self.0.get()
    }
}

impl From<Value> for UserObject {
    fn from(value: Value) -> UserObject {
        UserObject::from_value(&value)
    }
}

impl PartialEq for UserObject {
    fn eq(&self, other: &UserObject) -> bool {
        self.as_json() == other.as_json()
    }
}

impl std::fmt::Debug for UserObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_compact_json_and_round_trips() {
        let user = UserObject::from(json!({"id": "u1", "app_metadata": {"provider": "email"}}));
        assert_eq!(
            user.as_json(),
            r#"{"app_metadata":{"provider":"email"},"id":"u1"}"#
        );
        assert_eq!(user.to_value()["app_metadata"]["provider"], "email");
        let stored = serde_json::to_string(&json!({"user": user})).unwrap();
        assert!(stored.contains(r#""user":{"app_metadata""#), "{stored}");
        #[derive(Deserialize)]
        struct Holder {
            user: UserObject,
        }
        let back: Holder = serde_json::from_str(&stored).unwrap();
        assert_eq!(back.user, user);
    }
}
