//! `supabase-stub`: runs the stand-in Supabase on 127.0.0.1 for the Node
//! client tests and the demo. Prints one JSON line (`url`, `anon_key`,
//! `service_role_key`, `jwt_secret`) to stdout, then serves until SIGTERM or
//! SIGINT.

use std::io::Write;

use clap::Parser;
use sbp_stub::{Stub, StubConfig};
use serde::Serialize;

#[derive(Debug, Parser)]
#[command(
    about = "Stand-in Supabase (Auth, PostgREST, Storage, Functions, Realtime) for tests. Dev-only."
)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Lifetime of issued access tokens, in seconds.
    #[arg(long = "token-ttl", value_name = "SECS", default_value_t = 3600)]
    token_ttl: u64,
    /// Sign-ups need confirmation (answer with a bare user, no session).
    #[arg(long)]
    no_autoconfirm: bool,
    /// HS256 secret for every JWT (defaults to the local-development secret).
    #[arg(long)]
    jwt_secret: Option<String>,
    /// Encode JSON answers with br or gzip when the request allows it, as
    /// the CDN in front of hosted Supabase does (also SBP_STUB_COMPRESS=1).
    #[arg(long, env = "SBP_STUB_COMPRESS", value_parser = clap::builder::BoolishValueParser::new())]
    compress: bool,
    /// Do not set GoTrue's legacy `sb-access-token` / `sb-refresh-token` cookies.
    #[arg(long)]
    no_legacy_cookies: bool,
}

/// The line printed on start.
#[derive(Serialize)]
struct Started {
    url: String,
    anon_key: String,
    service_role_key: String,
    jwt_secret: String,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let defaults = StubConfig::default();
    let config = StubConfig {
        jwt_secret: args.jwt_secret.unwrap_or(defaults.jwt_secret),
        access_token_ttl: args.token_ttl,
        autoconfirm: !args.no_autoconfirm,
        compress: args.compress,
        legacy_cookies: !args.no_legacy_cookies,
        ..defaults
    };
    let stub = Stub::start_on(config, args.port).await?;
    let started = Started {
        url: stub.url(),
        anon_key: stub.anon_key(),
        service_role_key: stub.service_role_key(),
        jwt_secret: stub.jwt_secret(),
    };
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, &started)?;
    writeln!(stdout)?;
    stdout.flush()?;
    drop(stdout);
    wait_for_stop_signal().await?;
    stub.shutdown().await;
    Ok(())
}

async fn wait_for_stop_signal() -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted,
        _ = terminate.recv() => Ok(()),
    }
}
