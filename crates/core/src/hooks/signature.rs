//! Standard Webhooks signatures (<https://www.standardwebhooks.com>), as
//! Supabase's hooks and the repository's `schema.sql` triggers make them.
//!
//! The signed content is `{webhook-id}.{webhook-timestamp}.{body}`; the
//! signature is HMAC-SHA256 with the secret's bytes (the base64 after
//! `whsec_`), sent as `v1,<base64>` in `webhook-signature`, several
//! separated by spaces. A secret is written `v1,whsec_<base64>` (the form
//! Supabase's dashboard shows; a bare `whsec_<base64>` is accepted too),
//! several separated by spaces while one is rotated out.

use crate::env::UnixSeconds;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

/// How far a call's `webhook-timestamp` may be from the proxy's clock,
/// either way, seconds.
pub const TIMESTAMP_TOLERANCE: u64 = 5 * 60;

/// The secrets a hook call may be signed with (`PROXY_HOOK_SECRET`).
#[derive(Clone)]
pub struct HookSecrets(Vec<Vec<u8>>);

impl fmt::Debug for HookSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HookSecrets({} secret(s))", self.0.len())
    }
}

impl HookSecrets {
    /// Reads space-separated `v1,whsec_<base64>` secrets.
    pub fn parse(text: &str) -> Result<HookSecrets, String> {
        let secrets = text
            .split_whitespace()
            .map(|one| {
                let encoded = one.strip_prefix("v1,").unwrap_or(one);
                let Some(encoded) = encoded.strip_prefix("whsec_") else {
                    return Err(
                        "a hook secret looks like v1,whsec_<base64> (as Supabase shows it)"
                            .to_string(),
                    );
                };
                match STANDARD.decode(encoded) {
                    Ok(bytes) if bytes.len() >= 16 => Ok(bytes),
                    Ok(_) => Err("a hook secret must hold at least 16 bytes".to_string()),
                    Err(_) => Err("the part after whsec_ is not base64".to_string()),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        if secrets.is_empty() {
            return Err("no hook secret given".into());
        }
        Ok(HookSecrets(secrets))
    }
}

/// Why a hook call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the webhook-id, webhook-timestamp or webhook-signature header is missing")]
    MissingHeader,
    #[error("webhook-timestamp is not a Unix time in seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is more than 5 minutes away from now")]
    StaleTimestamp,
    #[error("no v1 signature matches the body with any configured secret")]
    NoMatch,
}

/// Checks a call: the three headers' values (`None` when absent), the raw
/// body, and the proxy's clock.
pub fn verify(
    secrets: &HookSecrets,
    id: Option<&str>,
    timestamp: Option<&str>,
    signatures: Option<&str>,
    body: &[u8],
    now: UnixSeconds,
) -> Result<(), SignatureError> {
    let (Some(id), Some(timestamp), Some(signatures)) = (id, timestamp, signatures) else {
        return Err(SignatureError::MissingHeader);
    };
    let sent: UnixSeconds = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    if sent.abs_diff(now) > TIMESTAMP_TOLERANCE {
        return Err(SignatureError::StaleTimestamp);
    }
    let candidates: Vec<Vec<u8>> = signatures
        .split_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| STANDARD.decode(s).ok())
        .collect();
    let matches = secrets.0.iter().any(|secret| {
        candidates.iter().any(|candidate| {
            mac(secret, id, timestamp, body)
                .verify_slice(candidate)
                .is_ok()
        })
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::NoMatch)
    }
}

/// The `webhook-signature` value for a call signed with the first secret,
/// as a sender (a trigger, a test) computes it.
pub fn sign(secrets: &HookSecrets, id: &str, timestamp: &str, body: &[u8]) -> String {
    let tag = mac(&secrets.0[0], id, timestamp, body)
        .finalize()
        .into_bytes();
    format!("v1,{}", STANDARD.encode(tag))
}

fn mac(secret: &[u8], id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of the Standard Webhooks specification.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: &str = "1614265330";
    const SPEC_BODY: &str = r#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn spec_secrets() -> HookSecrets {
        HookSecrets::parse(&format!("v1,{SPEC_SECRET}")).unwrap()
    }

