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

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use async_trait::async_trait;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use secrecy::SecretString;
use sqlx::{ConnectOptions as _, Connection as _};
use tenantry_core::TenantId;
use tenantry_pool::{PoolConfig, PoolError, TargetResolver, TenantPools, TenantTarget};
use tenantry_test_utils::bench_doc::{self, machine};

const HEADING: &str = "## Connection manager under load (scripts/bench pool)";
const ZIPF_S: f64 = 1.1;
const DATABASES: usize = 20;
const QUERY: &str = "SELECT v FROM items WHERE id = $1";

#[derive(Debug, Clone)]
struct Args {
    bench: bool,
    duration: u64,
    warmup: u64,
    concurrency: usize,
    doc: Option<PathBuf>,
}

fn parse_args(raw: impl IntoIterator<Item = String>) -> Result<Args> {
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

#[tokio::main]
async fn main() -> ExitCode {
    let result = match parse_args(std::env::args().skip(1)) {
        Ok(args) if !args.bench => {
            self_check();
            println!("bench pool: report logic ok (measure with `scripts/bench pool`)");
            Ok(())
        }
        Ok(args) => run(args).await,
        Err(e) => Err(e),
    };
    match result {
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
// The workload.

/// Zipf(s) over ranks `0..n` by inverse CDF.
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut total = 0.0;
        let cumulative = (1..=n)
            .map(|k| {
                total += 1.0 / (k as f64).powf(s);
                total
            })
            .collect::<Vec<_>>();
        Self {
            cumulative: cumulative.into_iter().map(|c| c / total).collect(),
        }
    }

    fn sample(&self, uniform: f64) -> usize {
        self.cumulative
            .partition_point(|&c| c < uniform)
            .min(self.cumulative.len() - 1)
    }
}

/// SplitMix64: a small, seedable generator (one per task).
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Tenant ids mapped onto the bench databases.
struct Targets(HashMap<TenantId, TenantTarget>);

#[async_trait]
impl TargetResolver for Targets {
    async fn resolve(&self, tenant: TenantId) -> Result<TenantTarget, PoolError> {
        self.0
            .get(&tenant)
            .cloned()
            .ok_or(PoolError::UnknownTenant(tenant))
    }
}

struct Fleet {
    admin_url: String,
    role: String,
    password: String,
    databases: Vec<String>,
}

impl Fleet {
    fn url(&self, db: &str) -> Result<String> {
        let mut url = url::Url::parse(&self.admin_url)?;
        url.set_username(&self.role)
            .map_err(|()| anyhow::anyhow!("bad URL"))?;
        url.set_password(Some(&self.password))
            .map_err(|()| anyhow::anyhow!("bad URL"))?;
        url.set_path(db);
        Ok(url.to_string())
    }

    /// `n` tenants spread over the databases, each with at most `max` connections.
    fn tenants(&self, n: usize, max: usize) -> Result<(Vec<TenantId>, Arc<Targets>)> {
        let mut ids = Vec::with_capacity(n);
        let mut map = HashMap::with_capacity(n);
        for i in 0..n {
            let id = TenantId::new();
            let db = &self.databases[i % self.databases.len()];
            map.insert(
                id,
                TenantTarget {
                    server: Some(uuid::Uuid::nil()),
                    url: SecretString::from(self.url(db)?),
                    max_connections: max,
                },
            );
            ids.push(id);
        }
        Ok((ids, Arc::new(Targets(map))))
    }
}

async fn admin_exec(admin: &sea_orm::DatabaseConnection, sql: &str) -> Result<()> {
    admin
        .execute_unprepared(sql)
        .await
        .with_context(|| sql.to_owned())?;
    Ok(())
}

async fn admin_scalar(admin: &sea_orm::DatabaseConnection, sql: &str) -> Result<i64> {
    let row = admin
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?
        .context("no row")?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// One request: lease, one indexed read, release.
async fn request(pools: &TenantPools, tenant: TenantId, id: i32) -> Result<(), PoolError> {
    let conn = pools.acquire(tenant).await?;
    let stmt = Statement::from_sql_and_values(DbBackend::Postgres, QUERY, [id.into()]);
    conn.query_one_raw(stmt)
        .await
        .map_err(|e| PoolError::Unavailable {
            tenant,
            message: format!("query failed: {e}"),
        })?;
    Ok(())
}

#[derive(Debug, Default, Clone)]
struct Outcome {
    requests: usize,
    elapsed: Duration,
    latencies_us: Vec<u64>,
    /// Errors by kind ("exhausted", "unavailable", …).
    errors: HashMap<&'static str, usize>,
    untyped_errors: usize,
    /// Tenant rank of each request in the order requests started, and whether it started in
    /// the measured window (after the warm-up).
    trace: Vec<(u32, bool)>,
    /// Connections opened by the pools during the measured window.
    opens: u64,
    /// Highest count of the role's sessions, over the warm-up and the window.
    peak_connections: i64,
    /// Sessions PostgreSQL counted over the warm-up and the window (a cross-check of `opens`).
    sessions: i64,
    warmup_opens: u64,
}

impl Outcome {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        let mut v = self.latencies_us.clone();
        if v.is_empty() {
            return 0.0;
        }
        v.sort_unstable();
        let i = ((v.len() - 1) as f64 * p).round() as usize;
        v[i] as f64 / 1000.0
    }

    fn error_count(&self) -> usize {
        self.errors.values().sum::<usize>() + self.untyped_errors
    }

    /// Misses per request in the measured window (connections opened per request).
    fn misses(&self) -> f64 {
        self.opens as f64 / self.requests.max(1) as f64
    }
}

/// Runs `concurrency` closed-loop tasks for `warmup` + `duration` over `tenants` drawn by
/// `zipf`, measuring the requests that start after the warm-up, and sampling the role's server
/// connections every 10 ms throughout.
#[allow(clippy::too_many_arguments)]
async fn drive(
    fleet: &Fleet,
    admin: &sea_orm::DatabaseConnection,
    config: PoolConfig,
    tenants: (Vec<TenantId>, Arc<Targets>),
    zipf: Option<Zipf>,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<Outcome> {
    let sessions_before = sessions(admin, fleet).await?;
    let (ids, targets) = tenants;
    let pools = TenantPools::new(config, targets);
    let housekeeping = pools.spawn_housekeeping();
    let ids = Arc::new(ids);
    let zipf = Arc::new(zipf);
    let trace = Arc::new(Mutex::new(Vec::<(u32, bool)>::new()));
    let stop = Arc::new(AtomicBool::new(false));

    let role = fleet.role.clone();
    let sampler = {
        let stop = stop.clone();
        let admin = admin.clone();
        tokio::spawn(async move {
            let sql = format!("SELECT count(*) FROM pg_stat_activity WHERE usename = '{role}'");
            let mut peak = 0;
            while !stop.load(Ordering::Relaxed) {
                if let Ok(n) = admin_scalar(&admin, &sql).await {
                    peak = peak.max(n);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            peak
        })
    };

    let warm_end = Instant::now() + warmup;
    let deadline = warm_end + duration;
    let warmup_opens = {
        let pools = pools.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(warm_end.into()).await;
            pools.stats().opens
        })
    };
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let (pools, ids, zipf, trace) =
                (pools.clone(), ids.clone(), zipf.clone(), trace.clone());
            tokio::spawn(async move {
                let mut rng = Rng(0x5EED ^ (task as u64) << 32);
                let mut out = Outcome::default();
                while Instant::now() < deadline {
                    let rank = match zipf.as_ref() {
                        Some(z) => z.sample(rng.next_f64()),
                        None => 0,
                    };
                    let t0 = Instant::now();
                    let measured = t0 >= warm_end;
                    trace.lock().unwrap().push((rank as u32, measured));
                    let id = (rng.next_f64() * 100.0) as i32 + 1;
                    match request(&pools, ids[rank], id).await {
                        Ok(()) if !measured => {}
                        Ok(()) => {
                            out.requests += 1;
                            out.latencies_us.push(t0.elapsed().as_micros() as u64);
                        }
                        Err(_) if !measured => {}
                        Err(e) => {
                            let kind = match e {
                                PoolError::Exhausted { .. } => "exhausted (503)",
                                PoolError::Unavailable { .. } => "unavailable (503)",
                                _ => "other",
                            };
                            if kind == "other" {
                                out.untyped_errors += 1;
                            } else {
                                *out.errors.entry(kind).or_default() += 1;
                            }
                        }
                    }
                }
                out
            })
        })
        .collect();
    let mut total = Outcome::default();
    for task in tasks {
        let out = task.await?;
        total.requests += out.requests;
        total.latencies_us.extend(out.latencies_us);
        total.untyped_errors += out.untyped_errors;
        for (k, v) in out.errors {
            *total.errors.entry(k).or_default() += v;
        }
    }
    total.elapsed = warm_end.elapsed();
    stop.store(true, Ordering::Relaxed);
    total.peak_connections = sampler.await?;
    total.warmup_opens = warmup_opens.await?;
    total.opens = pools.stats().opens - total.warmup_opens;
    total.trace = std::mem::take(&mut *trace.lock().unwrap());
    housekeeping.abort();
    drop(pools);
    // Sessions are counted by PostgreSQL as they end: wait for the pools' connections to close.
    let sql = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = '{}'",
        fleet.role
    );
    let until = Instant::now() + Duration::from_secs(10);
    while admin_scalar(admin, &sql).await? > 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    total.sessions = sessions(admin, fleet).await? - sessions_before;
    Ok(total)
}

