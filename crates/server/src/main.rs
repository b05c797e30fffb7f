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
    /// List or revoke sessions in the configured store (file or Redis).
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Check the configuration, then probe the project (Auth, REST,
    /// Realtime, mint mode) and the session store: one line per probe.
    /// Exits 0 when all pass, 1 when one fails, 2 for a bad configuration.
    Check,
}

#[derive(clap::Subcommand)]
enum SessionsCommand {
    /// Print a user's sessions, one line each (never a token).
    List {
        #[command(flatten)]
        who: ListSelector,
        /// One JSON array instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// End sessions: running instances close them within a second.
    Revoke {
        #[command(flatten)]
        who: RevokeSelector,
        /// One JSON array of the ended sessions instead of lines.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct ListSelector {
    /// The user's id (Auth's `sub`).
    #[arg(long, value_name = "ID")]
    user: Option<String>,
    /// The user's email (scans the store).
    #[arg(long, value_name = "E")]
    email: Option<String>,
}

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct RevokeSelector {
    /// Every session of the user with this id.
    #[arg(long, value_name = "ID")]
    user: Option<String>,
    /// The session with this public id.
    #[arg(long, value_name = "ID")]
    session: Option<String>,
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
    if let Err(problem) = init_logs(cli.config.as_deref()) {
        eprintln!("sb-cookie-proxy: cannot start:\n{problem}");
        return ExitCode::from(BAD_CONFIG);
    }
    let command = cli.command.unwrap_or(Command::Serve);
    // `check` reports unknown variables in its own lines.
    if !matches!(command, Command::Check) {
        for unknown in sb_cookie_proxy::config::unknown_environment() {
            tracing::warn!("{unknown} (ignored)");
        }
    }
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("sb-cookie-proxy: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match command {
        Command::Serve => match sb_cookie_proxy::config::load(cli.config.as_deref()) {
            Ok(config) => runtime.block_on(serve(config)),
            Err(e) => Err(e.into()),
        },
        #[cfg(feature = "demo")]
        Command::Demo { app } => runtime.block_on(demo(cli.config.as_deref(), app.as_deref())),
        Command::Sessions(command) => match sb_cookie_proxy::config::load(cli.config.as_deref()) {
            Ok(config) => runtime.block_on(sessions(&config, command)),
            Err(e) => Err(e.into()),
        },
        Command::Check => return check(&runtime, cli.config.as_deref()),
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

/// Libraries whose debug and trace lines print what crosses the wire
/// (tungstenite writes the whole upgrade request, `apikey` and cookies
/// included, and frames with their tokens): held at info whatever
/// `RUST_LOG` asks, so that no level logs a secret.
const WIRE_LOGGERS: &[&str] = &["tungstenite=info", "tokio_tungstenite=info"];

/// Log lines on stderr, as `PROXY_LOG_FORMAT` (environment or file) asks;
/// colour codes only when stderr is a terminal. A config file that cannot
/// be read is reported by the configuration's loading, after this.
fn init_logs(file: Option<&std::path::Path>) -> Result<(), String> {
    use sbp_core::config::{LogFormat, parse_log_format};
    use std::io::IsTerminal;
    let setting = sb_cookie_proxy::config::Settings::read(file)
        .ok()
        .and_then(|settings| settings.get("PROXY_LOG_FORMAT"));
    let format = parse_log_format(setting.as_deref());
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    for quiet in WIRE_LOGGERS {
        filter = filter.add_directive(quiet.parse().expect("a valid directive"));
    }
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        Ok(LogFormat::Json) => logs.json().flatten_event(true).init(),
        Ok(LogFormat::Text) | Err(_) => logs.with_ansi(std::io::stderr().is_terminal()).init(),
    }
    format.map(|_| ())
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

/// Serves until SIGTERM or SIGINT, then drains (`PROXY_DRAIN_TIMEOUT`)
/// and closes the store.
async fn run_until(signals: StopSignals, proxy: sb_cookie_proxy::RunningProxy) {
    proxy.serve_until(signals.wait()).await;
}

/// `check`: prints one line per probe; the exit code says whether all passed.
fn check(runtime: &tokio::runtime::Runtime, file: Option<&std::path::Path>) -> ExitCode {
    let report = runtime.block_on(sb_cookie_proxy::check::run(file));
    for line in &report.lines {
        println!("{line}");
    }
    ExitCode::from(report.exit_code())
}

/// `sessions list|revoke`: prints the sessions listed or ended.
async fn sessions(
    config: &sbp_core::config::Config,
    command: SessionsCommand,
) -> anyhow::Result<()> {
    use sb_cookie_proxy::admin::{Admin, HEADER, Selector};
    let admin = Admin::open(config)?;
    let (rows, json) = match command {
        SessionsCommand::List { who, json } => {
            let selector = match (who.user, who.email) {
                (Some(id), _) => Selector::User(id),
                (None, Some(email)) => Selector::Email(email),
                (None, None) => unreachable!("clap requires one selector"),
            };
            (admin.list(&selector).await?, json)
        }
        SessionsCommand::Revoke { who, json } => {
            let selector = match (who.user, who.session) {
                (Some(id), _) => Selector::User(id),
                (None, Some(id)) => Selector::Session(id),
                (None, None) => unreachable!("clap requires one selector"),
            };
            let ended = admin.revoke(&selector).await?;
            if let (Selector::Session(id), true) = (&selector, ended.is_empty()) {
                anyhow::bail!("no live session has the id {id}");
            }
            if !json {
                eprintln!("ended {} session(s)", ended.len());
            }
            (ended, json)
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!("{HEADER}");
        for row in &rows {
            println!("{}", row.line());
        }
    }
    Ok(())
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
