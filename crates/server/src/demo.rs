//! `sb-cookie-proxy demo`: the proxy in front of the stand-in Supabase, so
//! the proxy can be tried without a Supabase project; with `--app URL`, the
//! proxy also stands in front of that app (`PROXY_APP_URL`), as
//! `examples/nextjs` runs.

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
    /// The app the proxy stands in front of (`--app`), if any.
    pub app: Option<String>,
}

/// Starts the stand-in Supabase and the proxy in front of it, and of `app`
/// (the app's URL) when given. Settings come from the environment and
/// `file` as usual, except the upstream (and the app, when given).
pub async fn start(file: Option<&Path>, app: Option<&str>) -> anyhow::Result<Demo> {
    let stub = Stub::start(StubConfig::default()).await?;
    stub.create_user(DEMO_EMAIL, DEMO_PASSWORD);
    let mut fixed = HashMap::from([
        ("SUPABASE_URL".to_string(), stub.url()),
        ("SUPABASE_ANON_KEY".to_string(), stub.anon_key()),
    ]);
    if let Some(app) = app {
        fixed.insert("PROXY_APP_URL".to_string(), app.to_string());
    }
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
    Ok(Demo {
        stub,
        proxy,
        app: app.map(str::to_string),
    })
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
    let app = match &demo.app {
        Some(app) => format!(
            "\nThe app at {app} is served at {origin}/ (run it with PROXY_PUBLIC_URL={origin}).\n"
        ),
        None => String::new(),
    };
    format!(
        "sb-cookie-proxy demo: the proxy is on {base}, in front of a stand-in Supabase at {stub}.
Sessions are kept in: {store}. A user exists: {DEMO_EMAIL} / {DEMO_PASSWORD}.
{app}
The stand-in sends no email: make a sign-in link with its service key, then open
{origin}/edge/v1/confirm?token_hash=<hashed_token>&type=magiclink&next=/
  curl -s -H 'apikey: {service}' -H 'authorization: Bearer {service}' \\
       -H 'content-type: application/json' -d '{{\"type\":\"magiclink\",\"email\":\"{DEMO_EMAIL}\"}}' \\
       {stub}/auth/v1/admin/generate_link

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
        service = demo.stub.service_role_key(),
    )
}
