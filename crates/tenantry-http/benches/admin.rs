//! `scripts/bench admin`: the admin API's tenant list over a fleet of 10,000 (issue #17: p99
//! < 50 ms a page on PostgreSQL) and `GET /admin/v1/tenants/{id}`, each against one bare SQL
//! query for the same rows on the same master, measured in the same run (DESIGN §4: figures as
//! ratios against a baseline).
//!
//! The real [`Application`] serves the admin API on 127.0.0.1; its master is a fresh database
//! holding the fleet (registry rows only, bulk-inserted). One keep-alive client sends requests
//! one at a time with an API token; each sample of a measurement is one request and one bare
//! query (`sqlx`, one connection, `SELECT * … ORDER BY created_at, id LIMIT 50 OFFSET …`), in
//! alternating order. Every answer is checked against the fleet as inserted — totals, the ids of
//! the page in order, the filters, a cursor walk that visits each live tenant once — and a
//! wrong one fails the run. Needs `TENANTRY_TEST_PG_URL` (`scripts/with-pg --durable`); the
//! table goes to stdout, and with `--doc FILE` into that markdown file. Without `--bench` (under
//! `cargo test --all-targets`) it only checks its statistics.

#[path = "admin/baseline.rs"]
mod baseline;
#[path = "admin/fleet.rs"]
mod fleet;
#[path = "admin/probe.rs"]
mod probe;
#[path = "admin/report.rs"]
mod report;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, Result};
use clap::Parser;
use fleet::Filter;
use probe::{Bench, Case, Probe, ms};
use report::Run;
use sea_orm::sqlx::{Connection as _, PgConnection};
use secrecy::ExposeSecret as _;
use tenantry_core::Settings;
use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::{KeyRing, Vault};
use tenantry_http::Application;
use tenantry_ops::Caller;
use tenantry_provision::Provisioner;
use tenantry_registry::{AdminRole, Registry};
use tenantry_test_utils::TestDb;
use tenantry_test_utils::bench_doc::{machine, write_section};

const SECTION: &str = "## Admin API: tenant list at 10,000 tenants (scripts/bench admin)";
/// Issue #17: a list page answers within 50 ms at the 99th percentile.
const TARGET_P99_MS: f64 = 50.0;
const LIMIT: usize = 50;
const DEEP_PAGE: usize = 150;
const SEARCH: &str = "cedar";

/// `scripts/bench admin [--tenants N] [--samples N] [--warmup N]`.
#[derive(Debug, Parser)]
struct Args {
    /// Set by `cargo bench`; without it only the statistics are checked.
    #[arg(long)]
    bench: bool,
    /// Tenants in the fleet.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1_000..))]
    tenants: u64,
    /// Measured samples of each row (a cursor walk: pages).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(10..))]
    samples: u64,
    /// Unmeasured samples before them.
    #[arg(long, default_value_t = 30)]
    warmup: u64,
    #[arg(long)]
    doc: Option<PathBuf>,
}

