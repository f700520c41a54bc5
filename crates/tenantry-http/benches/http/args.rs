//! The benchmark's arguments: `Args`, their defaults, parsing and `USAGE`.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail, ensure};

use crate::wrk::WRK_TIMEOUT;

const USAGE: &str = "usage: http [--threads N] [--connections N] [--duration SECS] \
                     [--rounds N] [--warmup SECS] [--tenants N] [--plan ID] [--workers N] \
                     [--doc FILE]";

#[derive(Debug, Clone)]
pub(crate) struct Args {
    /// `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it.
    pub(crate) bench: bool,
    pub(crate) threads: usize,
    pub(crate) connections: usize,
    pub(crate) duration: u64,
    pub(crate) rounds: usize,
    pub(crate) warmup: u64,
    /// Tenants of the round-robin figure (the hot tenant is one of them); 0 skips it.
    pub(crate) tenants: usize,
    /// The tenants' plan: its `max_connections` sizes every pool.
    pub(crate) plan: String,
    /// Actix workers of every server; 0 = one per CPU (the default of `server.workers`).
    pub(crate) workers: usize,
    pub(crate) doc: Option<PathBuf>,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            bench: false,
            threads: 2,
            connections: 32,
            duration: 10,
            rounds: 3,
            warmup: 3,
            tenants: 8,
            plan: "standard".into(),
            workers: 0,
            doc: None,
        }
    }
}

impl Args {
    /// The flags that differ from the defaults, as `scripts/bench http` takes them.
    pub(crate) fn non_default(&self) -> String {
        let d = Args::default();
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

pub(crate) fn parse_args(raw: impl IntoIterator<Item = String>) -> Result<Args> {
    let mut args = Args::default();
    let mut it = raw.into_iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--bench" => args.bench = true,
            "--threads" => args.threads = value("--threads")?.parse().context("--threads")?,
            "--connections" => {
                args.connections = value("--connections")?.parse().context("--connections")?
            }
            "--duration" => args.duration = value("--duration")?.parse().context("--duration")?,
            "--rounds" => args.rounds = value("--rounds")?.parse().context("--rounds")?,
            "--warmup" => args.warmup = value("--warmup")?.parse().context("--warmup")?,
            "--tenants" => args.tenants = value("--tenants")?.parse().context("--tenants")?,
            "--plan" => args.plan = value("--plan")?,
            "--workers" => args.workers = value("--workers")?.parse().context("--workers")?,
            "--doc" => args.doc = Some(value("--doc")?.into()),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    ensure!(args.threads >= 1, "--threads must be at least 1");
    ensure!(
        args.connections >= args.threads,
        "--connections must be at least --threads"
    );
    ensure!(args.duration >= 1, "--duration must be at least 1 second");
    ensure!(args.rounds >= 1, "--rounds must be at least 1");
    ensure!(
        args.tenants != 1,
        "--tenants must be 0 (no round-robin figure) or at least 2"
    );
    Ok(args)
}
