//! The command line: `--bench`, `--duration`, `--warmup`, `--concurrency` and `--doc FILE`.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail, ensure};

#[derive(Debug, Clone)]
pub(crate) struct Args {
    pub(crate) bench: bool,
    pub(crate) duration: u64,
    pub(crate) warmup: u64,
    pub(crate) concurrency: usize,
    pub(crate) doc: Option<PathBuf>,
}

pub(crate) fn parse_args(raw: impl IntoIterator<Item = String>) -> Result<Args> {
    let mut args = Args {
        bench: false,
        duration: 8,
        warmup: 4,
        concurrency: 32,
        doc: None,
    };
    let mut it = raw.into_iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--bench" => args.bench = true,
            "--duration" => args.duration = value("--duration")?.parse().context("--duration")?,
            "--warmup" => args.warmup = value("--warmup")?.parse().context("--warmup")?,
            "--concurrency" => {
                args.concurrency = value("--concurrency")?.parse().context("--concurrency")?
            }
            "--doc" => args.doc = Some(value("--doc")?.into()),
            other => bail!(
                "unknown argument {other:?}\nusage: pool [--duration SECS] [--warmup SECS] [--concurrency N] [--doc FILE]"
            ),
        }
    }
    ensure!(args.duration >= 1, "--duration must be at least 1 second");
    ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    Ok(args)
}
