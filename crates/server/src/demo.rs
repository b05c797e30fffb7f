//! `sb-cookie-proxy demo`: the proxy in front of the stand-in Supabase, so
//! the proxy can be tried without a Supabase project.

use sbp_stub::{Stub, StubConfig};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

pub const DEMO_EMAIL: &str = "demo@example.com";
pub const DEMO_PASSWORD: &str = "demo-password";

/// A running demo: the stub must live as long as the proxy.
pub struct Demo {
    pub stub: Stub,
    pub proxy: crate::RunningProxy,
}

/// Starts the stand-in Supabase and the proxy in front of it. Settings come
/// from the environment and `file` as usual, except the upstream.
pub async fn start(file: Option<&Path>) -> anyhow::Result<Demo> {
    let stub = Stub::start(StubConfig::default()).await?;
    stub.create_user(DEMO_EMAIL, DEMO_PASSWORD);
    let mut fixed = HashMap::from([
        ("SUPABASE_URL".to_string(), stub.url()),
        ("SUPABASE_ANON_KEY".to_string(), stub.anon_key()),
    ]);
    // Without a public URL, the demo's page origin is where it listens.
    let settings = crate::config::Settings::read(file)?;
    if settings.get("PROXY_PUBLIC_URL").is_none() {
        let mut listen = settings
            .get("PROXY_LISTEN")
            .unwrap_or_else(|| "127.0.0.1:8787".into());
        // Any free port (`:0`): picked here, so that the origin names it.
        if let Ok(addr) = listen.trim().parse::<SocketAddr>()
            && addr.port() == 0
        {
            listen = std::net::TcpListener::bind(addr)?.local_addr()?.to_string();
            fixed.insert("PROXY_LISTEN".to_string(), listen.clone());
        }
        fixed.insert("PROXY_PUBLIC_URL".to_string(), format!("http://{listen}"));
    }
    let config = settings.load(fixed)?;
    let proxy = crate::start(config).await?;
    Ok(Demo { stub, proxy })
}

/// What to try, printed when the demo starts.
pub fn instructions(demo: &Demo) -> String {
    let base = format!("http://{}", demo.proxy.addr);
    let origin = demo.proxy.app.config.public_url.origin().as_str();
    let store = match &demo.proxy.app.config.session_store {
        sbp_core::config::StoreSpec::Memory => "memory".to_string(),
        sbp_core::config::StoreSpec::File(path) => format!("file {}", path.display()),
        sbp_core::config::StoreSpec::Redis(_) => "Redis".to_string(),
    };
    format!(
        "sb-cookie-proxy demo: the proxy is on {base}, in front of a stand-in Supabase at {stub}.
Sessions are kept in: {store}. A user exists: {DEMO_EMAIL} / {DEMO_PASSWORD}.

Try, in another terminal:
  # sign in: the answer has placeholder tokens, the cookie is the session.
  # (Unsafe requests need the app's Origin, as a browser sends it.)
  curl -si -c jar -H 'content-type: application/json' -H 'origin: {origin}' \\
       -d '{{\"email\":\"{DEMO_EMAIL}\",\"password\":\"{DEMO_PASSWORD}\"}}' \\
       '{base}/auth/v1/token?grant_type=password'
  curl -s -b jar {base}/edge/v1/session        # who is this (no tokens)
  curl -s -b jar {base}/rest/v1/todos          # PostgREST sees the real user
  curl -s        {base}/rest/v1/todos          # ...and anon without the cookie
  curl -s -b jar {base}/edge/v1/sessions       # this user's sessions
  curl -si -b jar -c jar -H 'origin: {origin}' -X POST {base}/auth/v1/logout
Stop with Ctrl-C.",
        stub = demo.stub.url(),
    )
}
