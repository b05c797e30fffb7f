//! The front door (`PROXY_APP_URL`): the app behind the proxy, reached by
//! its own HTTP client ([`client`]), and the identity the proxy signs for
//! each of its requests ([`identity`]). The pipeline's `front_door` handler
//! uses both.
//!
//! The app has its own client rather than a second origin in the Supabase
//! pool: the pool's lanes hold one upstream connection per browser
//! connection to the one origin, and it never upgrades connections, which
//! the app's WebSockets (a dev server's hot reload) need.

mod client;
mod identity;

pub use client::AppClient;
pub use identity::Identities;

use sbp_core::config::UpstreamUrl;
use sbp_core::identity::IdentityKey;
use std::sync::Arc;

/// What the front door needs, built once at start when `PROXY_APP_URL` is set.
pub struct FrontDoor {
    pub client: AppClient,
    pub identities: Identities,
}

impl FrontDoor {
    pub fn new(
        url: &UpstreamUrl,
        key: Arc<IdentityKey>,
        issuer: String,
        tls: Arc<rustls::ClientConfig>,
    ) -> Result<FrontDoor, crate::Error> {
        Ok(FrontDoor {
            client: AppClient::new(url, tls)?,
            identities: Identities::new(key, issuer),
        })
    }
}
