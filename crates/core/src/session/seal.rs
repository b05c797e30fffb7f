//! Sealing the upstream tokens a store keeps (`PROXY_STORE_KEY`).
//!
//! With store keys configured, every access and refresh token is written to
//! the store as `sbp-sealed:v1:` + base64url(nonce ‖ XChaCha20-Poly1305
//! ciphertext), the nonce random per seal and the session's store key plus
//! the field name as associated data, so a sealed token cannot be moved to
//! another session or field. The first key seals; every key opens (rotation).
//! A token without the prefix is one written before the key was set: it
//! reads as is and is sealed at its next write.

use super::{SessionKey, UpstreamTokens};
use crate::env::RandomSource;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use std::fmt;
use std::sync::Arc;
use thiserror::Error;

/// What every sealed token starts with.
const PREFIX: &str = "sbp-sealed:v1:";
const NONCE_LEN: usize = 24;

/// The configured store keys: the first seals, all open.
#[derive(Clone)]
pub struct StoreKeys(Arc<[[u8; 32]]>);

impl fmt::Debug for StoreKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreKeys({} keys)", self.0.len())
    }
}

/// Why a stored token could not be opened.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SealError {
    #[error("it was sealed with a PROXY_STORE_KEY that is not configured (or it was altered)")]
    UnknownKey,
    #[error("it is sealed, but PROXY_STORE_KEY is not set")]
    NoKey,
    #[error("its sealed value is malformed")]
    Malformed,
}

fn decode_key(text: &str) -> Option<[u8; 32]> {
    // Standard base64 (with or without padding) or its url-safe alphabet.
    let padded = format!("{text}{}", "=".repeat((4 - text.len() % 4) % 4));
    let bytes = STANDARD
        .decode(&padded)
        .or_else(|_| URL_SAFE.decode(&padded))
        .ok()?;
    bytes.try_into().ok()
}

impl StoreKeys {
    /// Parses a comma list of base64 keys of 32 bytes each. The message
    /// never repeats a key.
    pub fn parse(text: &str) -> Result<StoreKeys, String> {
        let items: Vec<&str> = text.split(',').map(str::trim).collect();
        let mut keys = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let which = if items.len() == 1 {
                "the key".to_string()
            } else {
                format!("key {} of {}", i + 1, items.len())
            };
            if item.is_empty() {
                return Err(format!("{which} is empty"));
            }
            match decode_key(item) {
                Some(key) => keys.push(key),
                None => {
                    return Err(format!(
                        "{which} is not 32 bytes in base64 (make one with `openssl rand -base64 32`)"
                    ));
                }
            }
        }
        Ok(StoreKeys(keys.into()))
    }

    /// Keys for another use than sealing tokens (`purpose` names it): each
    /// key derived from one of these with HKDF-SHA256, in the same order,
    /// so rotating the store keys rotates them too.
    pub fn derive(&self, purpose: &[u8]) -> StoreKeys {
        let derived: Vec<[u8; 32]> = self
            .0
            .iter()
            .map(|key| {
                let mut out = [0u8; 32];
                // 32 bytes is far below HKDF-SHA256's output limit.
                let _ = hkdf::Hkdf::<sha2::Sha256>::new(None, key).expand(purpose, &mut out);
                out
            })
            .collect();
        StoreKeys(derived.into())
    }

    /// One random key, for a process that has no configured one.
    pub fn random(rng: &dyn RandomSource) -> StoreKeys {
        StoreKeys([crate::env::random_array::<32>(rng)].into())
    }

    fn cipher(key: &[u8; 32]) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&(*key).into())
    }

    /// `plaintext` sealed with the first key, bound to `context`.
    pub fn seal(&self, rng: &dyn RandomSource, context: &[u8], plaintext: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce);
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: context,
        };
        // Encryption fails only for messages beyond the cipher's limit (256 GiB).
        let sealed = Self::cipher(&self.0[0])
            .encrypt(&XNonce::from(nonce), payload)
            .unwrap_or_default();
        let mut bytes = Vec::with_capacity(NONCE_LEN + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Opens a value made by [`StoreKeys::seal`] with any configured key.
    pub fn open(&self, context: &[u8], sealed: &str) -> Result<String, SealError> {
        let body = sealed.strip_prefix(PREFIX).ok_or(SealError::Malformed)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| SealError::Malformed)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce =
            XNonce::from(<[u8; NONCE_LEN]>::try_from(nonce).map_err(|_| SealError::Malformed)?);
        self.0
            .iter()
            .find_map(|key| {
                let payload = Payload {
                    msg: ciphertext,
                    aad: context,
                };
                Self::cipher(key).decrypt(&nonce, payload).ok()
            })
            .ok_or(SealError::UnknownKey)
            .and_then(|plain| String::from_utf8(plain).map_err(|_| SealError::Malformed))
    }
}

