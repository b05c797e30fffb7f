//! `sb-cookie-proxy`: reads the configuration and runs the proxy.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// Supabase cookie auth proxy: an HttpOnly session cookie instead of JWTs in the browser.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// A TOML file with the same keys as the environment variables
    /// (environment variables override it).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Exit code for a configuration that cannot be used.
const BAD_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = match sb_cookie_proxy::config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("sb-cookie-proxy: cannot start:\n{e}");
            return ExitCode::from(BAD_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("sb-cookie-proxy: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sb-cookie-proxy: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: sbp_core::config::Config) -> anyhow::Result<()> {
    let proxy = sb_cookie_proxy::start(config).await?;
    println!("sb-cookie-proxy listening on http://{}", proxy.addr);
    let stop = proxy.stopper();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    proxy.wait().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
