//! `scripts/bench connect`: sequential and concurrent connects as a tenant role, whose SCRAM
//! verifier has our 16 PBKDF2 rounds, against a baseline role with the same password, database
//! and server hashed by PostgreSQL at its default 4096 rounds, in the same run (see [`METHOD`]).
//!
//! Needs `TENANTRY_TEST_PG_URL` (`scripts/with-pg --durable`). Everything created is dropped at
//! the end. Without `--bench` (under `cargo test --all-targets`) it only checks its report logic.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use secrecy::{ExposeSecret as _, SecretString};
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions as _, Connection as _, Executor as _, PgConnection};
use tenantry_core::vault::{KeyRing, Vault, hash_password};
use tenantry_core::{Email, PlanId, ServerName, Subdomain, settings::DatabaseUrl};
use tenantry_provision::{CreateTenant, FinalBackup, Provisioner};
use tenantry_registry::{Actor, NewServer, Origin, Registry, ServerDialect};
use tenantry_test_utils::bench_doc::median;
use tenantry_test_utils::{TestDb, bench_doc};
use url::Url;

const SECTION: &str = "## Connects as a tenant role (scripts/bench connect)";
const USAGE: &str = "usage: connect [--rounds N] [--connects N] [--doc FILE]";
const TARGET: f64 = 1.3;
const OURS: &str = "SCRAM-SHA-256$16:";
const DEFAULT: &str = "SCRAM-SHA-256$4096:";
const CONCURRENCY: usize = 8;
const CONCURRENT_FOR: Duration = Duration::from_secs(3);
const PBKDF2_CALLS: usize = 200;
/// `USER_HZ`, the unit of `utime`/`stime` in `/proc/self/stat` (100 on every Linux target).
const CLOCK_TICKS: f64 = 100.0;

const METHOD: &str = "Method: one throwaway cluster (`scripts/with-pg --durable`), client and \
server on the same machine, TCP on 127.0.0.1 (`pg_hba`: `scram-sha-256`). One tenant from \
`Provisioner::create`: its role's verifier is ours (16 PBKDF2 rounds). The baseline role is \
created by the superuser with `LOGIN PASSWORD '<the same plaintext>'`, so PostgreSQL hashes it \
with its default 4096 rounds, and gets `CONNECT` on the same database; both verifiers are checked \
in `pg_authid`, and both roles run without a connection limit for the run (the tenant role's is \
its plan's, which 8 tasks reconnecting at full speed would hit). A connect is exactly the \
connection manager's: `PgConnectOptions::from_str(url)` + `application_name` + \
`statement_timeout`, `connect()`, then `SELECT 1` and `close()`. Sequential: one warm-up round, \
then rounds of N connects per role, the order alternating each round; connects/s is the median \
over rounds, the ratio the median of the per-round ratios (\"paired\"); p50/p99 are of the \
`connect()` alone over all samples. CPU is this process's (`/proc/self/stat`, the client; the \
server never runs PBKDF2 at login: it checks the proof against the stored keys). Concurrent: 8 \
tasks connecting in a loop, 1.5 s per role and then 1.5 s more in the reverse order. PBKDF2 alone: `pbkdf2_hmac_array::<Sha256, 32>`, \
median of 200 calls (sqlx computes it with its own loop, yielding to the runtime every 5 rounds).";

struct Args {
    bench: bool,
    rounds: usize,
    connects: usize,
    doc: Option<PathBuf>,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        bench: false,
        rounds: 5,
        connects: 200,
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
            "--connects" => a.connects = value()?.parse().context("--connects")?,
            "--doc" => a.doc = Some(value()?.into()),
            _ => bail!("unknown argument {arg:?}\n{USAGE}"),
        }
    }
    let at_least_one = a.rounds >= 1 && a.connects >= 1;
    ensure!(at_least_one, "--rounds and --connects must be at least 1");
    Ok(a)
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match parse_args() {
        Ok(args) if !args.bench => {
            self_check();
            println!("bench connect: report logic ok (measure with `scripts/bench connect`)");
            Ok(())
        }
        Ok(args) => run(args).await,
        Err(e) => Err(e),
    };
    let Err(e) = result else {
        return ExitCode::SUCCESS;
    };
    eprintln!("bench connect: error: {e:#}");
    ExitCode::FAILURE
}

