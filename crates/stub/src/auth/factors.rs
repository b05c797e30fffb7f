//! MFA factors (TOTP only) and their challenges, as GoTrue keeps them:
//! a factor is `unverified` until its first successful verify, a challenge
//! lives 300 s and is used once. Codes are RFC 6238 (SHA-1, 6 digits, 30 s
//! steps, one step of skew), computed by the `totp-rs` crate.

use serde_json::{Value, json};
use totp_rs::{Builder, Secret, Totp};
use uuid::Uuid;

use crate::clock::{rfc3339_now, unix_now};

/// `GOTRUE_MFA_CHALLENGE_EXPIRY_DURATION`'s default, in seconds.
pub(crate) const CHALLENGE_TTL: u64 = 300;

/// A user's TOTP factor.
#[derive(Debug, Clone)]
pub(crate) struct Factor {
    pub id: Uuid,
    pub friendly_name: String,
    pub verified: bool,
    /// Base32, as the user's authenticator app is given it.
    pub secret: String,
    created_at: String,
    pub updated_at: String,
    pub last_challenged_at: Option<String>,
}

impl Factor {
    /// A new, unverified factor with a fresh 160-bit secret.
    pub fn new_totp(friendly_name: &str) -> Self {
        let mut bytes = [0u8; 20];
        bytes[..16].copy_from_slice(Uuid::new_v4().as_bytes());
        bytes[16..].copy_from_slice(&Uuid::new_v4().as_bytes()[..4]);
        let now = rfc3339_now();
        Factor {
            id: Uuid::new_v4(),
            friendly_name: friendly_name.to_owned(),
            verified: false,
            secret: Secret::from(bytes).to_base32(),
            created_at: now.clone(),
            updated_at: now,
            last_challenged_at: None,
        }
    }

    /// The factor as it appears in the user's `factors` list.
    pub fn to_json(&self) -> Value {
        let mut factor = json!({
            "id": self.id,
            "status": if self.verified { "verified" } else { "unverified" },
            "factor_type": "totp",
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "last_challenged_at": self.last_challenged_at,
        });
        if !self.friendly_name.is_empty() {
            factor["friendly_name"] = json!(self.friendly_name);
        }
        factor
    }
}

/// A pending challenge of a factor.
#[derive(Debug, Clone)]
pub(crate) struct MfaChallenge {
    pub factor_id: Uuid,
    created_at: u64,
}

impl MfaChallenge {
    pub fn new(factor_id: Uuid) -> Self {
        MfaChallenge {
            factor_id,
            created_at: unix_now(),
        }
    }

    pub fn expires_at(&self) -> u64 {
        self.created_at + CHALLENGE_TTL
    }

    pub fn has_expired(&self) -> bool {
        unix_now() > self.expires_at()
    }
}

/// The TOTP generator of a base32 secret, labelled `issuer:account`;
/// `None` when the secret is not base32 of at least 128 bits.
pub(crate) fn totp(secret: &str, issuer: &str, account: &str) -> Option<Totp> {
    let secret = Secret::try_from_base32(secret).ok()?;
    Builder::new()
        .with_secret(secret)
        .with_issuer(Some(issuer))
        .with_account_name(account)
        .build()
        .ok()
}

/// The code an authenticator app shows now for a base32 secret.
pub(crate) fn current_code(secret: &str) -> Option<String> {
    totp(secret, "stub", "user").map(|t| t.generate_current().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_rfc_6238() {
        // RFC 6238 appendix B, SHA-1 key "12345678901234567890" at T = 59 s: 94287082 (8 digits).
        let secret = Secret::from(b"12345678901234567890".to_vec()).to_base32();
        let generator = totp(&secret, "stub", "user").expect("valid secret");
        assert_eq!(generator.generate(59).to_string(), "287082");
        assert!(
            generator
                .check(&generator.generate(59).to_string(), 59 + 30)
                .is_some()
        );
        assert!(generator.check("287082", 59 + 90).is_none());
    }

    #[test]
    fn new_factors_have_a_usable_secret() {
        let factor = Factor::new_totp("phone");
        assert_eq!(factor.secret.len(), 32);
        assert_eq!(current_code(&factor.secret).map(|c| c.len()), Some(6));
        assert!(current_code("not base32!").is_none());
        assert_eq!(factor.to_json()["status"], "unverified");
    }
}
