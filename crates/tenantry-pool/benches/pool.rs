//! `scripts/bench pool`: the connection manager under load (DESIGN §4), all figures from one run
//! against the PostgreSQL server of `TENANTRY_TEST_PG_URL` (loopback only).
//!
//! A request is: lease tenant `t` from `TenantPools`, run one indexed read in its database,
//! release. `concurrency` tasks issue requests in a closed loop; tenants are drawn from a Zipf
//! distribution (s = 1.1). Many tenant ids share a few databases, as in the pool's tests: a
//! connection serves one tenant for life either way, so a miss costs a real connect.
//!
//! - **H**: one hot tenant's throughput. **C**: `pgbench -C` (a new connection per transaction,
//!   as a tenant role), the churn bound.
//! - **Room for all**: 300 tenants, budget 250 → target Zipf ≥ 0.6 × H.
//! - **Scarce**: 1000 tenants, budget 40, one connection per tenant → peak ≤ 40, errors typed and
//!   < 1 %, throughput ≥ 0.7 × the churn ceiling `1 / ((1 − m)/H + m/C)`, and `m` within 10 % of
//!   an ideal LRU over 40 one-connection slots replaying the same request trace.
//! - **Cold tenant**: first request to a tenant with no pool ≤ 1.5 × a bare connect + the query.
//!
//! Under `cargo test` (without `--bench`) only the report arithmetic is checked.

#[path = "pool/args.rs"]
mod args;
#[path = "pool/drive.rs"]
mod drive;
#[path = "pool/loads.rs"]
mod loads;
#[path = "pool/report.rs"]
mod report;
#[path = "pool/workload.rs"]
mod workload;

use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use args::Args;
use clap::Parser as _;
use drive::drive;
use loads::{cold_tenant, pgbench_connect_rate};
use report::{Results, chrono_date, lru_misses, report, self_check};
use sqlx::{ConnectOptions as _, Connection as _};
use tenantry_pool::PoolConfig;
use tenantry_test_utils::bench_doc::{self, machine};
use workload::{Fleet, Zipf, admin_exec};

const HEADING: &str = "## Connection manager under load (scripts/bench pool)";
const ZIPF_S: f64 = 1.1;
const DATABASES: usize = 20;
const QUERY: &str = "SELECT v FROM items WHERE id = $1";

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if !args.bench {
        self_check();
        println!("bench pool: report logic ok (measure with `scripts/bench pool`)");
        return ExitCode::SUCCESS;
    }
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench pool: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn progress(message: impl AsRef<str>) {
    eprintln!("bench pool: {}", message.as_ref());
}

// ---------------------------------------------------------------------------------------------
// The run.

async fn run(args: Args) -> Result<()> {
    let admin_url = std::env::var("TENANTRY_TEST_PG_URL")
        .context("TENANTRY_TEST_PG_URL is not set: run through `scripts/bench pool`")?;
    let host = url::Url::parse(&admin_url)?
        .host_str()
        .unwrap_or_default()
        .to_owned();
    ensure!(
        host == "127.0.0.1" || host == "localhost" || host == "::1",
        "the database must be on loopback, not {host}"
    );
    let machine = machine(&admin_url).await?;
    let admin = sea_orm::Database::connect(&admin_url).await?;
    let id = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let fleet = Fleet {
        admin_url: admin_url.clone(),
        role: format!("bench_pool_{id}"),
        password: format!("pw{id}"),
        databases: (0..DATABASES)
            .map(|i| format!("bench_pool_{id}_{i}"))
            .collect(),
    };
    progress(format!(
        "{} CPUs, PostgreSQL {}; {} databases; {} tasks, {} s per load",
        machine.cpus, machine.pg_version, DATABASES, args.concurrency, args.duration
    ));
    admin_exec(
        &admin,
        &format!(
            "CREATE ROLE \"{}\" LOGIN PASSWORD '{}'",
            fleet.role, fleet.password
        ),
    )
    .await?;
    let outcome = measure(&args, &fleet, &admin, &machine).await;
    for db in &fleet.databases {
        admin_exec(
            &admin,
            &format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"),
        )
        .await
        .ok();
    }
    admin_exec(&admin, &format!("DROP ROLE IF EXISTS \"{}\"", fleet.role))
        .await
        .ok();
    outcome
}

