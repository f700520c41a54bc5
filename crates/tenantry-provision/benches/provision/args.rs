//! The command line: `--tenants N`, `--warmup N`, `--doc FILE`, and cargo's `--bench`.

use std::path::PathBuf;

/// `--warmup` when not given; the report leaves it out of the command it cites then.
pub(crate) const DEFAULT_WARMUP: usize = 3;

/// `scripts/bench provision [--tenants N] [--warmup N]`.
#[derive(Debug, clap::Parser)]
#[command(bin_name = "provision")]
pub(crate) struct Args {
    /// Set by `cargo bench`; `cargo test --all-targets` runs this binary without it, and then
    /// only the report logic is checked.
    #[arg(long)]
    pub(crate) bench: bool,
    /// Tenants to provision per measurement, one a round.
    #[arg(
        long,
        default_value_t = 20,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..),
    )]
    pub(crate) tenants: usize,
    /// Unmeasured rounds before the measured ones.
    #[arg(long, default_value_t = DEFAULT_WARMUP)]
    pub(crate) warmup: usize,
    /// Markdown file whose section to replace with the results.
    #[arg(long)]
    pub(crate) doc: Option<PathBuf>,
}
