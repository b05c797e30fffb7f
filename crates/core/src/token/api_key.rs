//! Supabase's API keys, and where the official client sends the key as a
//! bearer when nobody is signed in.
//!
//! The legacy anon key is a JWT and goes everywhere as `Authorization:
//! Bearer`. The new keys (`sb_publishable_...`, `sb_secret_...`) are not
//! JWTs: supabase-js 2.119 (`fetchWithAuth`, `omitApiKeyAsBearer`) still
//! sends one as the bearer to REST, Storage and Auth (the gateway accepts
//! a bearer equal to `apikey`), but not to Edge Functions, whose JWT check
//! would refuse it.

use crate::route::Service;

/// The two families of Supabase API keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyKind {
    /// A JWT (the anon or service-role key), or a key this version does not
    /// recognise (`sb_temp_...`): supabase-js sends it as is everywhere.
    Legacy,
    /// `sb_publishable_...` or `sb_secret_...`.
    New,
}

impl ApiKeyKind {
    pub fn of(key: &str) -> ApiKeyKind {
        if key.starts_with("sb_publishable_") || key.starts_with("sb_secret_") {
            ApiKeyKind::New
        } else {
            ApiKeyKind::Legacy
        }
    }

    /// Whether an anonymous request to `service` carries
    /// `Authorization: Bearer <key>`.
    pub fn is_bearer_on(self, service: Service) -> bool {
        self == ApiKeyKind::Legacy || service != Service::Functions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_keys_are_told_apart_by_prefix() {
        assert_eq!(ApiKeyKind::of("sb_publishable_abc"), ApiKeyKind::New);
        assert_eq!(ApiKeyKind::of("sb_secret_abc"), ApiKeyKind::New);
        assert_eq!(ApiKeyKind::of("sb_temp_abc"), ApiKeyKind::Legacy);
        assert_eq!(
            ApiKeyKind::of("eyJhbGciOiJIUzI1NiJ9.e30.x"),
            ApiKeyKind::Legacy
        );
    }

    #[test]
    fn a_new_key_is_no_bearer_on_edge_functions_only() {
        let new = ApiKeyKind::New;
        assert!(!new.is_bearer_on(Service::Functions));
        for service in [
            Service::Rest,
            Service::Storage,
            Service::Auth,
            Service::Graphql,
            Service::Realtime,
        ] {
            assert!(new.is_bearer_on(service), "{service:?}");
        }
        assert!(ApiKeyKind::Legacy.is_bearer_on(Service::Functions));
    }
}
