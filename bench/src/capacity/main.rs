//! `capacity-load`: the client side of `bench/capacity.sh`, in two steps,
//! each printing one JSON object on stdout (errors included; it exits 0
//! once it ran, and the script decides):
//!
//! - `sessions`: signs users up at the stand-in Auth directly, then signs
//!   each in once through the proxies in turn (password grant, bounded
//!   concurrency), and writes the sessions to a file.
//! - `load`: for a bounded time, visits random sessions on random instances
//!   (`GET /edge/v1/session`, then three `GET /rest/v1/todos`), checks
//!   every answer, and predicts the refreshes the proxies should send from
//!   the token lifetime and refresh margin.
//!
//! Loopback only: every URL comes from the script.

mod client;
mod load;
mod sessions;
mod tally;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(about = "Client side of bench/capacity.sh (sign-ins, then a mixed load).")]
struct Args {
    #[command(subcommand)]
    step: Step,
}

#[derive(Debug, Subcommand)]
enum Step {
    /// Sign COUNT users up at the stand-in, then in through the proxies.
    Sessions(sessions::Options),
    /// Visit the sessions of FILE on every proxy for a bounded time.
    Load(load::Options),
}

#[tokio::main]
async fn main() {
    let report = match Args::parse().step {
        Step::Sessions(options) => sessions::run(options).await,
        Step::Load(options) => load::run(options).await,
    };
    match report {
        Ok(report) => println!("{report}"),
        Err(e) => {
            eprintln!("capacity-load: {e}");
            std::process::exit(1);
        }
    }
}
