//! `sb-cookie-proxy demo`: the proxy in front of the stand-in Supabase, so
//! the proxy can be tried without a Supabase project.

use sbp_stub::{Stub, StubConfig};
use std::collections::HashMap;
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
    let fixed = HashMap::from([
        ("SUPABASE_URL".to_string(), stub.url()),
        ("SUPABASE_ANON_KEY".to_string(), stub.anon_key()),
    ]);
    let config = crate::config::load_with(file, fixed)?;
    let proxy = crate::start(config).await?;
    Ok(Demo { stub, proxy })
}

/// What to try, printed when the demo starts.
pub fn instructions(demo: &Demo) -> String {
    let base = format!("http://{}", demo.proxy.addr);
    let store = match &demo.proxy.app.config.session_store {
        sbp_core::config::StoreSpec::Memory => "memory".to_string(),
        sbp_core::config::StoreSpec::File(path) => format!("file {}", path.display()),
    };
    format!(
        "sb-cookie-proxy demo: the proxy is on {base}, in front of a stand-in Supabase at {stub}.
Sessions are kept in: {store}. A user exists: {DEMO_EMAIL} / {DEMO_PASSWORD}.

Try, in another terminal:
  # sign in: the answer has placeholder tokens, the cookie is the session
  curl -si -c jar -H 'content-type: application/json' \\
       -d '{{\"email\":\"{DEMO_EMAIL}\",\"password\":\"{DEMO_PASSWORD}\"}}' \\
       '{base}/auth/v1/token?grant_type=password'
  curl -s -b jar {base}/edge/v1/session        # who is this (no tokens)
  curl -s -b jar {base}/rest/v1/todos          # PostgREST sees the real user
  curl -s        {base}/rest/v1/todos          # ...and anon without the cookie
  curl -s -b jar {base}/edge/v1/sessions       # this user's sessions
  curl -si -b jar -c jar -X POST {base}/auth/v1/logout
Stop with Ctrl-C.",
        stub = demo.stub.url(),
    )
}
