//! `scripts/bench churn`: the tail under churn, through HTTP (issue #19). The connection
//! manager's churn figures (`scripts/bench pool`) measured again end to end: the real
//! [`tenantry_http::Application`] on 127.0.0.1 over a fresh master, with 300 PostgreSQL tenants
//! created by `Provisioner::create` (plan `standard`, 5 connections each), driven by `wrk -t2
//! -c32 --timeout 2s` sending `GET /api/v1/ledgers?limit=1` with each tenant's Host and token.
//!
//! Three loads, each on a fresh `Application` (pools cold), a warm-up then a measured window:
//!
//! - **hot**: the first tenant alone (budget 80, the default) — **H**;
//! - **room for all**: Zipf (s = 1.1) over the 300 tenants, budget 250 → ≥ 0.6 × H, p99 ≤ 100 ms;
//! - **scarce**: the same with a budget of 40 → ≥ 0.7 × the churn ceiling `1 / ((1 − m)/H +
//!   m/C)` (C: sequential connects/s as a tenant role, measured in the same run), peak ≤ 40
//!   sessions, typed 503s < 1 % of requests, no wrk timeout, p99 ≤ 250 ms.
//!
//! Per load: req/s, wrk's p50/p99/max, non-2xx by status, wrk's timeouts (reported, not fatal),
//! misses per request (`TenantPools` opens ÷ requests in the window) and the peak of the tenants'
//! sessions in `pg_stat_activity`. Needs `TENANTRY_TEST_PG_URL` (`scripts/with-pg --durable`) and
//! `wrk` on PATH (`scripts/bench churn` installs it). Every tenant is deleted at the end, also
//! after a failure. Progress goes to stderr, the table to stdout, and with `--doc FILE` into that
//! markdown file. Without `--bench` (under `cargo test --all-targets`) it only checks its Lua
//! generation, wrk output parsing and report arithmetic.

#[path = "churn/fleet.rs"]
mod fleet;
#[path = "churn/load.rs"]
mod load;
#[path = "churn/lua.rs"]
mod lua;
#[path = "churn/report.rs"]
mod report;
mod wrk;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Parser;
use fleet::Fleet;
use load::{Bench, Outcome, Spec};
use report::Results;
use tenantry_test_utils::bench_doc::{machine, write_section};
use wrk::{check_loopback, find_wrk};

const SECTION: &str = "## Churn through HTTP (scripts/bench churn)";
const PATH: &str = "/api/v1/ledgers?limit=1";
const TENANTS: usize = 300;
const ZIPF_S: f64 = 1.1;
/// Sequential connects as a tenant role, for C.
const CONNECT_WINDOW: Duration = Duration::from_secs(2);
/// The settings' default budget, for the hot tenant.
const HOT_BUDGET: u32 = 80;
const ROOM_BUDGET: u32 = 250;
const SCARCE_BUDGET: u32 = 40;
/// The crowded load: the hot tenant alone, its budget already full of other tenants' idle
/// connections (each served once just before).
const CROWDED_BUDGET: u32 = 40;

/// `scripts/bench churn [--duration SECS] [--warmup SECS]`.
#[derive(Debug, Parser)]
struct Args {
    /// Set by `cargo bench`; without it only the pure logic is checked.
    #[arg(long)]
    bench: bool,
    /// Measured seconds per load.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    duration: u64,
    /// Unmeasured seconds of load before each measured window.
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    #[arg(long)]
    doc: Option<PathBuf>,
}

impl Args {
    /// The flags that differ from the defaults, as `scripts/bench churn` takes them.
    fn non_default(&self) -> String {
        let d = Args::parse_from(["churn"]);
        [
            ("--duration", self.duration, d.duration),
            ("--warmup", self.warmup, d.warmup),
        ]
        .into_iter()
        .filter(|(_, value, default)| value != default)
        .map(|(name, value, _)| format!(" {name} {value}"))
        .collect()
    }
}

/// The `tenantry` binary's allocator, so the servers here allocate as `serve` does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if !args.bench {
        self_check();
        println!(
            "bench churn: Lua, wrk parsing and report ok (measure with `scripts/bench churn`)"
        );
        return ExitCode::SUCCESS;
    }
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench churn: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn progress(message: impl AsRef<str>) {
    eprintln!("bench churn: {}", message.as_ref());
}

fn self_check() {
    lua::self_check();
    report::self_check();
    let args = Args::parse_from(["churn", "--bench", "--duration", "8", "--warmup", "5"]);
    assert!(args.bench && args.duration == 8);
    assert_eq!(args.non_default(), " --duration 8");
    assert!(Args::try_parse_from(["churn", "--duration", "0"]).is_err());
    assert!(check_loopback("postgres://postgres@127.0.0.1:5432/postgres").is_ok());
    assert!(check_loopback("postgres://postgres@db.example:5432/postgres").is_err());
}