async fn sessions(admin: &sea_orm::DatabaseConnection, fleet: &Fleet) -> Result<i64> {
    admin_exec(admin, "SELECT pg_stat_clear_snapshot()").await?;
    let list = fleet
        .databases
        .iter()
        .map(|d| format!("'{d}'"))
        .collect::<Vec<_>>()
        .join(",");
    admin_scalar(
        admin,
        &format!(
            "SELECT COALESCE(sum(sessions), 0)::bigint FROM pg_stat_database WHERE datname IN ({list})"
        ),
    )
    .await
}

/// Misses per measured request of an ideal LRU cache of `capacity` one-connection slots
/// replaying `trace` (warmed by the requests of the warm-up).
fn lru_misses(trace: &[(u32, bool)], capacity: usize) -> f64 {
    let mut cache: VecDeque<u32> = VecDeque::with_capacity(capacity + 1);
    let (mut misses, mut measured) = (0usize, 0usize);
    for &(t, in_window) in trace {
        measured += usize::from(in_window);
        if let Some(pos) = cache.iter().position(|&c| c == t) {
            cache.remove(pos);
        } else {
            misses += usize::from(in_window);
            if cache.len() == capacity {
                cache.pop_front();
            }
        }
        cache.push_back(t);
    }
    misses as f64 / measured.max(1) as f64
}

