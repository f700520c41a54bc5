//! `scripts/bench memory`: the resident memory of a separate `tenantry serve` process with
//! 10,000 registered tenants, each resolved once (DESIGN §4 / issue #19: RSS < 150 MB), against
//! the same process idle with 0 tenants, measured in the same run.
//!
//! The release `tenantry` binary runs as a child (`--config` a settings file written here) on
//! 127.0.0.1 with a port of its own choosing, its master a fresh database on the server of
//! `TENANTRY_TEST_PG_URL` (`scripts/with-pg --durable`). Its `VmRSS` is read from
//! `/proc/<pid>/status`: idle after `/readyz`, after N tenants are registered (registry rows
//! only), after one request to each tenant's Host; and its peak (`VmHWM`). Then a fresh child on
//! the full master, the same way. The child is killed and the master dropped at the end, also on
//! failure. The table goes to stdout, and with `--doc FILE` into that markdown file. Without
//! `--bench` (under `cargo test --all-targets`) it only checks its pure logic.

#[path = "serve_memory/child.rs"]
mod child;
#[path = "serve_memory/fleet.rs"]
mod fleet;
#[path = "serve_memory/report.rs"]
mod report;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use child::{Rss, Serve};
use clap::Parser;
use fleet::Master;
use report::{Figures, Restart};
use tenantry_test_utils::bench_doc::{machine, write_section};

/// Between a step and reading the child's memory: the feed, actix workers and the allocator
/// settle.
const SETTLE: Duration = Duration::from_secs(2);
/// How long the directory may take to apply the registrations after the last one.
const CATCH_UP: Duration = Duration::from_secs(120);

/// `scripts/bench memory [--tenants N]`.
#[derive(Debug, Parser)]
struct Args {
    /// Set by `cargo bench`; without it only the pure logic is checked.
    #[arg(long)]
    bench: bool,
    /// Tenants registered and resolved.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    tenants: u64,
    /// The `tenantry` binary to measure (`scripts/bench memory` passes target/release/tenantry).
    #[arg(long, default_value = env!("CARGO_BIN_EXE_tenantry"))]
    binary: PathBuf,
    #[arg(long)]
    doc: Option<PathBuf>,
}

