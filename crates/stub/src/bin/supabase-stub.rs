//! `supabase-stub`: runs the stand-in Supabase on 127.0.0.1 for the Node
//! client tests and the demo. Prints one JSON line (`url`, `anon_key`,
//! `service_role_key`, `jwt_secret`) to stdout, then serves until SIGTERM or
//! SIGINT.

use std::io::Write;

use clap::Parser;
use sbp_stub::{Stub, StubConfig};
use serde::Serialize;
use tokio::signal::unix::{Signal, SignalKind, signal};

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
    // The handlers are in place before the start line is printed, so that
    // a signal sent as soon as it is read stops the stand-in gracefully.
    let stop = StopSignals::install()?;
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
    stop.wait().await;
    stub.shutdown().await;
    Ok(())
}

/// SIGTERM and SIGINT, listened for from the moment they are installed.
struct StopSignals {
    terminate: Signal,
    interrupt: Signal,
}

impl StopSignals {
    fn install() -> std::io::Result<StopSignals> {
        Ok(StopSignals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}
