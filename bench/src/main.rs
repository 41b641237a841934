//! `autopmo-bench`: the bench runner (see `bench/README.md`).
//!
//! `run` does everything and prints one markdown table; the other commands
//! are its parts, each run as a child process pinned to the server's core:
//! `hello` (a bare axum hello-world), `micro` (the limits), `seed` (the data
//! set, through the store crate) and `append` (the audit append rate).

mod append;
mod autopmo;
mod diskprobe;
mod hello;
mod http;
mod micro;
mod pgpin;
mod prepare;
mod report;
mod rng;
mod run;
mod scenarios;
mod seed;
mod seed_audit;
mod server;
mod wrk;

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::process::ExitCode;

/// AutoPMO's bench runner.
#[derive(Debug, Parser)]
#[command(name = "autopmo-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Everything: limits, peer, AutoPMO on SQLite and PostgreSQL; one table of medians.
    Run(run::RunArgs),
    /// Serve a bare axum hello-world.
    Hello {
        /// Address to listen on.
        #[arg(long)]
        listen: SocketAddr,
    },
    /// Measure the limits (argon2id, RS256, authorization, commits); prints JSON.
    Micro(micro::MicroArgs),
    /// Seed a database through the store crate.
    Seed(seed::SeedArgs),
    /// Measure the audit append rate on a seeded database; prints JSON.
    Append(append::AppendArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run::run(args).await,
            Command::Hello { listen } => hello::serve(listen).await,
            Command::Micro(args) => micro::run(args).await,
            Command::Seed(args) => seed::run(args).await,
            Command::Append(args) => append::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
