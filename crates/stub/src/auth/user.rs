//! An Auth user and its JSON form (the OpenAPI `UserSchema`).

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::factors::Factor;
use crate::clock::rfc3339_now;

/// A linked sign-in method (email, phone, an OAuth provider...).
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    identity_id: Uuid,
    provider: String,
    /// The provider account's address, when it is not the user's own
    /// (an identity linked with `linkIdentity`).
    email: Option<String>,
    created_at: String,
}

/// One row of `auth.users`, reduced to what the stub needs.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: Uuid,
    pub email: Option<String>,
    pub phone: Option<String>,
    password_hash: Option<[u8; 32]>,
    pub email_confirmed_at: Option<String>,
    pub phone_confirmed_at: Option<String>,
    pub confirmation_sent_at: Option<String>,
    /// An email change waiting for its confirmation.
    pub new_email: Option<String>,
    pub email_change_sent_at: Option<String>,
    /// A phone change waiting for its confirmation.
    pub new_phone: Option<String>,
    pub last_sign_in_at: Option<String>,
    pub user_metadata: Map<String, Value>,
    identities: Vec<Identity>,
    /// MFA factors, listed in the JSON form when there are any.
    pub factors: Vec<Factor>,
    pub created_at: String,
    pub updated_at: String,
    pub is_anonymous: bool,
    /// Banned by an admin: Auth refuses the user's tokens and sign-ins.
    pub banned: bool,
    /// Keys an admin set in `app_metadata` (GoTrue's admin user update
    /// merges them into `raw_app_meta_data`), over `provider`/`providers`.
    pub admin_app_metadata: Map<String, Value>,
}

impl User {
    /// A new user with no identity; add one with [`User::link`].
    pub fn new(email: Option<String>, phone: Option<String>) -> Self {
        let now = rfc3339_now();
        User {
            id: Uuid::new_v4(),
            email,
            phone,
            password_hash: None,
            email_confirmed_at: None,
            phone_confirmed_at: None,
            confirmation_sent_at: None,
            new_email: None,
            email_change_sent_at: None,
            new_phone: None,
            last_sign_in_at: None,
            user_metadata: Map::new(),
            identities: Vec::new(),
            factors: Vec::new(),
            created_at: now.clone(),
            updated_at: now,
            is_anonymous: false,
            banned: false,
            admin_app_metadata: Map::new(),
        }
    }

    pub fn set_password(&mut self, password: &str) {
        self.password_hash = Some(Sha256::digest(password.as_bytes()).into());
    }

    pub fn password_matches(&self, password: &str) -> bool {
        self.password_hash
            .is_some_and(|hash| hash == <[u8; 32]>::from(Sha256::digest(password.as_bytes())))
    }

    /// Links a sign-in provider once.
    pub fn link(&mut self, provider: &str) {
        if !self.identities.iter().any(|i| i.provider == provider) {
            self.identities.push(Identity {
                identity_id: Uuid::new_v4(),
                provider: provider.to_owned(),
                email: None,
                created_at: rfc3339_now(),
            });
        }
    }

    /// Links the provider account with address `email` (manual linking).
    pub fn link_account(&mut self, provider: &str, email: &str) {
        self.identities.push(Identity {
            identity_id: Uuid::new_v4(),
            provider: provider.to_owned(),
            email: Some(email.to_ascii_lowercase()),
            created_at: rfc3339_now(),
        });
    }

    /// Whether the provider account with address `email` is one of this user's identities.
    pub fn has_account(&self, provider: &str, email: &str) -> bool {
        let email = email.to_ascii_lowercase();
        self.identities.iter().any(|i| {
            i.provider == provider && i.email.as_ref().or(self.email.as_ref()) == Some(&email)
        })
    }

    /// Marks the email (or, for phone users, the phone) as confirmed now.
    pub fn confirm(&mut self) {
        let now = rfc3339_now();
        if self.email.is_some() {
            self.email_confirmed_at.get_or_insert_with(|| now.clone());
        }
        if self.phone.is_some() {
            self.phone_confirmed_at.get_or_insert(now);
        }
    }

