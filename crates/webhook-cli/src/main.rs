//! `webhook`: the command line of this workspace.
//!
//! - `webhook sign` signs a body as any provider `webhook-core` verifies would, and prints
//!   the headers to send (`--json` for scripts).
//! - `webhook send` signs a body and POSTs it to a receiver over `http://`, printing the
//!   status and the response; it exits 1 unless the answer is 2xx.
//! - `webhook events list | show | replay | purge` reads, re-queues and deletes the events a receiver stored
//!   (`--database-url` or `DATABASE_URL`: `sqlite://path` or `postgres://…`).
//! - `webhook providers` lists the provider names and the secret each expects.
//!
//! Exit codes: 0 success, 1 the operation failed, 2 bad arguments. Secrets are never
//! printed. The manual is `docs/CLI.md` at the root of the workspace.

// A command-line tool's output is its purpose: results go to standard output (through
// `output::write_stdout`, which also survives a closed pipe) and notes and errors to
// standard error.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod audit;
mod cli;
mod events;
mod keys;
mod output;
mod send;
mod sign;

use std::process::ExitCode;

use clap::Parser;
use webhook_core::Provider;

use crate::cli::{Cli, Command, ProvidersArgs};
use crate::output::Failure;

fn main() -> ExitCode {
    // clap answers --help, --version and its own usage errors itself (exit code 2).
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("error: {}", failure.message());
            failure.exit_code()
        }
    }
}

fn run(cli: &Cli) -> Result<ExitCode, Failure> {
    match &cli.command {
        Command::Sign(args) => sign::run(args).map(|()| ExitCode::SUCCESS),
        Command::Send(args) => send::run(args),
        Command::Events(args) => events::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Providers(args) => providers(args).map(|()| ExitCode::SUCCESS),
    }
}

/// `webhook providers`.
fn providers(args: &ProvidersArgs) -> Result<(), Failure> {
    if args.json {
        let list = Provider::all()
            .iter()
            .map(|p| serde_json::json!({ "name": p.name(), "secret": keys::secret_hint(*p) }))
            .collect();
        return output::print_json(&serde_json::Value::Array(list));
    }
    let rows: Vec<Vec<String>> =
        Provider::all().iter().map(|p| vec![p.name().to_owned(), keys::secret_hint(*p).to_owned()]).collect();
    output::write_stdout(output::table(&["PROVIDER", "SECRET"], &rows).as_bytes())
}