/// Nearest-rank percentile, `p` in (0, 1].
fn percentile(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = (p * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// One role's figures.
#[derive(Default, Clone)]
struct Side {
    /// Connects/s of each measured round.
    rates: Vec<f64>,
    /// `connect()` alone, ms, every measured sample.
    connect_ms: Vec<f64>,
    /// Process CPU ms per connect of each measured round (empty without `/proc`).
    cpu_ms: Vec<f64>,
    concurrent: f64,
    pbkdf2_us: f64,
}

/// `utime + stime` of this process, in seconds.
fn cpu_seconds() -> Option<f64> {
    parse_cpu(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

fn parse_cpu(stat: &str) -> Option<f64> {
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / CLOCK_TICKS)
}

/// One connect as the connection manager opens it; returns the time `connect()` took.
async fn connect_once(url: &str) -> Result<f64> {
    let options = PgConnectOptions::from_str(url)?
        .application_name("tenantry")
        .options([("statement_timeout", 10_000)])
        .disable_statement_logging();
    let started = Instant::now();
    let mut conn = options.connect().await?;
    let connect = started.elapsed().as_secs_f64() * 1e3;
    conn.execute("SELECT 1").await?;
    conn.close().await?;
    Ok(connect)
}

/// `n` sequential connects: (connects/s, connect ms each, CPU ms per connect).
async fn sequential(url: &str, n: usize) -> Result<(f64, Vec<f64>, Option<f64>)> {
    let (cpu, started) = (cpu_seconds(), Instant::now());
    let mut ms = Vec::with_capacity(n);
    for _ in 0..n {
        ms.push(connect_once(url).await?);
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let cpu = cpu.zip(cpu_seconds()).map(|(a, b)| (b - a) * 1e3);
    let cpu = cpu.map(|spent| spent / n as f64);
    Ok((rate, ms, cpu))
}

/// [`CONCURRENCY`] tasks connecting in a loop for `window`: (connects, seconds).
async fn concurrent(url: &str, window: Duration) -> Result<(usize, f64)> {
    let (url, started) = (Arc::<str>::from(url), Instant::now());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let url = url.clone();
        tasks.spawn(async move {
            let mut n = 0usize;
            while started.elapsed() < window {
                connect_once(&url).await?;
                n += 1;
            }
            anyhow::Ok(n)
        });
    }
    let mut total = 0;
    while let Some(n) = tasks.join_next().await {
        total += n??;
    }
    Ok((total, started.elapsed().as_secs_f64()))
}

/// The machine's 1-minute load average (`/proc/loadavg`), to read the figures by: client and
/// server share the CPUs with whatever else runs.
fn load_average() -> f64 {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let first = text.split_whitespace().next();
    first.and_then(|l| l.parse().ok()).unwrap_or(f64::NAN)
}

/// Median µs of [`PBKDF2_CALLS`] client-side PBKDF2-HMAC-SHA256 derivations at `rounds`.
fn pbkdf2_us(password: &str, rounds: u32) -> f64 {
    let samples: Vec<f64> = (0..PBKDF2_CALLS)
        .map(|_| {
            let (password, started) = (std::hint::black_box(password.as_bytes()), Instant::now());
            let key = pbkdf2::pbkdf2_hmac_array::<sha2::Sha256, 32>(password, &[7; 16], rounds);
            std::hint::black_box(key);
            started.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    median(&samples)
}

async fn run(args: Args) -> Result<()> {
    let url = std::env::var("TENANTRY_TEST_PG_URL").context("run `scripts/bench connect`")?;
    let m = bench_doc::machine(&url).await?;
    let (r, n) = (args.rounds, args.connects);
    eprintln!(
        "bench connect: {} CPUs, PostgreSQL {} ({}); {r} rounds × {n} connects",
        m.cpus, m.pg_version, m.durability
    );
    let mut admin = PgConnection::connect(&url).await?;
    let master = TestDb::postgres().await;
    let key = KeyRing::generate_key();
    let vault = Arc::new(Vault::new(KeyRing::from_keys(key, vec![])));
    let master_url = DatabaseUrl::parse(master.url()).map_err(anyhow::Error::msg)?;
    let registry = Registry::connect(&master_url, vault).await?;
    registry.migrate().await?;
    let system = || Origin::from(Actor::System);
    let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
    let server = NewServer {
        name: ServerName::parse("bench-pg")?,
        dialect: ServerDialect::Postgres,
        url: base.to_owned(),
        admin_password: None,
        capacity: 10,
    };
    let audit = system().entry("server.add", None, serde_json::json!({}));
    registry.add_server(server, audit).await?;
    let pg = Provisioner::new(registry, master.dir());
    let request = CreateTenant {
        subdomain: Subdomain::parse("bench-connect", &[])?,
        name: "Connect Ltd".into(),
        plan: PlanId::parse("standard")?,
        admin_email: Email::parse("admin@bench-connect.example")?,
        admin_password_hash: hash_password(&SecretString::from("bench-connect-admin"))?,
        server: None,
        origin: system(),
    };
    let tenant = pg.create(request).await?.tenant;
    let baseline = format!("{}_bench4096", tenant.db_user.as_deref().unwrap_or("none"));

    let load_before = load_average();
    let outcome = measure(&args, &mut admin, &pg, &tenant, &baseline).await;
    let load = (load_before, load_average());
    eprintln!("bench connect: load average {:.1} → {:.1}", load.0, load.1);
    eprintln!("bench connect: cleaning up");
    let (id, confirm) = (tenant.id.into(), tenant.subdomain.as_str());
    let skip = FinalBackup::Skip;
    let deleted = pg.delete_with(&id, confirm, skip, &system()).await;
    // After the database, so that its `CONNECT` grant is gone with it.
    let drop = format!(r#"DROP ROLE IF EXISTS "{baseline}""#);
    let dropped = admin.execute(AssertSqlSafe(drop)).await;
    let (ours, theirs) = outcome?;
    deleted?;
    dropped.context("dropping the baseline role")?;

    let table = report(&ours, &theirs);
    println!("{table}");
    let Some(doc) = &args.doc else { return Ok(()) };
    let section = format!(
        "{SECTION}\n\nRun {date} · {cpus} CPUs ({cpu}) · PostgreSQL {pg} ({durability}) · {r} \
         rounds × {n} sequential connects per role after 1 warm-up round · \
         load average {:.1} → {:.1} · `scripts/bench connect --rounds {r} --connects {n}`\n\n{METHOD}\n\n{table}",
        load.0,
        load.1,
        date = chrono::Utc::now().format("%Y-%m-%d"),
        cpus = m.cpus,
        cpu = m.cpu_model,
        pg = m.pg_version,
        durability = m.durability,
    );
    bench_doc::write_section(doc, SECTION, &section)?;
    eprintln!("bench connect: wrote {}", doc.display());
    Ok(())
}

/// Sets up the baseline role, then measures both roles: (ours, baseline).
async fn measure(
    args: &Args,
    admin: &mut PgConnection,
    pg: &Provisioner,
    tenant: &tenantry_registry::Tenant,
    baseline: &str,
) -> Result<(Side, Side)> {
    let ours = Url::parse(pg.tenant_url(tenant).await?.expose_secret())?;
    let (role, db) = (ours.username().to_owned(), &tenant.db_name);
    let tenant_role = tenant.db_user.as_deref();
    ensure!(tenant_role == Some(&role), "not the tenant role's URL");
    let password = percent_encoding::percent_decode_str(ours.password().unwrap_or_default())
        .decode_utf8()?
        .into_owned();
    let literal = password.replace('\'', "''");
    let mut theirs = ours.clone();
    let no_host = |()| anyhow::anyhow!("the tenant URL has no host");
    theirs.set_username(baseline).map_err(no_host)?;
    // Not the statement as context: it holds the password.
    let setup = format!(
        r#"SET password_encryption = 'scram-sha-256';
           CREATE ROLE "{baseline}" LOGIN PASSWORD '{literal}';
           GRANT CONNECT ON DATABASE "{db}" TO "{baseline}";
           ALTER ROLE "{role}" CONNECTION LIMIT -1"#
    );
    let created = admin.execute(AssertSqlSafe(setup)).await;
    created.context("creating the baseline role")?;
    for (name, prefix) in [(role.as_str(), OURS), (baseline, DEFAULT)] {
        let verifier: String =
            sqlx::query_scalar("SELECT rolpassword FROM pg_authid WHERE rolname = $1")
                .bind(name)
                .fetch_one(&mut *admin)
                .await?;
        ensure!(
            verifier.starts_with(prefix),
            "role {name}: verifier {:?}…, expected {prefix}…",
            verifier.get(..20).unwrap_or(&verifier)
        );
    }
    let urls = [ours.to_string(), theirs.to_string()];
    let names = ["16 rounds", "4096 rounds"];
    let mut sides = [Side::default(), Side::default()];
    for round in 0..=args.rounds {
        let mut line = String::new();
        for i in [round % 2, 1 - round % 2] {
            let (rate, ms, cpu) = sequential(&urls[i], args.connects).await?;
            let _ = write!(line, " {} {rate:.0}/s", names[i]);
            if round > 0 {
                sides[i].rates.push(rate);
                sides[i].connect_ms.extend(ms);
                sides[i].cpu_ms.extend(cpu);
            }
        }
        let label = match round {
            0 => "warm-up".into(),
            _ => format!("{round}/{}", args.rounds),
        };
        eprintln!("bench connect: {label}:{line}");
    }
    // Concurrent: half the time per role, then the other half in the reverse order (ABBA).
    let mut totals = [(0, 0.0); 2];
    for i in [0, 1, 1, 0] {
        let (n, secs) = concurrent(&urls[i], CONCURRENT_FOR / 2).await?;
        totals[i] = (totals[i].0 + n, totals[i].1 + secs);
        let (rate, name) = (n as f64 / secs, names[i]);
        eprintln!("bench connect: {CONCURRENCY} concurrent, {name}: {rate:.0}/s");
    }
    for (side, (n, secs)) in sides.iter_mut().zip(totals) {
        side.concurrent = n as f64 / secs;
    }
    sides[0].pbkdf2_us = pbkdf2_us(&password, 16);
    sides[1].pbkdf2_us = pbkdf2_us(&password, 4096);
    let [ours, theirs] = sides;
    Ok((ours, theirs))
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

/// A row of times: ours, the baseline's and the gain (baseline ÷ ours).
fn time_row(out: &mut String, what: &str, ours: f64, theirs: f64) {
    let gain = theirs / ours;
    let _ = writeln!(out, "| {what} | {ours:.2} | {theirs:.2} | {gain:.2}× | |");
}

/// The figures as a markdown table: ours, the baseline's and the gain (for a rate, ours ÷ the
/// baseline's; for a time, the baseline's ÷ ours).
fn report(ours: &Side, theirs: &Side) -> String {
    let pairs = ours.rates.iter().zip(&theirs.rates).map(|(o, t)| o / t);
    let gain = median(&pairs.collect::<Vec<_>>());
    let mut out = String::from(
        "| measurement | tenant role (16 rounds) | baseline role (4096 rounds) | gain | target |\n\
         |---|---:|---:|---:|---|\n",
    );
    let _ = writeln!(
        out,
        "| **sequential connects/s** (median of rounds) | {:.0} | {:.0} | {gain:.2}× (paired) | \
         ≥ {TARGET}× — {} |",
        median(&ours.rates),
        median(&theirs.rates),
        verdict(gain >= TARGET)
    );
    let (o, t) = (&ours.connect_ms, &theirs.connect_ms);
    for (q, what) in [(0.5, "p50"), (0.99, "p99")] {
        let what = format!("&nbsp;&nbsp;`connect()` {what} ms");
        time_row(&mut out, &what, percentile(o, q), percentile(t, q));
    }
    if !ours.cpu_ms.is_empty() && !theirs.cpu_ms.is_empty() {
        let what = "&nbsp;&nbsp;CPU of this process (the client) per connect, ms";
        time_row(&mut out, what, median(&ours.cpu_ms), median(&theirs.cpu_ms));
    }
    let (o, t) = (ours.concurrent, theirs.concurrent);
    let _ = writeln!(
        out,
        "| **{CONCURRENCY} concurrent tasks**, connects/s over {} s | {o:.0} | {t:.0} | {:.2}× | |",
        CONCURRENT_FOR.as_secs(),
        o / t
    );
    let what = "client PBKDF2-HMAC-SHA256 alone (`pbkdf2` crate), median µs";
    time_row(&mut out, what, ours.pbkdf2_us, theirs.pbkdf2_us);
    out
}

/// What `cargo test` checks: the statistics and the report (panics on a mismatch).
fn self_check() {
    assert_eq!(median(&[3.0, 1.0, 2.0, 9.0]), 2.5, "median");
    let v: Vec<f64> = (1..=100).map(f64::from).collect();
    assert_eq!((percentile(&v, 0.5), percentile(&v, 0.99)), (50.0, 99.0));
    let stat = "42 (tokio (rt)) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0";
    assert_eq!(parse_cpu(stat), Some(4.0), "utime + stime");
    let side = |rates: Vec<f64>, ms: f64| Side {
        rates,
        connect_ms: vec![ms; 10],
        cpu_ms: vec![ms / 2.0],
        concurrent: 100.0 / ms,
        pbkdf2_us: ms * 100.0,
    };
    let has = |table: String, row: &str| assert!(table.contains(row), "{row:?} in\n{table}");
    let (ours, theirs) = (
        side(vec![300.0, 280.0, 330.0], 2.0),
        side(vec![200.0; 3], 4.0),
    );
    has(report(&ours, &theirs), "| 1.50× (paired) | ≥ 1.3× — met |");
    has(
        report(&ours, &theirs),
        "`connect()` p50 ms | 2.00 | 4.00 | 2.00× |",
    );
    has(
        report(&ours, &theirs),
        "CPU of this process (the client) per connect, ms | 1.00 | 2.00 |",
    );
    let table = report(&side(vec![210.0], 2.0), &side(vec![200.0], 4.0));
    has(table, "1.05× (paired) | ≥ 1.3× — **missed** |");
}