async fn measure(
    args: &Args,
    fleet: &Fleet,
    admin: &sea_orm::DatabaseConnection,
    machine: &bench_doc::Machine,
) -> Result<()> {
    for db in &fleet.databases {
        admin_exec(
            admin,
            &format!("CREATE DATABASE \"{db}\" OWNER \"{}\"", fleet.role),
        )
        .await?;
        let mut conn = sqlx::postgres::PgConnectOptions::from_str(&fleet.url(db)?)?
            .connect()
            .await?;
        sqlx::raw_sql(
            "CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL); \
             INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 100) g;",
        )
        .execute(&mut conn)
        .await?;
        conn.close().await?;
    }
    let secs = Duration::from_secs(args.duration);
    let warmup = Duration::from_secs(args.warmup);
    let k = args.concurrency;

    progress("H: one hot tenant (5 connections)");
    let h = drive(
        fleet,
        admin,
        PoolConfig {
            server_budget: 250,
            ..PoolConfig::default()
        },
        fleet.tenants(1, 5)?,
        None,
        k,
        warmup,
        secs,
    )
    .await?;
    progress(format!("H = {:.0} req/s", h.rps()));

    progress("C: pgbench -C as the tenant role");
    let c = pgbench_connect_rate(fleet, k, args.duration).await?;
    progress(format!("C = {c:.0} connections/s"));

    progress("room for all: 300 tenants (5 connections each), budget 250");
    let room = drive(
        fleet,
        admin,
        PoolConfig {
            server_budget: 250,
            max_cached_tenants: 10_000,
            ..PoolConfig::default()
        },
        fleet.tenants(300, 5)?,
        Some(Zipf::new(300, ZIPF_S)),
        k,
        warmup,
        secs,
    )
    .await?;
    let room_lru = lru_misses(&room.trace, 250);
    progress(format!(
        "room for all = {:.0} req/s, misses {:.4}/request (ideal LRU {room_lru:.4})",
        room.rps(),
        room.misses()
    ));

    progress("scarce: 1000 tenants (1 connection each), budget 40");
    let scarce = drive(
        fleet,
        admin,
        PoolConfig {
            server_budget: 40,
            max_cached_tenants: 10_000,
            ..PoolConfig::default()
        },
        fleet.tenants(1000, 1)?,
        Some(Zipf::new(1000, ZIPF_S)),
        k,
        warmup,
        secs,
    )
    .await?;
    let scarce_lru = lru_misses(&scarce.trace, 40);
    progress(format!(
        "scarce = {:.0} req/s, misses {:.3}/request (ideal LRU {:.3})",
        scarce.rps(),
        scarce.misses(),
        scarce_lru
    ));

    progress("cold tenant: 20 first requests");
    let cold = cold_tenant(fleet, 20).await?;

    let results = Results {
        h,
        c,
        room,
        room_lru,
        scarce,
        scarce_lru,
        cold,
    };
    let table = report(&results);
    println!("{table}");
    if let Some(doc) = &args.doc {
        let section = format!(
            "{HEADING}\n\nRun {} · {} CPUs ({}) · PostgreSQL {} ({}) · in-process load generator: {} \
             closed-loop tasks, {} s per load, Zipf s = {ZIPF_S} over tenants · `scripts/bench pool`\n\n\
             Method: a request leases the tenant from `TenantPools`, runs one indexed read \
             (`{QUERY}`) and releases it. Tenant ids are spread over {DATABASES} databases owned \
             by one SCRAM role (a connection serves one tenant for life either way, so a miss is \
             a real connect). **H** is one hot tenant (5 connections); **C** is `pgbench -C` \
             (a new connection per transaction) as that role. Each load runs {} s of warm-up \
             (same pools, not measured), then the measured window. \"misses/request\" is the \
             pools' connection opens in the window per request in it; \"sessions\" is \
             `pg_stat_database.sessions` over the bench databases for the whole load (a \
             cross-check: it should equal the opens); \"peak\" is the highest count of the \
             role's sessions in `pg_stat_activity`, sampled every 10 ms through the whole load. \
             The ideal LRU replays the load's own request trace through 250 (room for all) or 40 \
             (scarce) one-connection slots, warmed by the warm-up's requests.\n\n{table}",
            chrono_date(),
            machine.cpus,
            machine.cpu_model,
            machine.pg_version,
            machine.durability,
            args.concurrency,
            args.duration,
            args.warmup,
        );
        bench_doc::write_section(doc, HEADING, &section)?;
        progress(format!("wrote {}", doc.display()));
    }
    Ok(())
}
