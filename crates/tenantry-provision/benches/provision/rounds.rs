//! The measured rounds (rotated, each after a `CHECKPOINT`), master round trips, the fleet check.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use sqlx::{AssertSqlSafe, Connection as _, Executor as _, PgConnection};
use tenantry_core::{Email, PlanId, Subdomain, TenantId};
use tenantry_migrate::Dialect as MigrateDialect;
use tenantry_provision::fleet::{FleetOptions, FleetOutcome};
use tenantry_provision::{CreateTenant, Provisioner, Step};
use tenantry_registry::{Actor, NewTenant, Registry, TenantStatus};
use tenantry_test_utils::TestDb;

use crate::args::Args;
use crate::server::{Leftovers, Server};
use crate::{FLEET_CONCURRENCY, FLEET_TENANTS, ms, progress, registry};

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
pub(crate) struct Round {
    pub(crate) baseline: Duration,
    pub(crate) baseline_create: Duration,
    pub(crate) tenantry: Duration,
    pub(crate) steps: Vec<(Step, Duration)>,
    pub(crate) spare: Duration,
    pub(crate) spare_steps: Vec<(Step, Duration)>,
    pub(crate) template: Duration,
    pub(crate) template_reassign: Duration,
    pub(crate) sqlite: Duration,
    pub(crate) sqlite_steps: Vec<(Step, Duration)>,
}

#[derive(Default)]
pub(crate) struct MasterRoundTrips {
    pub(crate) read: Vec<Duration>,
    pub(crate) write: Vec<Duration>,
}

#[derive(Default)]
pub(crate) struct Samples {
    pub(crate) rounds: Vec<Round>,
    pub(crate) pg_master: MasterRoundTrips,
    pub(crate) sqlite_master: MasterRoundTrips,
}

impl Samples {
    pub(crate) fn of(&self, f: impl Fn(&Round) -> Duration) -> Vec<Duration> {
        self.rounds.iter().map(f).collect()
    }
}

pub(crate) struct Fleet {
    pub(crate) list: Duration,
    pub(crate) check: Duration,
    pub(crate) connections_opened: usize,
    pub(crate) up_to_date: usize,
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

pub(crate) async fn measure(
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

/// The audit row of a tenant the bench activates directly, without provisioning it.
fn seeded(id: TenantId) -> tenantry_registry::AuditEntry {
    tenantry_registry::Origin::from(Actor::System).entry(
        "tenant.create",
        Some(id),
        serde_json::json!({ "seeded": "bench" }),
    )
}
