//! End-to-end harness: the stand-in Supabase and the proxy on port 0, and a
//! browser-like client with a cookie jar, a WebSocket client, the proxy as a
//! process, and a real Redis.

mod browser;
pub mod clock;
pub mod hooks;
pub mod http;
pub mod postgres;
mod process;
mod redis;
mod redis_cluster;
pub mod websocket;

pub use browser::{Browser, Reply};
pub use process::{ProxyProcess, Run, binary, exit_of, run};
pub use redis::{Flavor, RedisServer, redis_values};
pub use redis_cluster::RedisCluster;

use sb_cookie_proxy::RunningProxy;
use sbp_core::config::Config;
use sbp_stub::{Stub, StubConfig};
use std::collections::HashMap;

/// Runs each of the named `async fn(Flavor)` tests on Redis (in a module
/// `redis`) and on Valkey (in a module `valkey`).
#[macro_export]
macro_rules! on_redis_and_valkey {
    ($($name:ident),* $(,)?) => {
        mod redis {
            $(#[tokio::test]
            async fn $name() {
                super::$name($crate::support::Flavor::Redis).await
            })*
        }
        mod valkey {
            $(#[tokio::test]
            async fn $name() {
                super::$name($crate::support::Flavor::Valkey).await
            })*
        }
    };
}

/// The stub and a proxy in front of it.
pub struct Env {
    pub stub: Stub,
    pub proxy: RunningProxy,
    pub settings: HashMap<String, String>,
}

/// How to set up an [`Env`].
pub struct Setup {
    /// Lifetime of the stub's access tokens, seconds.
    pub token_ttl: u64,
    /// Extra proxy settings (environment variable name → value).
    pub settings: Vec<(&'static str, String)>,
    /// Public keys the stub accepts besides its secret (asymmetric signing).
    pub stub_keys: Vec<jsonwebtoken::jwk::Jwk>,
    /// The stub answers like the CDN in front of hosted Supabase
    /// (compressed JSON). The suite runs both ways: `SBP_STUB_COMPRESS=1`
    /// turns it on for every test.
    pub compress: bool,
    /// SSO providers of the stub's project; any turns SAML SSO on there
    /// (otherwise `/auth/v1/sso` answers `saml_provider_disabled`).
    pub sso_providers: Vec<sbp_stub::SsoProvider>,
}

/// Whether this run of the suite puts a compressing CDN in front of the stub.
pub fn compressing_run() -> bool {
    std::env::var("SBP_STUB_COMPRESS").is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "yes"))
}

/// The claims of a JWT, read without checking its signature.
pub fn jwt_claims(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url claims");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            token_ttl: 3600,
            settings: Vec::new(),
            stub_keys: Vec::new(),
            compress: compressing_run(),
            sso_providers: Vec::new(),
        }
    }
}

impl Env {
    pub async fn start() -> Env {
        Env::with(Setup::default()).await
    }

    pub async fn with(setup: Setup) -> Env {
        let stub = Stub::start(StubConfig {
            access_token_ttl: setup.token_ttl,
            trusted_jwks: setup.stub_keys,
            compress: setup.compress,
            saml_enabled: !setup.sso_providers.is_empty(),
            sso_providers: setup.sso_providers,
            ..StubConfig::default()
        })
        .await
        .expect("stub starts");
        let settings = settings_for(&stub, setup.settings);
        let proxy = start_proxy(&settings).await;
        Env {
            stub,
            proxy,
            settings,
        }
    }

    /// Restarts the proxy with the same settings (a new process, as far as
    /// the in-memory state is concerned).
    pub async fn restart(self) -> Env {
        self.restart_with(&[]).await
    }

    /// Restarts the proxy with some settings changed.
    pub async fn restart_with(self, changes: &[(&str, &str)]) -> Env {
        let Env {
            stub,
            proxy,
            mut settings,
        } = self;
        proxy.shutdown().await;
        for (key, value) in changes {
            settings.insert(key.to_string(), value.to_string());
        }
        let proxy = start_proxy(&settings).await;
        Env {
            stub,
            proxy,
            settings,
        }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.proxy.addr)
    }

    /// A browser on the page origin of `PROXY_PUBLIC_URL`.
    pub fn browser(&self) -> Browser {
        let mut browser = Browser::new(&self.base(), &self.stub.anon_key(), "sb-session");
        if let Some(url) = self.settings.get("PROXY_PUBLIC_URL") {
            let origin = sbp_core::config::PublicUrl::parse(url)
                .unwrap()
                .origin()
                .as_str()
                .to_string();
            browser.origin = Some(origin);
        }
        browser
    }

    /// A browser signed in as a new user; returns it and the user's id.
    pub async fn signed_in(&self, email: &str) -> (Browser, String) {
        let user_id = self.stub.create_user(email, "pw123456");
        let mut browser = self.browser();
        let reply = browser.sign_in(email, "pw123456").await;
        assert_eq!(reply.status, 200, "sign-in: {}", reply.text());
        (browser, user_id)
    }

    /// Fails if anything the stub ever issued as a token appears in `reply`.
    pub fn assert_no_stub_tokens(&self, reply: &Reply) {
        let mut seen = reply.text();
        for (name, value) in &reply.headers {
            seen.push_str(&format!(
                "\n{name}: {}",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        for token in self.stub.issued_tokens() {
            assert!(
                !seen.contains(&token),
                "an upstream token reached the browser: {seen}"
            );
        }
    }
}

/// How long [`eventually`] waits: it returns as soon as its check holds, so
/// the bound costs nothing when the work is done, and is long enough that a
/// loaded machine does not fail the test.
const EVENTUALLY: std::time::Duration = std::time::Duration::from_secs(10);

/// Waits for `check` to hold (for work the proxy or the stub does in the
/// background), polling every 20 ms; fails with `what` when it does not
/// within [`EVENTUALLY`].
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + EVENTUALLY;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Settings for a proxy in front of `stub`: a free loopback port, the
/// memory store, then `extra` on top.
pub fn settings_for(stub: &Stub, extra: Vec<(&str, String)>) -> HashMap<String, String> {
    let base = [
        ("SUPABASE_URL", stub.url()),
        ("SUPABASE_ANON_KEY", stub.anon_key()),
        ("PROXY_LISTEN", "127.0.0.1:0".to_string()),
        ("PROXY_SESSION_STORE", "memory:".to_string()),
    ];
    base.into_iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

pub async fn start_proxy(settings: &HashMap<String, String>) -> RunningProxy {
    let config = Config::load(settings).expect("valid test config");
    sb_cookie_proxy::start(config).await.expect("proxy starts")
}
