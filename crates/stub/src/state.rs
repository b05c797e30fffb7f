//! State shared by every connection: configuration, keys, the request log,
//! fault switches and Auth's tables.

use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::Serialize;

use crate::auth::store::AuthStore;
use crate::config::StubConfig;
use crate::faults::Faults;
use crate::jwt::Keys;
use crate::realtime::Hub;
use crate::record::Recorder;

/// `exp` of the well-known local-development API keys (year 2032).
const API_KEY_EXP: u64 = 1_983_812_996;

/// Claims of the anon and service-role API keys, in the order Supabase's demo keys use.
#[derive(Serialize)]
struct ApiKeyClaims<'a> {
    iss: &'a str,
    role: &'a str,
    exp: u64,
}

pub(crate) struct Shared {
    pub config: StubConfig,
    /// `http://127.0.0.1:PORT` (`https://` with TLS).
    pub base_url: String,
    pub addr: SocketAddr,
    /// `iss` of the access tokens Auth issues.
    pub issuer: String,
    pub keys: Keys,
    pub anon_key: String,
    pub service_role_key: String,
    pub recorder: Recorder,
    pub faults: Faults,
    pub realtime: Hub,
    auth: Mutex<AuthStore>,
}

impl Shared {
    pub fn new(
        config: StubConfig,
        addr: SocketAddr,
        base_url: String,
    ) -> Result<Self, jsonwebtoken::errors::Error> {
        let keys = Keys::with_trusted(&config.jwt_secret, &config.trusted_jwks)?;
        let api_key = |role| {
            let claims = ApiKeyClaims {
                iss: "supabase-demo",
                role,
                exp: API_KEY_EXP,
            };
            jsonwebtoken::encode(
                &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(config.jwt_secret.as_bytes()),
            )
        };
        let anon_key = api_key("anon")?;
        let service_role_key = api_key("service_role")?;
        Ok(Shared {
            issuer: format!("{base_url}/auth/v1"),
            addr,
            base_url,
            keys,
            anon_key,
            service_role_key,
            recorder: Recorder::default(),
            faults: Faults::default(),
            realtime: Hub::default(),
            auth: Mutex::new(AuthStore::default()),
            config,
        })
    }

    /// Auth's tables, locked. Every Auth operation runs whole under this lock,
    /// which also serialises concurrent refreshes of one token.
    pub fn auth(&self) -> MutexGuard<'_, AuthStore> {
        lock(&self.auth)
    }
}

/// Locks a mutex, carrying on after a panic elsewhere poisoned it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
