//! `scripts/bench move`: the write pause of a tenant moved between two PostgreSQL clusters while
//! a writer runs at full speed (issue #18: target < 1 s), against the writer's own gaps between
//! acknowledged writes outside the moves, in the same run.
//!
//! One tenant (`--ledgers N` rows to copy) is moved back and forth `--rounds` times, 300 ms of
//! writing between moves. Each move reports its write pause (fence to swap, `Moved`); the writer
//! (one connection, reconnecting to wherever the registry points after an error) records when
//! each write was acknowledged, so the longest gap during each move is what a client saw. At the
//! end every acknowledged write must be in the database: a lost one fails the run.
//!
//! Needs `TENANTRY_TEST_PG_URL` and `TENANTRY_TEST_PG2_URL` (`scripts/with-pg --durable`).
//! Without `--bench` (under `cargo test --all-targets`) it only checks its statistics.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use clap::Parser;
use sea_orm::{ConnectionTrait as _, DbBackend, Statement};
use secrecy::SecretString;
use tenantry_core::vault::{KeyRing, Vault, hash_password};
use tenantry_core::{Email, PlanId, ServerName, Subdomain, TenantRef, settings::DatabaseUrl};
use tenantry_provision::{CreateTenant, FinalBackup, Provisioner};
use tenantry_registry::{Actor, NewServer, Origin, Registry, ServerDialect, Tenant};
use tenantry_test_utils::{TestDb, bench_doc};

const SECTION: &str = "## Moves: write pause between two clusters under a full-speed writer";
const SERVERS: [&str; 2] = ["bench-a", "bench-b"];

/// `scripts/bench move [--rounds N] [--ledgers N]`.
#[derive(Debug, Parser)]
#[command(bin_name = "move_pause")]
struct Args {
    /// Set by `cargo bench`; without it only the statistics are checked.
    #[arg(long)]
    bench: bool,
    /// Moves, alternating between the two clusters.
    #[arg(
        long,
        default_value_t = 10,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..),
    )]
    rounds: usize,
    /// Ledgers in the tenant, the rows each move copies.
    #[arg(long, default_value_t = 50_000)]
    ledgers: u64,
    /// Markdown file whose section to replace with the results.
    #[arg(long)]
    doc: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if !args.bench {
        assert_eq!(percentile(&[3.0, 1.0, 2.0, 9.0], 50.0), 2.0, "p50");
        assert_eq!(percentile(&[3.0, 1.0, 2.0, 9.0], 100.0), 9.0, "max");
        println!("bench move_pause: report logic ok (measure with `scripts/bench move`)");
        return ExitCode::SUCCESS;
    }
    let Err(e) = run(args).await else {
        return ExitCode::SUCCESS;
    };
    eprintln!("bench move_pause: error: {e:#}");
    ExitCode::FAILURE
}

/// The nearest-rank percentile `p` (0–100] of `v`.
fn percentile(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

/// What the writer saw: each acknowledged write's code and when it was acknowledged.
struct Acks {
    codes: Vec<String>,
    at: Vec<Instant>,
}

fn spawn_writer(
    p: Arc<Provisioner>,
    registry: Registry,
    tenant: Tenant,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Acks> {
    tokio::spawn(async move {
        let mut acks = Acks {
            codes: Vec::new(),
            at: Vec::new(),
        };
        let mut n = 0u64;
        'connect: while !stop.load(Ordering::Relaxed) {
            let Ok(Some(now)) = registry.tenant(tenant.id).await else {
                continue;
            };
            let Ok(conn) = p.connect_tenant(&now).await else {
                tokio::time::sleep(Duration::from_millis(2)).await;
                continue;
            };
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let code = format!("w{n}");
                let insert = Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "INSERT INTO ledgers (code, name, type) VALUES ($1, $1, 'asset')",
                    [code.clone().into()],
                );
                if conn.execute_raw(insert).await.is_err() {
                    conn.close().await.ok();
                    continue 'connect;
                }
                acks.codes.push(code);
                acks.at.push(Instant::now());
            }
            conn.close().await.ok();
        }
        acks
    })
}

