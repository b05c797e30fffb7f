//! `sb-cookie-proxy`: reads the configuration and runs the proxy.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc: faster than glibc's malloc for the proxy's many small, short
/// allocations, and it gives freed memory back instead of keeping the
/// high-water mark of many concurrent large bodies.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Supabase cookie auth proxy: an HttpOnly session cookie instead of JWTs in the browser.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// A TOML file with the same keys as the environment variables
    /// (environment variables override it).
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Serve (the default).
    Serve,
    /// Run in front of a built-in stand-in Supabase, to try the proxy
    /// without a project. Every setting but the upstream applies.
    #[cfg(feature = "demo")]
    Demo {
        /// Also stand in front of the web app at URL (PROXY_APP_URL), e.g.
        /// `http://127.0.0.1:3000` for examples/nextjs under `next dev`.
        #[arg(long, value_name = "URL")]
        app: Option<String>,
    },
}

/// Exit code for a configuration that cannot be used.
const BAD_CONFIG: u8 = 2;

/// tokio's single-threaded scheduler on this thread: it serves the first
/// listener, and the server starts one more thread per further worker
/// (`PROXY_WORKERS`, one per CPU), each with its own runtime and listener.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("sb-cookie-proxy: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => match sb_cookie_proxy::config::load(cli.config.as_deref()) {
            Ok(config) => runtime.block_on(serve(config)),
            Err(e) => Err(e.into()),
        },
        #[cfg(feature = "demo")]
        Command::Demo { app } => runtime.block_on(demo(cli.config.as_deref(), app.as_deref())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e)
            if e.downcast_ref::<sb_cookie_proxy::Error>()
                .is_some_and(is_config_error) =>
        {
            eprintln!("sb-cookie-proxy: cannot start:\n{e}");
            ExitCode::from(BAD_CONFIG)
        }
        Err(e) => {
            eprintln!("sb-cookie-proxy: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_config_error(e: &sb_cookie_proxy::Error) -> bool {
    matches!(
        e,
        sb_cookie_proxy::Error::Config(_) | sb_cookie_proxy::Error::ConfigFile { .. }
    )
}

async fn serve(config: sbp_core::config::Config) -> anyhow::Result<()> {
    let proxy = sb_cookie_proxy::start(config).await?;
    let signals = StopSignals::install()?;
    println!("sb-cookie-proxy listening on http://{}", proxy.addr);
    if let Some(admin) = proxy.admin_addr {
        println!("sb-cookie-proxy admin listener on http://{admin}");
    }
    run_until(signals, proxy).await;
    Ok(())
}

#[cfg(feature = "demo")]
async fn demo(file: Option<&std::path::Path>, app: Option<&str>) -> anyhow::Result<()> {
    let demo = sb_cookie_proxy::demo::start(file, app).await?;
    let signals = StopSignals::install()?;
    println!("{}", sb_cookie_proxy::demo::instructions(&demo));
    println!("sb-cookie-proxy listening on http://{}", demo.proxy.addr);
    let sb_cookie_proxy::demo::Demo { stub, proxy, .. } = demo;
    run_until(signals, proxy).await;
    stub.shutdown().await;
    Ok(())
}

async fn run_until(signals: StopSignals, proxy: sb_cookie_proxy::RunningProxy) {
    let stop = proxy.stopper();
    tokio::spawn(async move {
        signals.wait().await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    proxy.wait().await;
}

/// SIGTERM and SIGINT (Ctrl-C), listened for from the moment they are
/// installed: before the proxy says it is listening, so that a signal sent
/// as soon as that line is read stops it gracefully.
#[cfg(unix)]
struct StopSignals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl StopSignals {
    fn install() -> std::io::Result<StopSignals> {
        use tokio::signal::unix::{SignalKind, signal};
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

/// Ctrl-C.
#[cfg(not(unix))]
struct StopSignals;

#[cfg(not(unix))]
impl StopSignals {
    fn install() -> std::io::Result<StopSignals> {
        Ok(StopSignals)
    }

    async fn wait(self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
