//! `scripts/bench provision`: what provisioning a tenant costs, as ratios against a bare
//! baseline measured in the same run on the same PostgreSQL server (DESIGN §4).
//!
//! Measured N times each after a few warm-up rounds. Each round takes one of every measurement,
//! starts from a `CHECKPOINT` (untimed) and rotates their order, so that write-back and other
//! drift on the server hit every measurement alike:
//!
//! - **baseline**: `CREATE DATABASE` as the server admin + the tenant schema applied with `psql`;
//! - **Tenantry PostgreSQL**: `Provisioner::create` on the registered server (master database on
//!   the same server), in total and per step;
//! - **template**: `CREATE DATABASE ... TEMPLATE` of a database kept at the schema + `ALTER
//!   DATABASE ... OWNER`, and the same + `REASSIGN OWNED` inside the copy (what a provisioner
//!   would also need so that the tenant role owns its tables);
//! - **SQLite tenant**: `Provisioner::create` with a SQLite master and no server registered;
//! - **fleet no-op**: `migrate_tenants` over 1000 registered SQLite tenants already at the latest
//!   version (no tenant connection may be opened).
//!
//! The tenant admin's argon2id hash is computed once, beforehand, at its default cost, and
//! reported on its own line: it is not part of provisioning time.
//!
//! Needs `TENANTRY_TEST_PG_URL` (superuser) and `TENANTRY_TEST_PG_BIN` (for `psql`), as set by
//! `scripts/with-pg --durable`. Everything created is dropped at the end. Progress goes to
//! stderr, the results table to stdout; `--doc FILE` also writes them into that markdown file.
//! Without `--bench` (that is, under `cargo test --all-targets`) it only checks its report logic.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use secrecy::SecretString;
use sqlx::{AssertSqlSafe, Connection as _, Executor as _, PgConnection};
use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::{KeyRing, Vault, hash_password};
use tenantry_core::{Email, PlanId, ServerName, Subdomain, TenantId};
use tenantry_migrate::Dialect as MigrateDialect;
use tenantry_provision::fleet::{FleetOptions, FleetOutcome};
use tenantry_provision::{CreateTenant, Provisioner, Step};
use tenantry_registry::{Actor, NewServer, NewTenant, Registry, ServerDialect, TenantStatus};
use tenantry_test_utils::TestDb;
use tenantry_test_utils::bench_doc::{Machine, machine};
use url::Url;

const SECTION: &str = "## Provisioning (scripts/bench provision)";
const SERVER: &str = "bench-pg";
const FLEET_TENANTS: usize = 1000;
const FLEET_CONCURRENCY: usize = 8;
/// DESIGN §4 targets.
const PG_TARGET_RATIO: f64 = 1.5;
/// Issue 19: a creation that claims a warm spare, against the same baseline.
const SPARE_TARGET_RATIO: f64 = 0.25;
const SQLITE_TARGET_MS: f64 = 10.0;
const FLEET_TARGET_MS: f64 = 1000.0;

const DEFAULT_TENANTS: usize = 20;
const DEFAULT_WARMUP: usize = 3;

const USAGE: &str = "usage: provision [--tenants N] [--warmup N] [--doc FILE]";

struct Args {
    /// `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it.
    bench: bool,
    tenants: usize,
    warmup: usize,
    doc: Option<PathBuf>,
}

