//! The command line: `--bench`, `--duration`, `--warmup`, `--concurrency` and `--doc FILE`.

use std::path::PathBuf;

use clap::builder::RangedU64ValueParser;

/// `scripts/bench pool [--duration SECS] [--warmup SECS] [--concurrency N]`.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "pool", bin_name = "pool", args_override_self = true)]
pub(crate) struct Args {
    /// Set by `cargo bench`; without it only the report arithmetic is checked.
    #[arg(long)]
    pub(crate) bench: bool,
    /// Measured seconds per load.
    #[arg(long, value_name = "SECS", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) duration: u64,
    /// Unmeasured seconds of load before each measured window.
    #[arg(long, value_name = "SECS", default_value_t = 4)]
    pub(crate) warmup: u64,
    /// Closed-loop tasks issuing requests.
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub(crate) concurrency: usize,
    /// Also write the results into this markdown file (its section replaced).
    #[arg(long, value_name = "FILE")]
    pub(crate) doc: Option<PathBuf>,
}