/// Whether a stored token is sealed (rather than written before a key was set).
pub fn is_sealed(token: &str) -> bool {
    token.starts_with(PREFIX)
}

/// How stores write a session's upstream tokens: sealed when store keys
/// are configured, as they are otherwise.
#[derive(Clone)]
pub struct TokenSeal {
    keys: Option<(StoreKeys, Arc<dyn RandomSource + Send + Sync>)>,
}

impl TokenSeal {
    /// Tokens are stored as they are (no `PROXY_STORE_KEY`).
    pub fn none() -> TokenSeal {
        TokenSeal { keys: None }
    }

    /// Tokens are sealed with `keys`, nonces drawn from `rng`.
    pub fn new(keys: Option<StoreKeys>, rng: Arc<dyn RandomSource + Send + Sync>) -> TokenSeal {
        TokenSeal {
            keys: keys.map(|keys| (keys, rng)),
        }
    }

    pub fn is_sealing(&self) -> bool {
        self.keys.is_some()
    }

    fn context(key: &SessionKey, field: &str) -> Vec<u8> {
        format!("{}\n{field}", key.as_str()).into_bytes()
    }

    /// `tokens` as they are written for the session stored under `key`.
    pub fn seal(&self, key: &SessionKey, tokens: &UpstreamTokens) -> UpstreamTokens {
        let Some((keys, rng)) = &self.keys else {
            return tokens.clone();
        };
        let seal = |field: &str, token: &str| keys.seal(&**rng, &Self::context(key, field), token);
        UpstreamTokens {
            access_token: seal("access_token", &tokens.access_token),
            refresh_token: seal("refresh_token", &tokens.refresh_token),
            issued_at: tokens.issued_at,
            expires_at: tokens.expires_at,
        }
    }