    fn check(signature: &str, now: UnixSeconds) -> Result<(), SignatureError> {
        verify(
            &spec_secrets(),
            Some(SPEC_ID),
            Some(SPEC_TIMESTAMP),
            Some(signature),
            SPEC_BODY.as_bytes(),
            now,
        )
    }

    #[test]
    fn the_specification_example_verifies_and_signs_the_same() {
        assert_eq!(check(SPEC_SIGNATURE, 1_614_265_330), Ok(()));
        assert_eq!(
            sign(
                &spec_secrets(),
                SPEC_ID,
                SPEC_TIMESTAMP,
                SPEC_BODY.as_bytes()
            ),
            SPEC_SIGNATURE
        );
    }

    #[test]
    fn any_of_several_signatures_and_secrets_may_match() {
        let listed = format!("v1,bm90IGl0 {SPEC_SIGNATURE} v2,whatever");
        assert_eq!(check(&listed, 1_614_265_330), Ok(()));
        let rotated = HookSecrets::parse(&format!(
            "v1,whsec_b2xkLXNlY3JldC1vbGQtc2VjcmV0 {SPEC_SECRET}"
        ))
        .unwrap();
        let result = verify(
            &rotated,
            Some(SPEC_ID),
            Some(SPEC_TIMESTAMP),
            Some(SPEC_SIGNATURE),
            SPEC_BODY.as_bytes(),
            1_614_265_330,
        );
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn a_changed_body_id_or_timestamp_fails() {
        let secrets = spec_secrets();
        let now = 1_614_265_330;
        let body = br#"{"test": 2432232315}"#;
        let with = |id, ts, body: &[u8]| {
            verify(
                &secrets,
                Some(id),
                Some(ts),
                Some(SPEC_SIGNATURE),
                body,
                now,
            )
        };
        assert_eq!(
            with(SPEC_ID, SPEC_TIMESTAMP, body),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            with("msg_other", SPEC_TIMESTAMP, SPEC_BODY.as_bytes()),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            with(SPEC_ID, "1614265331", SPEC_BODY.as_bytes()),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(check("v1,not base64!", now), Err(SignatureError::NoMatch));
        assert_eq!(
            check("g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", now),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn timestamps_more_than_five_minutes_off_are_refused_either_way() {
        let sent = 1_614_265_330;
        assert_eq!(check(SPEC_SIGNATURE, sent + 300), Ok(()));
        assert_eq!(check(SPEC_SIGNATURE, sent - 300), Ok(()));
        assert_eq!(
            check(SPEC_SIGNATURE, sent + 301),
            Err(SignatureError::StaleTimestamp)
        );
        assert_eq!(
            check(SPEC_SIGNATURE, sent - 301),
            Err(SignatureError::StaleTimestamp)
        );
    }

    #[test]
    fn missing_headers_and_bad_timestamps_are_named() {
        let secrets = spec_secrets();
        let body = SPEC_BODY.as_bytes();
        assert_eq!(
            verify(
                &secrets,
                None,
                Some(SPEC_TIMESTAMP),
                Some(SPEC_SIGNATURE),
                body,
                0
            ),
            Err(SignatureError::MissingHeader)
        );
        assert_eq!(
            verify(&secrets, Some(SPEC_ID), Some(SPEC_TIMESTAMP), None, body, 0),
            Err(SignatureError::MissingHeader)
        );
        assert_eq!(
            verify(
                &secrets,
                Some(SPEC_ID),
                Some("soon"),
                Some(SPEC_SIGNATURE),
                body,
                0
            ),
            Err(SignatureError::BadTimestamp)
        );
    }

    #[test]
    fn secrets_are_read_strictly_and_never_printed() {
        assert!(HookSecrets::parse("").is_err());
        assert!(HookSecrets::parse("v1,secret").is_err());
        assert!(HookSecrets::parse("v1,whsec_!!!").is_err());
        assert!(HookSecrets::parse("v1,whsec_c2hvcnQ=").is_err());
        let secrets = HookSecrets::parse(SPEC_SECRET).unwrap();
        assert_eq!(format!("{secrets:?}"), "HookSecrets(1 secret(s))");
    }
}