impl Args {
    /// The flags that differ from the defaults, as `scripts/bench admin` takes them.
    fn non_default(&self) -> String {
        let d = Args::parse_from(["admin"]);
        [
            ("--tenants", self.tenants, d.tenants),
            ("--samples", self.samples, d.samples),
            ("--warmup", self.warmup, d.warmup),
        ]
        .into_iter()
        .filter(|(_, value, default)| value != default)
        .map(|(name, value, _)| format!(" {name} {value}"))
        .collect()
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if !args.bench {
        report::self_check();
        fleet::self_check();
        println!("bench admin: statistics and fleet ok (measure with `scripts/bench admin`)");
        return ExitCode::SUCCESS;
    }
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench admin: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn progress(message: impl AsRef<str>) {
    eprintln!("bench admin: {}", message.as_ref());
}

fn cases(live: usize) -> Vec<Case> {
    let deep = DEEP_PAGE.min(live.div_ceil(LIMIT));
    let page = |label: String, filter: Filter, page: usize, in_process: bool| Case {
        label,
        probe: Probe::Page {
            filter,
            page,
            in_process,
        },
        target: !in_process,
    };
    let all = Filter::default;
    vec![
        page(format!("list, page 1 (`limit={LIMIT}`)"), all(), 1, false),
        page(
            format!("list, page {deep} (offset {})", (deep - 1) * LIMIT),
            all(),
            deep,
            false,
        ),
        page(
            format!("`search={SEARCH}` (subdomain or name), page 1"),
            Filter {
                search: Some(SEARCH),
                ..all()
            },
            1,
            false,
        ),
        page(
            "`status=suspended`, page 1".into(),
            Filter {
                status: Some("suspended"),
                ..all()
            },
            1,
            false,
        ),
        page(
            "`plan=premium`, page 1".into(),
            Filter {
                plan: Some("premium"),
                ..all()
            },
            1,
            false,
        ),
        Case {
            label: "`cursor` walk of the whole live fleet, per page".into(),
            probe: Probe::Walk,
            target: true,
        },
        Case {
            label: "`GET /admin/v1/tenants/{id}`".into(),
            probe: Probe::Show { by_id: true },
            target: false,
        },
        Case {
            label: "`GET /admin/v1/tenants/{subdomain}`".into(),
            probe: Probe::Show { by_id: false },
            target: false,
        },
        page(
            "&nbsp;&nbsp;for scale: page 1 by `Registry::search_tenants` in process".into(),
            all(),
            1,
            true,
        ),
        page(
            format!("&nbsp;&nbsp;for scale: page {deep}, the same"),
            all(),
            deep,
            true,
        ),
    ]
}

async fn run(args: Args) -> Result<()> {
    let admin_url = std::env::var("TENANTRY_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .context("TENANTRY_TEST_PG_URL is not set: run `scripts/bench admin`")?;
    let machine = machine(&admin_url).await?;
    if !machine.durable {
        progress("WARNING: durability is off on this server; figures are not representative");
    }
    let master = TestDb::postgres().await;
    let vault = Arc::new(Vault::new(KeyRing::from_keys(
        KeyRing::generate_key(),
        vec![],
    )));
    let master_url = DatabaseUrl::parse(master.url()).map_err(anyhow::Error::msg)?;
    let registry = Registry::connect(&master_url, vault).await?;
    registry.migrate().await?;

    progress(format!("seeding {} tenants", args.tenants));
    let rows = fleet::generate(args.tenants as usize);
    let mut sql = PgConnection::connect(master.url()).await?;
    let start = Instant::now();
    fleet::insert(&mut sql, &rows).await?;
    let seed_ms = ms(start);

    let provisioner = Arc::new(Provisioner::new(registry.clone(), master.dir()));
    let registry = Arc::new(registry);
    let mut settings = Settings::embedded_default();
    settings.server.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    settings.server.base_domain = "localhost".into();
    settings.data_dir = master.dir().to_owned();
    let app = Application::build(&settings, registry.clone(), provisioner)?;
    let port = app.port();
    let state = app.state();
    let handle = app.handle();
    let serving = tokio::spawn(app.run_until_stopped());

    let outcome = async {
        let issued = state
            .ops
            .create_token(&Caller::cli(), "bench-admin", AdminRole::Viewer, None)
            .await?;
        let live = Filter::default().expected(&rows);
        let mut bench = Bench {
            index: rows.iter().enumerate().map(|(i, r)| (r.id, i)).collect(),
            rows,
            live,
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()?,
            base: format!("http://127.0.0.1:{port}"),
            host: format!("localhost:{port}"),
            token: issued.secret.expose_secret().to_owned(),
            registry: registry.clone(),
            sql,
        };
        let mut measured = Vec::new();
        let load_before = load_average();
        for case in cases(bench.live.len()) {
            progress(format!("measuring: {}", case.label));
            measured.push(bench.measure(&case, args.warmup, args.samples).await?);
        }
        let load = (load_before, load_average());
        Ok::<_, anyhow::Error>((measured, bench.live.len(), load))
    }
    .await;
    handle.stop(false).await;
    serving.await.ok();
    drop(state);
    drop(registry);
    drop(master);
    let (measured, live, load) = outcome?;

    let table = report::table(&measured);
    println!("{table}");
    if let Some(doc) = &args.doc {
        let run = Run {
            machine,
            tenants: args.tenants as usize,
            live,
            samples: args.samples,
            warmup: args.warmup,
            flags: args.non_default(),
            seed_ms,
            load,
        };
        let text = report::section(&run, &table);
        write_section(doc, SECTION, &text).with_context(|| format!("writing {}", doc.display()))?;
        progress(format!("wrote {}", doc.display()));
    }
    Ok(())
}

/// The machine's 1-minute load average (`/proc/loadavg`), to read the figures by: the server,
/// PostgreSQL and the client share the CPUs with whatever else runs.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}