/// One move as measured.
struct Round {
    pause_ms: f64,
    copy_ms: f64,
    /// The writer's longest gap between acknowledgements while the move ran.
    client_gap_ms: f64,
}

async fn run(args: Args) -> Result<()> {
    let var = |k: &str| std::env::var(k).with_context(|| format!("{k}: run `scripts/bench move`"));
    let urls = [var("TENANTRY_TEST_PG_URL")?, var("TENANTRY_TEST_PG2_URL")?];
    let m = bench_doc::machine(&urls[0]).await?;
    let master = TestDb::postgres().await;
    let vault = Arc::new(Vault::new(KeyRing::from_keys(
        KeyRing::generate_key(),
        vec![],
    )));
    let master_url = DatabaseUrl::parse(master.url()).map_err(anyhow::Error::msg)?;
    let registry = Registry::connect(&master_url, vault).await?;
    registry.migrate().await?;
    let system = || Origin::from(Actor::System);
    for (name, url) in SERVERS.iter().zip(&urls) {
        let server = NewServer {
            name: ServerName::parse(name)?,
            dialect: ServerDialect::Postgres,
            url: url
                .rsplit_once('/')
                .map_or(url.as_str(), |(b, _)| b)
                .to_owned(),
            admin_password: None,
            capacity: 10,
        };
        let audit = system().entry("server.add", None, serde_json::json!({}));
        registry.add_server(server, audit).await?;
    }
    let p = Arc::new(Provisioner::new(registry.clone(), master.dir()));
    let request = CreateTenant {
        subdomain: Subdomain::parse("bench-move", &[])?,
        name: "Move Ltd".into(),
        plan: PlanId::parse("standard")?,
        admin_email: Email::parse("admin@bench-move.example")?,
        admin_password_hash: hash_password(&SecretString::from("bench-move-admin"))?,
        server: Some(ServerName::parse(SERVERS[0])?),
        origin: system(),
    };
    let tenant = p.create(request).await?.tenant;
    let outcome = measure(&args, &p, &registry, &tenant).await;
    eprintln!("bench move_pause: cleaning up");
    let (id, confirm) = (tenant.id.into(), tenant.subdomain.as_str());
    let deleted = p
        .delete_with(&id, confirm, FinalBackup::Skip, &system())
        .await;
    let (rounds, baseline, writes) = outcome?;
    deleted?;

    let table = report(&rounds, &baseline);
    println!("{table}");
    let Some(doc) = &args.doc else { return Ok(()) };
    let section = format!(
        "{SECTION}\n\nRun {date} · {cpus} CPUs ({cpu}) · PostgreSQL {pg} ({durability}), two \
         clusters on this machine · one tenant with {l} ledgers, moved {n} times back and forth \
         while one connection inserted rows as fast as it could ({writes} writes acknowledged, \
         none lost) · `scripts/bench move --rounds {n} --ledgers {l}`\n\n\
         **Write pause** = fence to registry swap, as the move reports it (target < 1 s). \
         **Client gap** = the writer's longest wait between two acknowledged writes during a \
         move (its error, reconnect to the new server and retry included). **Baseline** = the \
         writer's gaps between acknowledgements outside the moves.\n\n{table}",
        date = chrono::Utc::now().format("%Y-%m-%d"),
        cpus = m.cpus,
        cpu = m.cpu_model,
        pg = m.pg_version,
        durability = m.durability,
        l = args.ledgers,
        n = args.rounds,
    );
    bench_doc::write_section(doc, SECTION, &section)?;
    eprintln!("bench move_pause: wrote {}", doc.display());
    Ok(())
}

