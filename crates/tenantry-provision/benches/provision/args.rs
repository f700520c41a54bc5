//! The command line: `--tenants N`, `--warmup N`, `--doc FILE`, and cargo's `--bench`.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail, ensure};

const DEFAULT_TENANTS: usize = 20;
pub(crate) const DEFAULT_WARMUP: usize = 3;

const USAGE: &str = "usage: provision [--tenants N] [--warmup N] [--doc FILE]";

pub(crate) struct Args {
    /// `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it.
    pub(crate) bench: bool,
    pub(crate) tenants: usize,
    pub(crate) warmup: usize,
    pub(crate) doc: Option<PathBuf>,
}

pub(crate) fn parse_args() -> Result<Args> {
    let mut args = Args {
        bench: false,
        tenants: DEFAULT_TENANTS,
        warmup: DEFAULT_WARMUP,
        doc: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--bench" => args.bench = true,
            "--tenants" => args.tenants = value("--tenants")?.parse().context("--tenants")?,
            "--warmup" => args.warmup = value("--warmup")?.parse().context("--warmup")?,
            "--doc" => args.doc = Some(value("--doc")?.into()),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    ensure!(args.tenants >= 1, "--tenants must be at least 1");
    Ok(args)
}