impl Args {
    /// The flags that differ from the defaults, as `scripts/bench memory` takes them.
    fn non_default(&self) -> String {
        let d = Args::parse_from(["memory"]);
        if self.tenants == d.tenants {
            String::new()
        } else {
            format!(" --tenants {}", self.tenants)
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if !args.bench {
        self_check();
        println!("bench serve_memory: logic ok (measure with `scripts/bench memory`)");
        return ExitCode::SUCCESS;
    }
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench memory: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn progress(message: impl AsRef<str>) {
    eprintln!("bench memory: {}", message.as_ref());
}

async fn run(args: Args) -> Result<()> {
    let admin_url = std::env::var("TENANTRY_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .context("TENANTRY_TEST_PG_URL is not set: run `scripts/bench memory`")?;
    ensure!(
        args.binary.is_file(),
        "no binary at {}: `cargo build --release -p tenantry-cli`",
        args.binary.display()
    );
    let machine = machine(&admin_url).await?;
    if !machine.durable {
        progress("WARNING: durability is off on this server; figures are not representative");
    }
    let n = usize::try_from(args.tenants)?;
    progress(format!(
        "measuring {} with {n} tenants",
        args.binary.display()
    ));
    let master = Master::setup(&admin_url).await?;
    let config = master.db.dir().join("tenantry.toml");
    let data_dir = master.db.dir().join("data");
    std::fs::create_dir(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let settings = child::settings_toml(master.db.url(), &data_dir, &master.key_file)?;
    write_private(&config, &settings)?;
    let figures = measure(&args.binary, &config, &master, n).await;
    drop(master);
    let figures = figures?;

    let table = report::table(&figures);
    println!("{table}");
    if let Some(doc) = &args.doc {
        let section = report::section(&figures, &machine, &args.non_default(), &table);
        write_section(doc, report::SECTION, &section)
            .with_context(|| format!("writing {}", doc.display()))?;
        progress(format!("wrote {}", doc.display()));
    }
    Ok(())
}

/// Both children, one after the other; each is killed when its part ends or fails.
async fn measure(binary: &Path, config: &Path, master: &Master, n: usize) -> Result<Figures> {
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let hosts: Vec<String> = (0..n).map(|i| fleet::host(i, &run_id)).collect();
    let log = |name: &str| master.db.dir().join(name);

    let mut serve = Serve::start(binary, config, &log("serve.log")).await?;
    progress(format!(
        "serve (pid {}) ready on port {}",
        serve.pid, serve.port
    ));
    let idle = settled(&mut serve).await?;
    progress(format!("idle: {}", show(idle)));

    progress(format!("registering {n} tenants (registry rows only)"));
    let started = Instant::now();
    master.register(n, &run_id).await?;
    let register_secs = started.elapsed().as_secs_f64();
    caught_up(&serve, &hosts[n - 1]).await?;
    let registered = settled(&mut serve).await?;
    progress(format!("registered: {}", show(registered)));

    progress(format!("one request to each of the {n} tenants"));
    let requests = fleet::resolve_each(serve.port, &hosts).await?;
    let resolved = settled(&mut serve).await?;
    progress(format!("resolved: {}", show(resolved)));
    serve.kill().await?;

    progress("restarting serve on the full master");
    let mut serve = Serve::start(binary, config, &log("serve-restart.log")).await?;
    let ready = settled(&mut serve).await?;
    progress(format!("restarted, ready: {}", show(ready)));
    let restart_requests = fleet::resolve_each(serve.port, &hosts).await?;
    let restart_resolved = settled(&mut serve).await?;
    progress(format!("restarted, resolved: {}", show(restart_resolved)));
    serve.kill().await?;

    Ok(Figures {
        tenants: n,
        idle,
        registered,
        register_secs,
        resolved,
        requests,
        restart: Some(Restart {
            ready,
            resolved: restart_resolved,
            requests: restart_requests,
        }),
    })
}

/// The child's memory after [`SETTLE`]; it must still be serving.
async fn settled(serve: &mut Serve) -> Result<Rss> {
    tokio::time::sleep(SETTLE).await;
    serve.check_alive()?;
    serve.memory()
}

/// Waits until the last tenant registered answers 401: the directory has applied the feed (a
/// 503 means it still calls itself stale and does not know the Host yet).
async fn caught_up(serve: &Serve, last_host: &str) -> Result<()> {
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{}{}", serve.port, fleet::PATH);
    let started = Instant::now();
    loop {
        let status = client
            .get(&url)
            .header("host", last_host)
            .send()
            .await?
            .status();
        if status == 401 {
            progress(format!(
                "directory caught up {:.1} s after the last registration",
                started.elapsed().as_secs_f64()
            ));
            return Ok(());
        }
        ensure!(
            started.elapsed() < CATCH_UP,
            "{last_host} still answers {status} {CATCH_UP:?} after registering\n{}",
            serve.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn show(rss: Rss) -> String {
    format!(
        "RSS {:.1} MiB (peak {:.1} MiB)",
        rss.rss_kib as f64 / 1024.0,
        rss.hwm_kib as f64 / 1024.0
    )
}

/// Writes `text` readable by this user only (the settings name the master).
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

fn self_check() {
    let args = Args::parse_from(["memory", "--bench", "--tenants", "500"]);
    assert!(args.bench && args.tenants == 500);
    assert_eq!(args.non_default(), " --tenants 500");
    assert_eq!(Args::parse_from(["memory"]).non_default(), "");
    assert!(Args::try_parse_from(["memory", "--tenants", "0"]).is_err());
    child::self_check();
    fleet::self_check();
    report::self_check();
}