fn parse_args() -> Result<Args> {
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

#[tokio::main]
async fn main() -> ExitCode {
    let result = match parse_args() {
        // Under `cargo test` (the workspace suite builds all targets): check the report logic
        // only, without a server, and leave the measuring to `scripts/bench provision`.
        Ok(args) if !args.bench => {
            self_check();
            println!("bench provision: report logic ok (measure with `scripts/bench provision`)");
            Ok(())
        }
        Ok(args) => run(args).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench provision: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn progress(message: impl AsRef<str>) {
    eprintln!("bench provision: {}", message.as_ref());
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median and 90th percentile (nearest rank) in milliseconds.
#[derive(Debug, Clone, Copy)]
struct Stats {
    median: f64,
    p90: f64,
}

fn stats(samples: &[Duration]) -> Stats {
    stats_ms(samples.iter().copied().map(ms).collect())
}

fn stats_ms(mut v: Vec<f64>) -> Stats {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    assert!(n > 0, "no samples");
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    let rank = (0.9 * n as f64).ceil() as usize;
    Stats {
        median,
        p90: v[rank.clamp(1, n) - 1],
    }
}

/// What the run creates on the server beside Tenantry's tenants, dropped at the end whatever
/// happened.
#[derive(Default)]
struct Leftovers {
    databases: Vec<String>,
    templates: Vec<String>,
    roles: Vec<String>,
}

/// The server under test: an admin connection, its URL and `psql`.
struct Server {
    admin: PgConnection,
    url: Url,
    psql: PathBuf,
    /// The real tenant migrations for PostgreSQL, in version order.
    schema: Vec<PathBuf>,
}

impl Server {
    fn url_for(&self, database: &str) -> String {
        let mut url = self.url.clone();
        url.set_path(&format!("/{database}"));
        url.to_string()
    }

    async fn exec(&mut self, sql: String) -> Result<()> {
        self.admin
            .execute(AssertSqlSafe(sql.clone()))
            .await
            .with_context(|| sql.clone())?;
        Ok(())
    }

    /// `psql -X -q -v ON_ERROR_STOP=1 -d <db> [-c <first>] -f <V1> -f <V2> ...`.
    async fn psql_schema(&self, database: &str, first: Option<&str>) -> Result<()> {
        let mut cmd = tokio::process::Command::new(&self.psql);
        cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.url_for(database));
        if let Some(sql) = first {
            cmd.args(["-c", sql]);
        }
        for file in &self.schema {
            cmd.arg("-f").arg(file);
        }
        let out = cmd
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .with_context(|| format!("running {}", self.psql.display()))?;
        ensure!(
            out.status.success(),
            "psql on {database} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(())
    }

    /// `CREATE DATABASE ... TEMPLATE`, retrying while the template's last session is still
    /// exiting (a session that just closed may linger for a moment).
    async fn create_from_template(&mut self, name: &str, template: &str) -> Result<()> {
        let sql = format!(r#"CREATE DATABASE "{name}" TEMPLATE "{template}""#);
        for attempt in 0.. {
            match self.admin.execute(AssertSqlSafe(sql.clone())).await {
                Ok(_) => return Ok(()),
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55006") => {
                    ensure!(attempt < 100, "{sql}: template still in use: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => return Err(e).context(sql),
            }
        }
        unreachable!()
    }
}

/// What one round measures, in the order of its first round (later rounds rotate it).
#[derive(Debug, Clone, Copy)]
enum Measure {
    Baseline,
    Tenantry,
    Spare,
    Template,
    TemplateReassign,
    Sqlite,
}

impl Measure {
    const ALL: [Measure; 6] = [
        Measure::Baseline,
        Measure::Tenantry,
        Measure::Spare,
        Measure::Template,
        Measure::TemplateReassign,
        Measure::Sqlite,
    ];
}

/// One round's figures.
#[derive(Default)]
struct Round {
    baseline: Duration,
    baseline_create: Duration,
    tenantry: Duration,
    steps: Vec<(Step, Duration)>,
    spare: Duration,
    spare_steps: Vec<(Step, Duration)>,
    template: Duration,
    template_reassign: Duration,
    sqlite: Duration,
    sqlite_steps: Vec<(Step, Duration)>,
}

#[derive(Default)]
struct MasterRoundTrips {
    read: Vec<Duration>,
    write: Vec<Duration>,
}

#[derive(Default)]
struct Samples {
    rounds: Vec<Round>,
    pg_master: MasterRoundTrips,
    sqlite_master: MasterRoundTrips,
}

impl Samples {
    fn of(&self, f: impl Fn(&Round) -> Duration) -> Vec<Duration> {
        self.rounds.iter().map(f).collect()
    }
}

struct Fleet {
    list: Duration,
    check: Duration,
    connections_opened: usize,
    up_to_date: usize,
}

struct Results {
    tenants: usize,
    warmup: usize,
    hash: Duration,
    machine: Machine,
    samples: Samples,
    fleet: Fleet,
}

async fn run(args: Args) -> Result<()> {
    let url = std::env::var("TENANTRY_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .context("TENANTRY_TEST_PG_URL is not set: run `scripts/bench provision`")?;
    let bin = std::env::var("TENANTRY_TEST_PG_BIN")
        .ok()
        .filter(|u| !u.is_empty())
        .context("TENANTRY_TEST_PG_BIN is not set: run `scripts/bench provision`")?;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations-tenant/postgres");
    let schema: Vec<PathBuf> = tenantry_app::MIGRATIONS
        .migrations(MigrateDialect::Postgres)?
        .iter()
        .map(|m| dir.join(format!("V{}__{}.sql", m.version(), m.name())))
        .collect();
    for file in &schema {
        ensure!(file.is_file(), "no migration at {}", file.display());
    }
    let mut server = Server {
        admin: PgConnection::connect(&url)
            .await
            .context("connecting to the server")?,
        url: Url::parse(&url).context("TENANTRY_TEST_PG_URL")?,
        psql: Path::new(&bin).join("psql"),
        schema,
    };

    let machine = machine(&url).await?;
    progress(format!(
        "{} CPUs, PostgreSQL {} ({}); {} tenants per measurement after {} warm-ups",
        machine.cpus, machine.pg_version, machine.durability, args.tenants, args.warmup
    ));
    if !machine.durable {
        progress("WARNING: durability is off on this server; figures are not representative");
    }

    // The tenant admin's password hash: once, at argon2id's default cost, off the executor.
    let started = Instant::now();
    let admin_hash = tokio::task::spawn_blocking(|| {
        hash_password(&SecretString::from("bench-tenant-admin-password"))
    })
    .await?
    .context("hashing the tenant admin password")?;
    let hash = started.elapsed();
    progress(format!("argon2id hash: {:.1} ms", ms(hash)));

    // Tenantry on PostgreSQL: a fresh master database on the same server, the server registered.
    let pg_master = TestDb::postgres().await;
    let pg_registry = registry(&pg_master).await?;
    let admin_url = server.url.as_str();
    pg_registry
        .add_server(
            NewServer {
                name: ServerName::parse(SERVER)?,
                dialect: ServerDialect::Postgres,
                url: admin_url
                    .rsplit_once('/')
                    .map_or(admin_url, |(base, _)| base)
                    .to_owned(),
                admin_password: None,
                capacity: 100_000,
            },
            tenantry_registry::Origin::from(tenantry_registry::Actor::System).entry(
                "server.add",
                None,
                serde_json::json!({}),
            ),
        )
        .await?;
    let pg = Provisioner::new(pg_registry.clone(), pg_master.dir());

    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let mut leftovers = Leftovers::default();
    let outcome = measure(
        &args,
        &mut server,
        &pg,
        &run_id,
        &admin_hash,
        &mut leftovers,
    )
    .await;
    // Clean up whatever happened.
    progress("cleaning up");
    let deleted = delete_tenants(&pg).await;
    let cleaned = clean_up(&mut server, &leftovers).await;
    drop(pg);
    drop(pg_registry);
    drop(pg_master);
    let (samples, fleet) = outcome?;
    deleted?;
    cleaned?;

    let results = Results {
        tenants: args.tenants,
        warmup: args.warmup,
        hash,
        machine,
        samples,
        fleet,
    };
    let table = report(&results);
    println!("{table}");
    if let Some(doc) = &args.doc {
        write_doc(doc, &section(&results, &table))?;
        progress(format!("wrote {}", doc.display()));
    }
    Ok(())
}

fn vault() -> Arc<Vault> {
    Arc::new(Vault::new(KeyRing::from_keys(
        KeyRing::generate_key(),
        vec![],
    )))
}

async fn registry(master: &TestDb) -> Result<Registry> {
    let url = DatabaseUrl::parse(master.url()).map_err(anyhow::Error::msg)?;
    let registry = Registry::connect(&url, vault()).await?;
    registry.migrate().await?;
    Ok(registry)
}

fn request(subdomain: &str, admin_hash: &str) -> Result<CreateTenant> {
    Ok(CreateTenant {
        subdomain: Subdomain::parse(subdomain, &[])?,
        name: format!("{subdomain} Ltd"),
        plan: PlanId::parse("standard")?,
        admin_email: Email::parse(&format!("admin@{subdomain}.example"))?,
        admin_password_hash: admin_hash.to_owned(),
        server: None,
        origin: Actor::System.into(),
    })
}

/// Deletes every tenant of the provisioner's registry (database, role, registry tombstone).
async fn delete_tenants(provisioner: &Provisioner) -> Result<()> {
    for tenant in provisioner.registry().list_tenants(None).await? {
        provisioner
            .delete(
                &tenant.id.into(),
                tenant.subdomain.as_str(),
                &Actor::System.into(),
            )
            .await
            .with_context(|| format!("deleting tenant {}", tenant.subdomain))?;
    }
    Ok(())
}

async fn measure(
    args: &Args,
    server: &mut Server,
    pg: &Provisioner,
    run_id: &str,
    admin_hash: &str,
    created: &mut Leftovers,
) -> Result<(Samples, Fleet)> {
    // SQLite tenants: a SQLite master in a temp dir, no server registered.
    let sqlite_master = TestDb::sqlite().await;
    let sqlite = Provisioner::new(registry(&sqlite_master).await?, sqlite_master.dir());

    // The template: owned by the admin, its tables by a role a copy can reassign them from.
    let template = format!("tpl_{run_id}");
    let template_owner = format!("tplown_{run_id}");
    let tenant_role = format!("r_{run_id}");
    for role in [&template_owner, &tenant_role] {
        server
            .exec(format!(r#"CREATE ROLE "{role}" NOLOGIN"#))
            .await?;
        created.roles.push(role.clone());
    }
    server
        .exec(format!(r#"CREATE DATABASE "{template}""#))
        .await?;
    created.templates.push(template.clone());
    server
        .psql_schema(
            &template,
            Some(&format!(
                r#"GRANT CREATE ON SCHEMA public TO "{template_owner}"; SET ROLE "{template_owner}""#
            )),
        )
        .await?;
    server
        .exec(format!(
            r#"ALTER DATABASE "{template}" IS_TEMPLATE true ALLOW_CONNECTIONS false"#
        ))
        .await?;

    let mut samples = Samples::default();
    let rounds = args.warmup + args.tenants;
    for round in 0..rounds {
        let warm = round < args.warmup;
        let tag = if warm {
            format!("w{round}")
        } else {
            format!("{}", round - args.warmup)
        };
        // Each round starts from a flushed server (untimed): a burst of CREATE DATABASE leaves
        // megabytes of dirty pages whose write-back would otherwise land on whichever
        // measurement comes next. Rotating the order spreads what remains evenly.
        server.exec("CHECKPOINT".into()).await?;
        let mut t = Round::default();
        for i in 0..Measure::ALL.len() {
            match Measure::ALL[(round + i) % Measure::ALL.len()] {
                Measure::Baseline => {
                    // Bare CREATE DATABASE + the schema with psql, as the server admin.
                    let name = format!("b_{run_id}_{tag}");
                    let started = Instant::now();
                    server.exec(format!(r#"CREATE DATABASE "{name}""#)).await?;
                    created.databases.push(name.clone());
                    let create = started.elapsed();
                    server.psql_schema(&name, None).await?;
                    t.baseline = started.elapsed();
                    t.baseline_create = create;
                }
                Measure::Tenantry => {
                    let subdomain = format!("pg-{tag}");
                    let started = Instant::now();
                    let tenant = pg
                        .create(request(&subdomain, admin_hash)?)
                        .await
                        .with_context(|| format!("creating PostgreSQL tenant {subdomain}"))?;
                    t.tenantry = started.elapsed();
                    t.steps = tenant.timings;
                }
                Measure::Spare => {
                    // One spare built just before (untimed), then claimed by the creation; the
                    // plain measurement above never finds one ready.
                    let refill = pg.refill_spares(1, 1).await?;
                    ensure!(refill.built == 1, "no spare built: {refill:?}");
                    // Built ahead of demand in real use: its write-back is not the claim's.
                    server.exec("CHECKPOINT".into()).await?;
                    let subdomain = format!("sp-{tag}");
                    let started = Instant::now();
                    let tenant = pg
                        .create(request(&subdomain, admin_hash)?)
                        .await
                        .with_context(|| format!("creating tenant {subdomain} from a spare"))?;
                    t.spare = started.elapsed();
                    t.spare_steps = tenant.timings;
                    let left = pg.registry().spares(None).await?;
                    ensure!(left.is_empty(), "the spare was not claimed: {left:?}");
                }
                Measure::Template => {
                    // Copy + database ownership, as the experiment is specified.
                    let name = format!("x_{run_id}_{tag}");
                    let started = Instant::now();
                    server.create_from_template(&name, &template).await?;
                    created.databases.push(name.clone());
                    server
                        .exec(format!(
                            r#"ALTER DATABASE "{name}" OWNER TO "{tenant_role}""#
                        ))
                        .await?;
                    t.template = started.elapsed();
                }
                Measure::TemplateReassign => {
                    // Copy + ownership of the tables too (what a provisioner would need).
                    let name = format!("y_{run_id}_{tag}");
                    let started = Instant::now();
                    server.create_from_template(&name, &template).await?;
                    created.databases.push(name.clone());
                    server
                        .exec(format!(
                            r#"ALTER DATABASE "{name}" OWNER TO "{tenant_role}""#
                        ))
                        .await?;
                    let mut inside = PgConnection::connect(&server.url_for(&name)).await?;
                    inside
                        .execute(AssertSqlSafe(format!(
                            r#"REASSIGN OWNED BY "{template_owner}" TO "{tenant_role}""#
                        )))
                        .await?;
                    inside.close().await?;
                    t.template_reassign = started.elapsed();
                }
                Measure::Sqlite => {
                    let subdomain = format!("lite-{tag}");
                    let started = Instant::now();
                    let tenant = sqlite
                        .create(request(&subdomain, admin_hash)?)
                        .await
                        .with_context(|| format!("creating SQLite tenant {subdomain}"))?;
                    t.sqlite = started.elapsed();
                    t.sqlite_steps = tenant.timings;
                }
            }
        }

        if warm {
            progress(format!("warm-up {}/{}", round + 1, args.warmup));
            continue;
        }
        progress(format!(
            "{}/{}: baseline {:.1} ms, tenantry {:.1} ms, spare {:.1} ms, template {:.1} ms, sqlite {:.1} ms",
            round + 1 - args.warmup,
            args.tenants,
            ms(t.baseline),
            ms(t.tenantry),
            ms(t.spare),
            ms(t.template),
            ms(t.sqlite)
        ));
        samples.rounds.push(t);
    }

    samples.pg_master = round_trips(pg.registry(), args.tenants).await?;
    samples.sqlite_master = round_trips(sqlite.registry(), args.tenants).await?;

    progress(format!(
        "fleet: registering {FLEET_TENANTS} SQLite tenants at the latest version"
    ));
    let fleet = fleet().await?;
    Ok((samples, fleet))
}

/// One registry read (`plan`) and one registry write (`record_schema_version` rewriting a
/// tenant's own version: one commit), `n` times each after a warm-up: the unit cost of the
/// bookkeeping `create` does around its steps.
async fn round_trips(registry: &Registry, n: usize) -> Result<MasterRoundTrips> {
    let tenant = registry
        .list_tenants(None)
        .await?
        .into_iter()
        .next()
        .context("no tenant to rewrite")?;
    let id = tenant.id;
    let mut trips = MasterRoundTrips::default();
    for i in 0..n + 3 {
        let started = Instant::now();
        registry.plan_by_id(&PlanId::parse("standard")?).await?;
        let read = started.elapsed();
        let started = Instant::now();
        registry
            .record_schema_version(id, tenant.schema_version, None)
            .await?;
        let write = started.elapsed();
        if i >= 3 {
            trips.read.push(read);
            trips.write.push(write);
        }
    }
    Ok(trips)
}

/// 1000 SQLite tenants registered at the latest version (rows only: the no-op check must not
/// touch their databases), then `list_tenants` + `migrate_tenants`, timed separately.
async fn fleet() -> Result<Fleet> {
    let master = TestDb::sqlite().await;
    let registry = registry(&master).await?;
    let latest = tenantry_app::MIGRATIONS.latest_version(MigrateDialect::Sqlite)?;
    for i in 0..FLEET_TENANTS {
        let id = TenantId::new();
        let subdomain = format!("fleet-{i:04}");
        registry
            .reserve_tenant(NewTenant {
                id,
                subdomain: Subdomain::parse(&subdomain, &[])?,
                name: subdomain.clone(),
                plan: PlanId::parse("standard")?,
                server: None,
                db_name: format!("t_fleet_{i:04}"),
                db_user: None,
                db_password: None,
                storage_limit_mb: None,
            })
            .await?;
        registry.record_schema_version(id, latest, None).await?;
        registry
            .set_tenant_status(id, TenantStatus::Active, None, seeded(id))
            .await?;
    }
    let provisioner = Provisioner::new(registry.clone(), master.dir());

    let started = Instant::now();
    let tenants = registry.list_tenants(None).await?;
    let list = started.elapsed();
    ensure!(tenants.len() == FLEET_TENANTS, "listed {}", tenants.len());
    let started = Instant::now();
    let report = provisioner
        .migrate_tenants(
            tenants,
            FleetOptions {
                concurrency: FLEET_CONCURRENCY,
                continue_on_error: true,
                dry_run: false,
            },
            &|_| {},
        )
        .await?;
    let check = started.elapsed();
    let up_to_date = report.count(|o| *o == FleetOutcome::UpToDate);
    ensure!(
        !master.dir().join("tenants").exists(),
        "the no-op fleet check created tenant files"
    );
    Ok(Fleet {
        list,
        check,
        connections_opened: report.connections_opened,
        up_to_date,
    })
}

async fn clean_up(server: &mut Server, created: &Leftovers) -> Result<()> {
    let mut failures = Vec::new();
    for template in &created.templates {
        if let Err(e) = server
            .exec(format!(
                r#"ALTER DATABASE "{template}" IS_TEMPLATE false ALLOW_CONNECTIONS true"#
            ))
            .await
        {
            failures.push(format!("{e:#}"));
        }
    }
    for database in created.databases.iter().chain(&created.templates) {
        if let Err(e) = server
            .exec(format!(
                r#"DROP DATABASE IF EXISTS "{database}" WITH (FORCE)"#
            ))
            .await
        {
            failures.push(format!("{e:#}"));
        }
    }
    for role in &created.roles {
        if let Err(e) = server
            .exec(format!(r#"DROP ROLE IF EXISTS "{role}""#))
            .await
        {
            failures.push(format!("{e:#}"));
        }
    }
    ensure!(
        failures.is_empty(),
        "clean-up failed:\n  {}",
        failures.join("\n  ")
    );
    Ok(())
}

fn step_samples(steps: &[&[(Step, Duration)]], step: Step) -> Vec<Duration> {
    steps
        .iter()
        .map(|t| {
            t.iter()
                .find(|(s, _)| *s == step)
                .map_or(Duration::ZERO, |(_, d)| *d)
        })
        .collect()
}

/// What a row is compared with.
#[derive(Clone, Copy)]
enum Versus<'a> {
    Nothing,
    /// Ratio of medians.
    Baseline(&'a [Duration]),
    /// Ratio of medians, and the median of the per-round ratios (same round, same conditions).
    Paired(&'a [Duration]),
}

fn row(out: &mut String, what: &str, samples: &[Duration], versus: Versus<'_>, target: &str) {
    let s = stats(samples);
    let (ratio, paired) = match versus {
        Versus::Nothing => (String::new(), String::new()),
        Versus::Baseline(base) => (
            format!("{:.2}×", s.median / stats(base).median),
            String::new(),
        ),
        Versus::Paired(base) => {
            let mut ratios: Vec<f64> = samples
                .iter()
                .zip(base)
                .map(|(x, b)| x.as_secs_f64() / b.as_secs_f64())
                .collect();
            ratios.sort_by(f64::total_cmp);
            let n = ratios.len();
            let median = if n % 2 == 1 {
                ratios[n / 2]
            } else {
                (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0
            };
            (
                format!("{:.2}×", s.median / stats(base).median),
                format!("{median:.2}×"),
            )
        }
    };
    let _ = writeln!(
        out,
        "| {what} | {:.1} | {:.1} | {ratio} | {paired} | {target} |",
        s.median, s.p90
    );
}

/// Per-step rows, and what `create` spent outside its steps.
fn step_rows(out: &mut String, totals: &[Duration], steps: &[&[(Step, Duration)]], versus: Versus) {
    let mut outside = totals.to_vec();
    for step in Step::ALL {
        let samples = step_samples(steps, step);
        for (rest, d) in outside.iter_mut().zip(&samples) {
            *rest = rest.saturating_sub(*d);
        }
        row(
            out,
            &format!("&nbsp;&nbsp;step `{step}`"),
            &samples,
            versus,
            "",
        );
    }
    row(
        out,
        "&nbsp;&nbsp;outside the steps (operation-row updates between steps)",
        &outside,
        versus,
        "",
    );
}

/// The unit costs of the master's bookkeeping, for reading the step figures.
fn master_rows(out: &mut String, trips: &MasterRoundTrips, versus: Versus) {
    row(
        out,
        "&nbsp;&nbsp;for scale: one master read (`plan`)",
        &trips.read,
        versus,
        "",
    );
    row(
        out,
        "&nbsp;&nbsp;for scale: one master write (an `UPDATE`, one commit)",
        &trips.write,
        versus,
        "",
    );
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

/// The figures as a markdown table.
fn report(r: &Results) -> String {
    let s = &r.samples;
    let base = s.of(|t| t.baseline);
    let tenantry = s.of(|t| t.tenantry);
    let sqlite = s.of(|t| t.sqlite);
    let spare = s.of(|t| t.spare);
    let steps: Vec<&[(Step, Duration)]> = s.rounds.iter().map(|t| t.steps.as_slice()).collect();
    let spare_steps: Vec<&[(Step, Duration)]> =
        s.rounds.iter().map(|t| t.spare_steps.as_slice()).collect();
    let sqlite_steps: Vec<&[(Step, Duration)]> =
        s.rounds.iter().map(|t| t.sqlite_steps.as_slice()).collect();
    let ratio = stats(&tenantry).median / stats(&base).median;

    let mut out = String::new();
    out.push_str(
        "| measurement | median ms | p90 ms | × baseline (medians) | × baseline (paired) | target |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---|\n");
    row(
        &mut out,
        "**baseline**: `CREATE DATABASE` + schema with `psql`",
        &base,
        Versus::Baseline(&base),
        "",
    );
    row(
        &mut out,
        "&nbsp;&nbsp;of which `CREATE DATABASE`",
        &s.of(|t| t.baseline_create),
        Versus::Baseline(&base),
        "",
    );
    row(
        &mut out,
        "&nbsp;&nbsp;of which `psql` (process, connect, schema in autocommit)",
        &s.of(|t| t.baseline - t.baseline_create),
        Versus::Baseline(&base),
        "",
    );
    row(
        &mut out,
        "**Tenantry PostgreSQL tenant** (`Provisioner::create`)",
        &tenantry,
        Versus::Paired(&base),
        &format!(
            "≤ {PG_TARGET_RATIO}× — {}",
            verdict(ratio <= PG_TARGET_RATIO)
        ),
    );
    let extra = stats_ms(
        tenantry
            .iter()
            .zip(&base)
            .map(|(t, b)| ms(*t) - ms(*b))
            .collect(),
    );
    let _ = writeln!(
        out,
        "| &nbsp;&nbsp;Tenantry − baseline, same round (what Tenantry adds) | {:.1} | {:.1} | | | |",
        extra.median, extra.p90
    );
    step_rows(&mut out, &tenantry, &steps, Versus::Baseline(&base));
    master_rows(&mut out, &s.pg_master, Versus::Nothing);
    let spare_ratio = stats(&spare).median / stats(&base).median;
    row(
        &mut out,
        "**Tenantry PostgreSQL tenant from a warm spare** (`Provisioner::create` claiming one)",
        &spare,
        Versus::Paired(&base),
        &format!(
            "≤ {SPARE_TARGET_RATIO}× — {}",
            verdict(spare_ratio <= SPARE_TARGET_RATIO)
        ),
    );
    step_rows(&mut out, &spare, &spare_steps, Versus::Baseline(&base));
    row(
        &mut out,
        "**template** (experiment): `CREATE DATABASE … TEMPLATE` + `ALTER DATABASE … OWNER`",
        &s.of(|t| t.template),
        Versus::Paired(&base),
        "",
    );
    row(
        &mut out,
        "&nbsp;&nbsp;same + connect + `REASSIGN OWNED` (tables owned by the tenant role)",
        &s.of(|t| t.template_reassign),
        Versus::Paired(&base),
        "",
    );
    let sqlite_median = stats(&sqlite).median;
    row(
        &mut out,
        "**SQLite tenant** (`Provisioner::create`, SQLite master)",
        &sqlite,
        Versus::Nothing,
        &format!(
            "≤ {SQLITE_TARGET_MS} ms — {}",
            verdict(sqlite_median <= SQLITE_TARGET_MS)
        ),
    );
    step_rows(&mut out, &sqlite, &sqlite_steps, Versus::Nothing);
    master_rows(&mut out, &s.sqlite_master, Versus::Nothing);
    let f = &r.fleet;
    let fleet_ms = ms(f.list + f.check);
    let _ = writeln!(
        out,
        "| **fleet no-op**: {FLEET_TENANTS} tenants at latest, concurrency {FLEET_CONCURRENCY} \
         (`list_tenants` {:.1} + `migrate_tenants` {:.1}) | {fleet_ms:.1} | | | | \
         < {FLEET_TARGET_MS} ms, 0 connections — {} ({} opened, {} up to date) |",
        ms(f.list),
        ms(f.check),
        verdict(fleet_ms < FLEET_TARGET_MS && f.connections_opened == 0),
        f.connections_opened,
        f.up_to_date,
    );
    let _ = writeln!(
        out,
        "| argon2id hash of the tenant admin's password (default cost; computed once, \
         excluded above) | {:.1} | | | | never weakened |",
        ms(r.hash)
    );
    out
}

fn section(r: &Results, table: &str) -> String {
    let m = &r.machine;
    let durability_note = if m.durable {
        String::new()
    } else {
        "\n**Warning: durability was off on this server; these figures are not representative.**\n"
            .to_owned()
    };
    format!(
        "{SECTION}\n\n\
         Run {date} · {cpus} CPUs ({cpu}) · PostgreSQL {pg} ({durability}) · \
         {n} tenants per measurement after {w} warm-up rounds · `scripts/bench provision --tenants {n}{warmup}`\n\
         {durability_note}\n\
         Method: one throwaway cluster (`scripts/with-pg --durable`), everything on the same \
         server in one run. Each round measures one of each, starting from a `CHECKPOINT` \
         (untimed) and rotating their order, so write-back and other drift hit each alike; \
         \"paired\" is the median of the per-round ratios. **Baseline** = `CREATE DATABASE` on an \
         open admin connection + `psql -X -q -v ON_ERROR_STOP=1 -d <db> -f … -f …` over the \
         files of `migrations-tenant/postgres/` in version order (its own process and connection; \
         each statement autocommits), timed together. **Tenantry** = `Provisioner::create` end to end, \
         its master a fresh database on the same server: reserve (operation + tenant rows) → role \
         (SCRAM verifier) → database (+ `REVOKE CONNECT`) → migrate (connect as the tenant role \
         over SCRAM, refinery, one transaction per migration) → seed → activate (schema version, audit row, \
         status and the operation's end, one commit); each step is recorded in the master, which commits with fsync. Per-step figures \
         come from `Created::timings`. **From a warm spare** = the same call when one spare \
         (built just before by `refill_spares`: created, migrated, seeded with the chart of \
         accounts; then a `CHECKPOINT`, both untimed, as a spare is built ahead of demand) is \
         ready: `reserve` also claims it, in the same transaction; the `role` step renames the \
         spare's role and database to the tenant's and sets its password and limit in one server \
         transaction; `database` has nothing to do (ownership and grants follow the ids); \
         `migrate` is only the tenant's first connection (a spare is claimed only at the latest \
         schema); `seed` writes only the tenant's admin (only a spare with this build's chart is \
         claimed). **Template** = a database kept at the schema (tables owned \
         by a template role), copied with `CREATE DATABASE … TEMPLATE` + `ALTER DATABASE … \
         OWNER`; the provisioner does not use it. **SQLite** = `Provisioner::create` with a \
         SQLite master (WAL, `synchronous = NORMAL`) and no server registered, files on the same \
         disk: the tenant file is a copy of a template kept at the latest schema (built once, \
         before the measured rounds, by the warm-ups), so `migrate` only checks the history; \
         seeding commits with `synchronous = NORMAL` and ends with a `TRUNCATE` checkpoint \
         (WAL and file fsynced) before activation. **Fleet** = registry rows only (no databases), then `list_tenants` + \
         `migrate_tenants`. The argon2id hash is computed once, beforehand, at its default cost.\n\n\
         {table}",
        date = chrono::Utc::now().format("%Y-%m-%d"),
        cpus = m.cpus,
        cpu = m.cpu_model,
        pg = m.pg_version,
        durability = m.durability,
        n = r.tenants,
        w = r.warmup,
        warmup = if r.warmup == DEFAULT_WARMUP {
            String::new()
        } else {
            format!(" --warmup {}", r.warmup)
        },
    )
}

/// Replaces (or appends) this benchmark's section of `doc`, keeping everything else.
fn write_doc(doc: &Path, section: &str) -> Result<()> {
    tenantry_test_utils::bench_doc::write_section(doc, SECTION, section)
        .with_context(|| format!("writing {}", doc.display()))
}

/// What `cargo test` checks: the statistics (panics on a mismatch).
fn self_check() {
    let samples: Vec<Duration> = (1..=10).map(Duration::from_millis).collect();
    let s = stats(&samples);
    assert_eq!((s.median, s.p90), (5.5, 9.0), "median/p90 of 1..=10 ms");
    let s = stats(&samples[..5]);
    assert_eq!((s.median, s.p90), (3.0, 5.0), "median/p90 of 1..=5 ms");
}

/// The audit row of a tenant the bench activates directly, without provisioning it.
fn seeded(id: TenantId) -> tenantry_registry::AuditEntry {
    tenantry_registry::Origin::from(Actor::System).entry(
        "tenant.create",
        Some(id),
        serde_json::json!({ "seeded": "bench" }),
    )
}