/// Fills the tenant, moves it `rounds` times under the writer, checks nothing was lost.
/// Returns the rounds, the writer's gaps outside moves (ms) and its acknowledged writes.
async fn measure(
    args: &Args,
    p: &Arc<Provisioner>,
    registry: &Registry,
    tenant: &Tenant,
) -> Result<(Vec<Round>, Vec<f64>, usize)> {
    let conn = p.connect_tenant(tenant).await?;
    let fill = format!(
        "INSERT INTO ledgers (code, name, type) SELECT 'f' || g, 'Ledger ' || g, 'asset' \
         FROM generate_series(1, {}) g",
        args.ledgers
    );
    conn.execute_raw(Statement::from_string(DbBackend::Postgres, fill))
        .await?;
    conn.close().await?;

    let stop = Arc::new(AtomicBool::new(false));
    let writer = spawn_writer(p.clone(), registry.clone(), tenant.clone(), stop.clone());
    let mut windows = Vec::new();
    let mut moved = Vec::new();
    for round in 0..args.rounds {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let to = ServerName::parse(SERVERS[(round + 1) % 2])?;
        let started = Instant::now();
        let done = p
            .move_tenant(&TenantRef::Id(tenant.id), &to, &Origin::from(Actor::System))
            .await
            .with_context(|| format!("move {}", round + 1))?;
        windows.push((started, Instant::now()));
        eprintln!(
            "bench move_pause: move {} → {}: pause {} ms",
            round + 1,
            done.to,
            done.write_pause_ms
        );
        moved.push(done);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let acks = writer.await?;

    let now = registry.tenant(tenant.id).await?.context("tenant gone")?;
    let conn = p.connect_tenant(&now).await?;
    let rows = conn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT code FROM ledgers WHERE code LIKE 'w%'",
        ))
        .await?;
    conn.close().await?;
    let present: HashSet<String> = rows
        .iter()
        .map(|r| r.try_get_by_index::<String>(0))
        .collect::<Result<_, _>>()?;
    let lost = acks.codes.iter().filter(|c| !present.contains(*c)).count();
    ensure!(
        lost == 0,
        "{lost} of {} acknowledged writes lost",
        acks.codes.len()
    );

    let gaps: Vec<(Instant, f64)> = acks
        .at
        .windows(2)
        .map(|w| (w[1], (w[1] - w[0]).as_secs_f64() * 1000.0))
        .collect();
    let during = |at: Instant| {
        windows
            .iter()
            .position(|(s, e)| at >= *s && at <= *e + Duration::from_secs(1))
    };
    let mut client_gap = vec![0.0f64; moved.len()];
    let mut baseline = Vec::new();
    for (at, gap) in gaps {
        match during(at) {
            Some(i) => client_gap[i] = client_gap[i].max(gap),
            None => baseline.push(gap),
        }
    }
    let rounds = moved
        .iter()
        .zip(client_gap)
        .map(|(m, gap)| Round {
            pause_ms: m.write_pause_ms as f64,
            copy_ms: m.copy_ms as f64,
            client_gap_ms: gap,
        })
        .collect();
    Ok((rounds, baseline, acks.codes.len()))
}

fn report(rounds: &[Round], baseline: &[f64]) -> String {
    let col = |f: fn(&Round) -> f64| rounds.iter().map(f).collect::<Vec<_>>();
    let (pause, gap, copy) = (
        col(|r| r.pause_ms),
        col(|r| r.client_gap_ms),
        col(|r| r.copy_ms),
    );
    let base_p50 = percentile(baseline, 50.0);
    let row = |name: &str, v: &[f64]| {
        let (p50, max) = (percentile(v, 50.0), percentile(v, 100.0));
        format!(
            "| {name} | {p50:.0} | {max:.0} | {:.0}× / {:.0}× |",
            p50 / base_p50.max(0.001),
            max / base_p50.max(0.001)
        )
    };
    let verdict = if percentile(&pause, 100.0) < 1000.0 {
        "met"
    } else {
        "**missed**"
    };
    [
        "| measured (ms) | p50 | max | vs baseline p50 (p50 / max) |".to_owned(),
        "|---|---:|---:|---:|".to_owned(),
        row("write pause (fence → swap)", &pause),
        row("client gap during a move", &gap),
        row("copy while serving", &copy),
        row("baseline: gaps outside moves", baseline),
        String::new(),
        format!("Target write pause < 1 s at max: {verdict}."),
    ]
    .join("\n")
}