    /// Whether the user may sign in with a password (email or phone confirmed).
    pub fn is_confirmed(&self) -> bool {
        self.email_confirmed_at.is_some() || self.phone_confirmed_at.is_some()
    }

    /// `{provider, providers}` as Auth derives it from the identities.
    pub fn app_metadata(&self) -> Value {
        let providers: Vec<&str> = self
            .identities
            .iter()
            .map(|i| i.provider.as_str())
            .collect();
        let mut metadata = match providers.first() {
            Some(first) => object(json!({"provider": first, "providers": providers})),
            None => Map::new(),
        };
        metadata.extend(self.admin_app_metadata.clone());
        Value::Object(metadata)
    }

    /// The user as Auth returns it.
    pub fn to_json(&self) -> Value {
        let identities: Vec<Value> = self
            .identities
            .iter()
            .map(|i| self.identity_json(i))
            .collect();
        let mut user = object(json!({
            "id": self.id,
            "aud": "authenticated",
            "role": "authenticated",
            "email": self.email.clone().unwrap_or_default(),
            "phone": self.phone.clone().unwrap_or_default(),
            "app_metadata": self.app_metadata(),
            "user_metadata": self.user_metadata,
            "identities": identities,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "is_anonymous": self.is_anonymous,
        }));
        let confirmed_at = self
            .email_confirmed_at
            .as_ref()
            .or(self.phone_confirmed_at.as_ref());
        let optional = [
            ("email_confirmed_at", self.email_confirmed_at.as_ref()),
            ("phone_confirmed_at", self.phone_confirmed_at.as_ref()),
            ("confirmation_sent_at", self.confirmation_sent_at.as_ref()),
            ("new_email", self.new_email.as_ref()),
            ("email_change_sent_at", self.email_change_sent_at.as_ref()),
            ("new_phone", self.new_phone.as_ref()),
            ("confirmed_at", confirmed_at),
            ("last_sign_in_at", self.last_sign_in_at.as_ref()),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                user.insert(key.to_owned(), json!(value));
            }
        }
        if !self.factors.is_empty() {
            let factors: Vec<Value> = self.factors.iter().map(Factor::to_json).collect();
            user.insert("factors".to_owned(), Value::Array(factors));
        }
        Value::Object(user)
    }

    fn identity_json(&self, identity: &Identity) -> Value {
        let mut data = object(json!({
            "sub": self.id,
            "email_verified": self.email_confirmed_at.is_some(),
            "phone_verified": self.phone_confirmed_at.is_some(),
        }));
        let mut out = object(json!({
            "identity_id": identity.identity_id,
            "id": self.id,
            "user_id": self.id,
            "provider": identity.provider,
            "last_sign_in_at": self.last_sign_in_at.as_deref().unwrap_or(&identity.created_at),
            "created_at": identity.created_at,
            "updated_at": identity.created_at,
        }));
        if let Some(email) = identity.email.as_ref().or(self.email.as_ref()) {
            data.insert("email".to_owned(), json!(email));
            out.insert("email".to_owned(), json!(email));
        }
        out.insert("identity_data".to_owned(), Value::Object(data));
        Value::Object(out)
    }
}

/// The map inside a `json!({...})` literal.
fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_omits_unset_timestamps_and_lists_providers() {
        let mut user = User::new(Some("a@example.com".to_owned()), None);
        user.link("email");
        let unconfirmed = user.to_json();
        assert!(unconfirmed.get("email_confirmed_at").is_none());
        assert_eq!(unconfirmed["phone"], "");
        assert_eq!(unconfirmed["app_metadata"]["providers"], json!(["email"]));
        user.confirm();
        let confirmed = user.to_json();
        assert_eq!(confirmed["confirmed_at"], confirmed["email_confirmed_at"]);
        assert_eq!(
            confirmed["identities"][0]["identity_data"]["email"],
            "a@example.com"
        );
    }

    #[test]
    fn passwords_are_compared_by_digest() {
        let mut user = User::new(None, Some("15550001".to_owned()));
        assert!(!user.password_matches("pw123456"));
        user.set_password("pw123456");
        assert!(user.password_matches("pw123456"));
        assert!(!user.password_matches("pw1234567"));
    }
}
