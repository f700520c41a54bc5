//! The command line: `--rounds N`, `--warmup N`, `--vouchers N`, `--doc FILE`, and cargo's
//! `--bench`.

use std::path::PathBuf;

/// `scripts/bench backup [--vouchers N] [--rounds N] [--warmup N]`.
#[derive(Debug, clap::Parser)]
#[command(bin_name = "backup")]
pub(crate) struct Args {
    /// Set by `cargo bench`; without it only the statistics are checked.
    #[arg(long)]
    pub(crate) bench: bool,
    /// Measured rounds, each timing every dump and restore once.
    #[arg(
        long,
        default_value_t = 5,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..),
    )]
    pub(crate) rounds: usize,
    /// Unmeasured rounds before the measured ones.
    #[arg(long, default_value_t = 1)]
    pub(crate) warmup: usize,
    /// Vouchers of three lines each to fill the tenant with.
    #[arg(long, default_value_t = 250_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) vouchers: u64,
    /// Markdown file whose section to replace with the results.
    #[arg(long)]
    pub(crate) doc: Option<PathBuf>,
}