/// The churn ceiling: a request costs 1/H when its tenant is warm and 1/C when it must connect.
fn churn_ceiling(m: f64, h: f64, c: f64) -> f64 {
    1.0 / ((1.0 - m) / h + m / c)
}

/// `pgbench -C`: a new connection per transaction, as the tenant role, on one bench database.
async fn pgbench_connect_rate(fleet: &Fleet, concurrency: usize, secs: u64) -> Result<f64> {
    let url = url::Url::parse(&fleet.admin_url)?;
    let script =
        std::env::temp_dir().join(format!("tenantry-bench-pool-{}.sql", std::process::id()));
    std::fs::write(&script, "SELECT v FROM items WHERE id = 1;\n")?;
    let pgbench = ["/usr/lib/postgresql/15/bin/pgbench", "pgbench"]
        .into_iter()
        .find(|p| !p.starts_with('/') || std::path::Path::new(p).exists())
        .unwrap_or("pgbench");
    let output = tokio::process::Command::new(pgbench)
        .args([
            "-n",
            "-C",
            "-c",
            &concurrency.min(16).to_string(),
            "-j",
            "2",
            "-T",
            &secs.to_string(),
            "-f",
        ])
        .arg(&script)
        .args(["-h", url.host_str().unwrap_or("127.0.0.1")])
        .args(["-p", &url.port().unwrap_or(5432).to_string()])
        .args(["-U", &fleet.role, &fleet.databases[0]])
        .env("PGPASSWORD", &fleet.password)
        .output()
        .await
        .context("running pgbench")?;
    std::fs::remove_file(&script).ok();
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "pgbench failed: {}{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l["tps = ".len()..].split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no tps in pgbench output: {stdout}"))
}

/// First request to tenants with no pool, against a bare connect + the same query (medians, ms).
async fn cold_tenant(fleet: &Fleet, rounds: usize) -> Result<(f64, f64)> {
    let (ids, targets) = fleet.tenants(rounds, 5)?;
    let pools = TenantPools::new(PoolConfig::default(), targets);
    let mut tenantry = Vec::new();
    let mut bare = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let t0 = Instant::now();
        request(&pools, *id, 1).await?;
        tenantry.push(t0.elapsed().as_secs_f64() * 1000.0);

        let db = &fleet.databases[i % fleet.databases.len()];
        let options = sqlx::postgres::PgConnectOptions::from_str(&fleet.url(db)?)?;
        let t0 = Instant::now();
        let mut conn = options.connect().await?;
        sqlx::query(QUERY).bind(1).fetch_optional(&mut conn).await?;
        bare.push(t0.elapsed().as_secs_f64() * 1000.0);
        conn.close().await?;
    }
    Ok((median(tenantry), median(bare)))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    v[v.len() / 2]
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

