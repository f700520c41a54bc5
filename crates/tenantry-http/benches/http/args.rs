//! The benchmark's arguments: `Args`, their defaults, parsing and checks.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::PathBuf;

use clap::builder::RangedU64ValueParser;
use clap::error::ErrorKind;
use clap::{CommandFactory as _, Parser as _};

use crate::wrk::WRK_TIMEOUT;

/// `scripts/bench http [--threads N] [--connections N] [--duration SECS] [--rounds N]
/// [--warmup SECS] [--tenants N] [--plan ID] [--workers N]`.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "http", bin_name = "http", args_override_self = true)]
pub(crate) struct Args {
    /// Set by `cargo bench`; without it (under `cargo test --all-targets`) only the report logic
    /// is checked.
    #[arg(long)]
    pub(crate) bench: bool,
    /// wrk's threads (`wrk -t`).
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub(crate) threads: usize,
    /// wrk's open connections (`wrk -c`), at least --threads.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub(crate) connections: usize,
    /// Measured seconds per load and round (`wrk -d`).
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) duration: u64,
    /// Measured rounds, each running every load once (the order rotated).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub(crate) rounds: usize,
    /// Unmeasured seconds of load on each server before the rounds; 0 skips the warm-up.
    #[arg(long, value_name = "SECS", default_value_t = 3)]
    pub(crate) warmup: u64,
    /// Tenants of the round-robin figure (the hot tenant is one of them); 0 skips it.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = tenants)]
    pub(crate) tenants: usize,
    /// The tenants' plan: its `max_connections` sizes every pool.
    #[arg(long, value_name = "ID", default_value = "standard")]
    pub(crate) plan: String,
    /// Actix workers of every server; 0 = one per CPU (the default of `server.workers`).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) workers: usize,
    /// Also write the results into this markdown file (its section replaced).
    #[arg(long, value_name = "FILE")]
    pub(crate) doc: Option<PathBuf>,
}

/// `--tenants`: 0 or at least 2.
fn tenants(raw: &str) -> Result<usize, String> {
    match raw.parse::<usize>().map_err(|e| e.to_string())? {
        1 => Err("must be 0 (no round-robin figure) or at least 2".into()),
        n => Ok(n),
    }
}

impl Args {
    /// The flags that differ from the defaults, as `scripts/bench http` takes them.
    pub(crate) fn non_default(&self) -> String {
        let d = Args::parse_from(["http"]);
        let mut out = String::new();
        for (name, value, default) in [
            ("--threads", self.threads as u64, d.threads as u64),
            (
                "--connections",
                self.connections as u64,
                d.connections as u64,
            ),
            ("--duration", self.duration, d.duration),
            ("--rounds", self.rounds as u64, d.rounds as u64),
            ("--warmup", self.warmup, d.warmup),
            ("--tenants", self.tenants as u64, d.tenants as u64),
            ("--workers", self.workers as u64, d.workers as u64),
        ] {
            if value != default {
                let _ = write!(out, " {name} {value}");
            }
        }
        if self.plan != d.plan {
            let _ = write!(out, " --plan {}", self.plan);
        }
        out
    }

    pub(crate) fn wrk_flags(&self) -> String {
        format!(
            "-t{} -c{} -d{}s --timeout {WRK_TIMEOUT}",
            self.threads, self.connections, self.duration
        )
    }
}

/// Parses the command line (the program's name first), then checks what clap's attributes cannot
/// express. `--help` comes back as an error too: the caller ends with [`clap::Error::exit`].
pub(crate) fn parse_args<I, T>(raw: I) -> Result<Args, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = Args::try_parse_from(raw)?;
    if args.connections < args.threads {
        return Err(Args::command().error(
            ErrorKind::ArgumentConflict,
            "--connections must be at least --threads",
        ));
    }
    Ok(args)
}
