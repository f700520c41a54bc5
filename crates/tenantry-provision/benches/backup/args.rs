//! The command line: `--rounds N`, `--warmup N`, `--vouchers N`, `--doc FILE`, and cargo's
//! `--bench`.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail, ensure};

const USAGE: &str = "usage: backup [--rounds N] [--warmup N] [--vouchers N] [--doc FILE]";

pub(crate) struct Args {
    pub(crate) bench: bool,
    pub(crate) rounds: usize,
    pub(crate) warmup: usize,
    pub(crate) vouchers: u64,
    pub(crate) doc: Option<PathBuf>,
}

pub(crate) fn parse_args() -> Result<Args> {
    let (rounds, warmup, vouchers) = (5, 1, 250_000);
    let mut a = Args {
        bench: false,
        rounds,
        warmup,
        vouchers,
        doc: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .with_context(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--bench" => a.bench = true,
            "--rounds" => a.rounds = value()?.parse().context("--rounds")?,
            "--warmup" => a.warmup = value()?.parse().context("--warmup")?,
            "--vouchers" => a.vouchers = value()?.parse().context("--vouchers")?,
            "--doc" => a.doc = Some(value()?.into()),
            _ => bail!("unknown argument {arg:?}\n{USAGE}"),
        }
    }
    ensure!(
        a.rounds >= 1 && a.vouchers >= 1,
        "--rounds and --vouchers must be at least 1"
    );
    Ok(a)
}
