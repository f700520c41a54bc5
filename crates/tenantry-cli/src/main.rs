//! `tenantry`: the one binary. Parses the command line, loads and validates settings, runs a
//! subcommand, and turns its outcome into an exit code (see [`error::CliError::exit_code`]).

mod cli;
mod commands;
mod context;
mod error;
mod logging;
mod output;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::context::Context;
use crate::error::CliError;

/// A request allocates and frees many small buffers on two or more worker threads; mimalloc's
/// thread-local heaps serve that with fewer atomic operations than glibc's arenas
/// (docs/benchmarks.md, the hot path).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let ctx = Context::load(cli.config.as_deref())?;
    logging::init(&ctx.settings.log);
    match cli.command {
        Command::Serve => commands::serve::run(&ctx).await,
        Command::Master(cmd) => commands::master::run(&ctx, cmd).await,
        Command::Admins(cmd) => commands::admins::run(&ctx, cmd).await,
        Command::Servers(cmd) => commands::servers::run(&ctx, cmd).await,
        Command::Tenants(cmd) => commands::tenants::run(&ctx, cmd).await,
        Command::Operations(cmd) => commands::operations::run(&ctx, cmd).await,
        Command::Reconcile {
            stale_after,
            catalog_only,
            output,
        } => commands::reconcile::run(&ctx, stale_after, catalog_only, output).await,
        Command::Doctor(args) => commands::doctor::run(&ctx, args).await,
    }
}