async fn run(args: Args) -> Result<()> {
    let admin_url = std::env::var("TENANTRY_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .context("TENANTRY_TEST_PG_URL is not set: run `scripts/bench churn`")?;
    check_loopback(&admin_url)?;
    let wrk = find_wrk("churn")?;
    let machine = machine(&admin_url).await?;
    // actix's default, which `Application` keeps: one worker per CPU.
    let workers = machine.cpus;
    progress(format!(
        "{} CPUs, PostgreSQL {} ({}); {workers} actix workers; wrk -t2 -c32; {} s warm-up then \
         {} s measured per load",
        machine.cpus, machine.pg_version, machine.durability, args.warmup, args.duration
    ));
    if !machine.durable {
        progress("WARNING: durability is off on this server; figures are not representative");
    }

    let mut fleet = Fleet::setup(&admin_url).await?;
    let measured = measure(&args, &wrk, &mut fleet).await;
    progress("cleaning up");
    let cleaned = fleet.clean_up().await;
    let (connects, [hot, crowded, room, scarce]) = match (measured, cleaned) {
        (Ok(m), Ok(())) => m,
        (Err(e), cleaned) => {
            if let Err(c) = cleaned {
                progress(format!("clean-up failed too: {c:#}"));
            }
            return Err(e);
        }
        (Ok(_), Err(c)) => return Err(c),
    };

    let results = Results {
        machine,
        workers,
        tenants: TENANTS,
        warmup: args.warmup,
        duration: args.duration,
        flags: args.non_default(),
        connects,
        connect_secs: CONNECT_WINDOW.as_secs_f64(),
        hot: ("**hot**: 1 tenant".into(), HOT_BUDGET, hot),
        crowded: (
            format!(
                "**crowded hot**: 1 tenant, after {CROWDED_BUDGET} others were served once \
                 (their idle connections fill the budget)"
            ),
            CROWDED_BUDGET,
            crowded,
        ),
        room: (
            format!("**room for all**: Zipf over {TENANTS}"),
            ROOM_BUDGET,
            room,
        ),
        scarce: (
            format!("**scarce**: Zipf over {TENANTS}"),
            SCARCE_BUDGET,
            scarce,
        ),
    };
    let table = report::table(&results);
    println!("{table}");
    if let Some(doc) = &args.doc {
        write_section(doc, SECTION, &report::section(&results, &table))
            .with_context(|| format!("writing {}", doc.display()))?;
        progress(format!("wrote {}", doc.display()));
    }
    Ok(())
}

/// Creates the tenants, measures C, then runs the three loads.
async fn measure(args: &Args, wrk: &Path, fleet: &mut Fleet) -> Result<((f64, u64), [Outcome; 4])> {
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    progress(format!("creating {TENANTS} tenants"));
    fleet.create(TENANTS, &run_id).await?;
    let connects = fleet.connect_rate(CONNECT_WINDOW).await?;
    progress(format!(
        "C = {:.0} connects/s as a tenant role ({} sequential connects)",
        connects.0, connects.1
    ));
    let requests = fleet.requests()?;
    let roles = fleet.roles();
    let scripts = tempfile::tempdir()?;
    let bench = Bench {
        fleet,
        wrk,
        requests: &requests,
        roles: &roles,
        scripts: scripts.path(),
        warmup: args.warmup,
        duration: args.duration,
    };
    let specs = [
        ("hot", 1, HOT_BUDGET, 0),
        ("crowded", 1, CROWDED_BUDGET, CROWDED_BUDGET as usize),
        ("room", TENANTS, ROOM_BUDGET, 0),
        ("scarce", TENANTS, SCARCE_BUDGET, 0),
    ];
    let mut outcomes = Vec::new();
    for (name, tenants, budget, prefill) in specs {
        progress(format!("{name}: {tenants} tenant(s), budget {budget}"));
        let spec = Spec {
            name,
            tenants,
            budget,
            prefill,
        };
        let o = load::run(&bench, &spec).await?;
        progress(format!(
            "{name}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, max {:.0} ms, non-2xx {:?}, wrk \
             timeouts {}, misses/request {:.4}, peak {} sessions",
            o.run.rps(),
            o.run.p50_us / 1000.0,
            o.run.p99_us / 1000.0,
            o.run.max_us / 1000.0,
            o.statuses,
            o.run.timeout,
            o.misses(),
            o.peak
        ));
        outcomes.push(o);
    }
    let outcomes: [Outcome; 4] = outcomes
        .try_into()
        .map_err(|_| anyhow::anyhow!("four loads"))?;
    Ok((connects, outcomes))
}