struct Results {
    h: Outcome,
    c: f64,
    room: Outcome,
    room_lru: f64,
    scarce: Outcome,
    scarce_lru: f64,
    cold: (f64, f64),
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

fn chrono_date() -> String {
    let out = std::process::Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    out.unwrap_or_default()
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

fn errors(o: &Outcome) -> String {
    if o.error_count() == 0 {
        return "0".into();
    }
    let mut kinds: Vec<_> = o.errors.iter().map(|(k, v)| format!("{v} {k}")).collect();
    if o.untyped_errors > 0 {
        kinds.push(format!("{} untyped", o.untyped_errors));
    }
    kinds.sort();
    kinds.join(", ")
}

fn report(r: &Results) -> String {
    let h = r.h.rps();
    let mut out = String::from(
        "| load | req/s | p50 ms | p99 ms | misses/request | opens (warm-up + window) | sessions | peak connections | errors | target |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---|---|\n",
    );
    let mut row = |name: &str, o: &Outcome, target: String| {
        let _ = writeln!(
            out,
            "| {name} | {:.0} | {:.2} | {:.2} | {:.4} | {} + {} | {} | {} | {} | {target} |",
            o.rps(),
            o.percentile_ms(0.5),
            o.percentile_ms(0.99),
            o.misses(),
            o.warmup_opens,
            o.opens,
            o.sessions,
            o.peak_connections,
            errors(o),
        );
    };
    row("**H**: one hot tenant, 5 connections", &r.h, String::new());
    let room_ratio = r.room.rps() / h;
    row(
        "**room for all**: 300 tenants × 5, budget 250",
        &r.room,
        format!(
            "{room_ratio:.2} × H ≥ 0.6 — {}; m {:.4} vs ideal LRU {:.4}; churn ceiling {:.0}",
            verdict(room_ratio >= 0.6),
            r.room.misses(),
            r.room_lru,
            churn_ceiling(r.room.misses(), h, r.c),
        ),
    );
    let m = r.scarce.misses();
    let ceiling = churn_ceiling(m, h, r.c);
    let scarce_ratio = r.scarce.rps() / ceiling;
    let error_share =
        r.scarce.error_count() as f64 / (r.scarce.requests + r.scarce.error_count()).max(1) as f64;
    let lru_gap = if r.scarce_lru > 0.0 {
        (m - r.scarce_lru).abs() / r.scarce_lru
    } else {
        0.0
    };
    row(
        "**scarce**: 1000 tenants × 1, budget 40",
        &r.scarce,
        format!(
            "peak {} ≤ 40 — {}; errors {:.2}% typed < 1% — {}; {:.0} req/s = {scarce_ratio:.2} × ceiling {ceiling:.0} ≥ 0.7 — {}; m {m:.4} vs ideal LRU {:.4} ({:+.0}%) within 10% — {}",
            r.scarce.peak_connections,
            verdict(r.scarce.peak_connections <= 40),
            error_share * 100.0,
            verdict(error_share < 0.01 && r.scarce.untyped_errors == 0),
            r.scarce.rps(),
            verdict(scarce_ratio >= 0.7),
            r.scarce_lru,
            (m - r.scarce_lru) / r.scarce_lru.max(f64::EPSILON) * 100.0,
            verdict(lru_gap <= 0.10),
        ),
    );
    let (cold, bare) = r.cold;
    let cold_ratio = cold / bare;
    let _ = writeln!(
        out,
        "\nH = {h:.0} req/s; C = {:.0} connections/s (`pgbench -C`). Cold tenant (median of 20 first \
         requests): {cold:.2} ms against {bare:.2} ms for a bare connect + the same query = \
         {cold_ratio:.2}× (≤ 1.5× — {}).",
        r.c,
        verdict(cold_ratio <= 1.5),
    );
    out
}

/// Checks the arithmetic the report relies on (run by `cargo test`).
fn self_check() {
    // An LRU of 2 over a b a c b: a miss, b miss, a hit, c miss (evicts b), b miss (evicts a).
    let trace = [0, 1, 0, 2, 1].map(|t| (t, true));
    assert!((lru_misses(&trace, 2) - 4.0 / 5.0).abs() < 1e-9);
    // Warm-up requests fill the cache but are not counted: only `2` (a miss) and `0` (a hit).
    let warmed = [(0, false), (1, false), (2, true), (0, true)];
    assert!((lru_misses(&warmed, 3) - 1.0 / 2.0).abs() < 1e-9);
    // All warm: the ceiling is H; all cold: it is C.
    assert!((churn_ceiling(0.0, 1000.0, 100.0) - 1000.0).abs() < 1e-9);
    assert!((churn_ceiling(1.0, 1000.0, 100.0) - 100.0).abs() < 1e-9);
    // Zipf: rank 0 is the most likely and every sample is in range.
    let z = Zipf::new(1000, ZIPF_S);
    let mut rng = Rng(1);
    let mut counts = vec![0usize; 1000];
    for _ in 0..20_000 {
        counts[z.sample(rng.next_f64())] += 1;
    }
    assert!(counts[0] > counts[1] && counts[1] > counts[10]);
    let o = Outcome {
        requests: 3,
        elapsed: Duration::from_secs(1),
        latencies_us: vec![3000, 1000, 2000],
        ..Outcome::default()
    };
    assert_eq!(o.percentile_ms(0.5), 2.0);
    assert_eq!(o.rps(), 3.0);
}