    /// Opens tokens read from the store in place (tokens stored in clear stay as they are).
    pub fn open(&self, key: &SessionKey, tokens: &mut UpstreamTokens) -> Result<(), SealError> {
        for (field, token) in [
            ("access_token", &mut tokens.access_token),
            ("refresh_token", &mut tokens.refresh_token),
        ] {
            if !is_sealed(token) {
                continue;
            }
            let (keys, _) = self.keys.as_ref().ok_or(SealError::NoKey)?;
            *token = keys.open(&Self::context(key, field), token)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU8, Ordering};

    /// Different bytes on every call, so nonces differ.
    #[derive(Default)]
    struct Counting(AtomicU8);
    impl RandomSource for Counting {
        fn fill(&self, buf: &mut [u8]) {
            let n = self.0.fetch_add(1, Ordering::Relaxed);
            buf.iter_mut().for_each(|b| *b = n);
        }
    }

    const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const KEY_B: &str = "__79_Pv6-fj39vX08_Lx8O_u7ezr6uno5-bl5OPi4eA";

    fn seal_with(keys: &str) -> TokenSeal {
        TokenSeal::new(
            Some(StoreKeys::parse(keys).unwrap()),
            Arc::new(Counting::default()),
        )
    }

    fn tokens() -> UpstreamTokens {
        UpstreamTokens {
            access_token: "eyJ-access".into(),
            refresh_token: "refresh-123".into(),
            issued_at: 1,
            expires_at: 2,
        }
    }

    #[test]
    fn sealed_tokens_hide_the_text_and_open_only_for_their_session() {
        let seal = seal_with(KEY_A);
        let key = SessionKey::from_stored("k1");
        let sealed = seal.seal(&key, &tokens());
        assert!(is_sealed(&sealed.access_token) && is_sealed(&sealed.refresh_token));
        assert!(!format!("{}{}", sealed.access_token, sealed.refresh_token).contains("access"));
        assert_eq!((sealed.issued_at, sealed.expires_at), (1, 2));
        assert_ne!(
            seal.seal(&key, &tokens()).access_token,
            sealed.access_token,
            "a new nonce per seal"
        );

        let mut opened = sealed.clone();
        seal.open(&key, &mut opened).unwrap();
        assert_eq!(opened, tokens());

        // Moved to another session, or one field into the other: refused.
        let mut moved = sealed.clone();
        assert_eq!(
            seal.open(&SessionKey::from_stored("k2"), &mut moved),
            Err(SealError::UnknownKey)
        );
        let mut swapped = sealed.clone();
        std::mem::swap(&mut swapped.access_token, &mut swapped.refresh_token);
        assert_eq!(seal.open(&key, &mut swapped), Err(SealError::UnknownKey));
        let mut damaged = sealed;
        damaged.access_token.push('A');
        assert!(seal.open(&key, &mut damaged).is_err());
    }

    #[test]
    fn rotation_clear_tokens_and_missing_keys() {
        let key = SessionKey::from_stored("k");
        let old = seal_with(KEY_A).seal(&key, &tokens());
        let mut rotated = old.clone();
        seal_with(&format!("{KEY_B}, {KEY_A}"))
            .open(&key, &mut rotated)
            .unwrap();
        assert_eq!(rotated, tokens(), "every listed key opens");
        let mut dropped = old.clone();
        assert_eq!(
            seal_with(KEY_B).open(&key, &mut dropped),
            Err(SealError::UnknownKey)
        );
        let mut unset = old;
        assert_eq!(
            TokenSeal::none().open(&key, &mut unset),
            Err(SealError::NoKey)
        );
        let mut clear = tokens();
        seal_with(KEY_B).open(&key, &mut clear).unwrap();
        assert_eq!(clear, tokens(), "tokens stored in clear read as they are");
        assert_eq!(TokenSeal::none().seal(&key, &tokens()), tokens());
    }

    #[test]
    fn derived_keys_open_only_their_own_seals() {
        let keys = StoreKeys::parse(KEY_A).unwrap();
        let rng = Counting::default();
        let flow = keys.derive(b"flow");
        let sealed = flow.seal(&rng, b"ctx", "secret");
        assert_eq!(flow.open(b"ctx", &sealed).as_deref(), Ok("secret"));
        assert_eq!(
            StoreKeys::parse(KEY_A)
                .unwrap()
                .derive(b"flow")
                .open(b"ctx", &sealed)
                .as_deref(),
            Ok("secret"),
            "the same store key derives the same key"
        );
        assert_eq!(keys.open(b"ctx", &sealed), Err(SealError::UnknownKey));
        assert_eq!(
            keys.derive(b"other").open(b"ctx", &sealed),
            Err(SealError::UnknownKey)
        );
        let rotated = StoreKeys::parse(&format!("{KEY_B},{KEY_A}")).unwrap();
        assert_eq!(
            rotated.derive(b"flow").open(b"ctx", &sealed).as_deref(),
            Ok("secret")
        );
        let random = StoreKeys::random(&rng);
        assert_eq!(random.open(b"ctx", &sealed), Err(SealError::UnknownKey));
    }

    #[test]
    fn keys_parse_in_either_alphabet_and_bad_ones_say_which() {
        assert!(StoreKeys::parse(KEY_A).is_ok());
        assert!(StoreKeys::parse(KEY_B).is_ok(), "url-safe, unpadded");
        assert_eq!(
            StoreKeys::parse(&format!("{KEY_A},{KEY_B}"))
                .unwrap()
                .0
                .len(),
            2
        );
        let short = StoreKeys::parse("AAECAwQ=").unwrap_err();
        assert!(short.contains("not 32 bytes"), "{short}");
        let second = StoreKeys::parse(&format!("{KEY_A},not base64!")).unwrap_err();
        assert!(second.starts_with("key 2 of 2"), "{second}");
        assert!(
            StoreKeys::parse(&format!("{KEY_A},"))
                .unwrap_err()
                .contains("empty")
        );
        assert!(!format!("{:?}", StoreKeys::parse(KEY_A).unwrap()).contains(KEY_A));
    }
}
