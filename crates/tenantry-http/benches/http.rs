//! `scripts/bench http`: what routing a request to its tenant costs, as a ratio against the same
//! handler on one fixed pool, measured in the same run with the same load generator (DESIGN §4:
//! ≥ 0.9×).
//!
//! One process serves both, on 127.0.0.1 only, with the same number of actix workers:
//!
//! - **Tenantry**: the real [`Application`]: `Host` → tenant directory (cached) → `TenantPools`
//!   lease → `GET /api/v1/ledgers?limit=1` (token check, the page and its count in one statement,
//!   JSON);
//! - **baseline**: an actix-web server whose handler does the same work for the hot tenant only —
//!   the same token check (HS256, the key derived from the master key as `auth.rs` does: the
//!   crate exposes no verifier, so that derivation is copied here and checked against a real
//!   token at start), the same sea-orm queries and JSON — on **one fixed sqlx pool** to that
//!   tenant's database, as the tenant's role, `max_connections` = its plan's, behind the same
//!   request-span and request-id middleware;
//! - for scale: the baseline without any middleware;
//! - optionally N tenants round-robin (one `wrk` Lua request function) against the baseline
//!   driven by the same Lua function.
//!
//! The baseline connects as the hot tenant's role, like Tenantry: that role's `CONNECTION LIMIT`
//! (the plan's maximum) is tripled for the run so that all three pools fit under it.
//!
//! `wrk` drives each in turn for several rounds (the order rotated each round) after a warm-up;
//! any non-2xx answer or socket error fails the run. Needs `TENANTRY_TEST_PG_URL` as set by
//! `scripts/with-pg --durable`, and `wrk` on PATH (`scripts/bench http` installs it). Progress
//! goes to stderr, the table to stdout; `--doc FILE` also writes it into that markdown file.
//! Without `--bench` (under `cargo test --all-targets`) it only checks its report logic.

#[path = "http/args.rs"]
mod args;
#[path = "http/baseline.rs"]
mod baseline;
#[path = "http/load.rs"]
mod load;
#[path = "http/measure.rs"]
mod measure;
mod pgbench;
#[path = "http/report.rs"]
mod report;
mod wrk;

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use anyhow::{Context as _, Result, ensure};
use args::{Args, parse_args};
use load::lua_script;
use measure::measure;
use report::{Results, median, report, section, write_doc};
use sea_orm::sqlx::{AssertSqlSafe, Connection as _, Executor as _, PgConnection};
use secrecy::SecretString;
use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::{KeyRing, Vault, hash_password};
use tenantry_core::{Email, PlanId, ServerName, Settings, Subdomain};
use tenantry_http::Application;
use tenantry_provision::{CreateTenant, Provisioner};
use tenantry_registry::{Actor, NewServer, Registry, ServerDialect};
use tenantry_test_utils::TestDb;
use tenantry_test_utils::bench_doc::machine;
use uuid::Uuid;
use wrk::{WRK_MARKER, check_loopback, find_wrk, parse_wrk};

const SECTION: &str = "## HTTP routing overhead (scripts/bench http)";
/// DESIGN §4 target: Tenantry ≥ 0.9× the fixed-pool baseline.
const TARGET_RATIO: f64 = 0.9;
/// Issue #19: a hot routed read ≥ 0.5 × pgbench running the same statement.
const PGBENCH_TARGET: f64 = 0.5;
const PATH: &str = "/api/v1/ledgers?limit=1";
const SERVER: &str = "bench-pg";
const ADMIN_PASSWORD: &str = "bench-tenant-admin-pw";

/// The `tenantry` binary's allocator, so the servers here allocate as `serve` does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args = parse_args(std::env::args_os()).unwrap_or_else(|e| e.exit());
    // Under `cargo test` (the workspace suite builds all targets): check the report logic only,
    // without a server or wrk, and leave the measuring to `scripts/bench http`.
    if !args.bench {
        self_check();
        println!("bench http: report logic ok (measure with `scripts/bench http`)");
        return ExitCode::SUCCESS;
    }
    log_to_stderr();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench http: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `TENANTRY_BENCH_LOG=warn` (an env-filter) logs the servers' events to stderr, to find out
/// why a run failed; off by default, since logging every request would be measured too.
fn log_to_stderr() {
    if let Ok(filter) = std::env::var("TENANTRY_BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
}

fn progress(message: impl AsRef<str>) {
    eprintln!("bench http: {}", message.as_ref());
}

const LOG_HINT: &str = " (rerun with TENANTRY_BENCH_LOG=warn to see the servers' errors)";

async fn run(args: Args) -> Result<()> {
    let admin_url = std::env::var("TENANTRY_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .context("TENANTRY_TEST_PG_URL is not set: run `scripts/bench http`")?;
    check_loopback(&admin_url)?;
    let wrk = find_wrk("http")?;
    let machine = machine(&admin_url).await?;
    // `server.workers`' default, one per CPU, unless `--workers` says otherwise.
    let workers = if args.workers == 0 {
        machine.cpus
    } else {
        args.workers
    };
    progress(format!(
        "{} CPUs, PostgreSQL {} ({}); {} actix workers per server; wrk {}; {} rounds after {} s \
         warm-up each",
        machine.cpus,
        machine.pg_version,
        machine.durability,
        workers,
        args.wrk_flags(),
        args.rounds,
        args.warmup
    ));
    if !machine.durable {
        progress("WARNING: durability is off on this server; figures are not representative");
    }

    let admin_hash =
        tokio::task::spawn_blocking(|| hash_password(&SecretString::from(ADMIN_PASSWORD)))
            .await?
            .context("hashing the tenant admin password")?;

    // The master: a fresh database on the same server, the server registered for tenants.
    let master = TestDb::postgres().await;
    let vault = Arc::new(Vault::new(KeyRing::from_keys(
        KeyRing::generate_key(),
        vec![],
    )));
    let master_url = DatabaseUrl::parse(master.url()).map_err(anyhow::Error::msg)?;
    let registry = Registry::connect(&master_url, vault.clone()).await?;
    registry.migrate().await?;
    registry
        .add_server(
            NewServer {
                name: ServerName::parse(SERVER)?,
                dialect: ServerDialect::Postgres,
                url: admin_url
                    .rsplit_once('/')
                    .map_or(admin_url.as_str(), |(base, _)| base)
                    .to_owned(),
                admin_password: None,
                capacity: 10_000,
            },
            tenantry_registry::Origin::from(tenantry_registry::Actor::System).entry(
                "server.add",
                None,
                serde_json::json!({}),
            ),
        )
        .await?;
    // The bench measures throughput, not the plan's request quota: lift it before the server
    // starts (its directory reads plan limits when it loads).
    sea_orm::ConnectionTrait::execute_unprepared(
        registry.connection(),
        "UPDATE plans SET requests_per_minute = 1000000000",
    )
    .await?;
    let provisioner = Arc::new(Provisioner::new(registry.clone(), master.dir()));
    let registry = Arc::new(registry);

    let mut settings = Settings::embedded_default();
    settings.server.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    settings.server.base_domain = "localhost".into();
    settings.data_dir = master.dir().to_owned();
    settings.server.workers = workers;
    let plan = registry
        .plan_by_id(&PlanId::parse(&args.plan)?)
        .await
        .with_context(|| format!("plan {:?}", args.plan))?;
    let max_connections = plan.max_connections;
    let needed = args.tenants.max(1) as u64 * u64::from(max_connections);
    ensure!(
        needed <= u64::from(settings.pool.server_connection_budget),
        "{} tenants × {max_connections} connections exceed the server budget of {}: this \
         benchmark measures routing with room for every tenant, not connection churn",
        args.tenants,
        settings.pool.server_connection_budget
    );

    let settle = Duration::from_millis(settings.pool.acquire_timeout_ms + 500);
    let app = Application::build(&settings, registry.clone(), provisioner.clone())?;
    let app_port = app.port();
    let state = app.state();
    let app_handle = app.handle();
    let serving = tokio::spawn(app.run_until_stopped());

    let run_id = Uuid::new_v4().simple().to_string()[..8].to_owned();
    let mut tenants = Vec::new();
    let mut fixed_handles: Vec<ServerHandle> = Vec::new();
    let outcome = async {
        for i in 0..args.tenants.max(1) {
            let subdomain = format!("b{i}-{run_id}");
            progress(format!("provisioning tenant {subdomain}"));
            let created = provisioner
                .create(CreateTenant {
                    subdomain: Subdomain::parse(&subdomain, &[])?,
                    name: format!("{subdomain} Ltd"),
                    plan: plan.id.clone(),
                    admin_email: Email::parse(&format!("admin@{subdomain}.example"))?,
                    admin_password_hash: admin_hash.clone(),
                    server: None,
                    origin: Actor::System.into(),
                })
                .await
                .with_context(|| format!("creating tenant {subdomain}"))?;
            tenants.push(created.tenant);
        }
        // Tenantry, the shared pool and the by-id pools all connect as the hot tenant's role.
        make_room_for_baseline(&admin_url, &tenants[0], 3 * max_connections).await?;
        let measured = measure(
            &admin_url,
            &args,
            &wrk,
            workers,
            max_connections,
            app_port,
            &state,
            &provisioner,
            &tenants,
            &mut fixed_handles,
            settle,
        )
        .await?;
        Ok::<_, anyhow::Error>(measured)
    }
    .await;

    progress("cleaning up");
    for handle in &fixed_handles {
        handle.stop(false).await;
    }
    app_handle.stop(false).await;
    serving.await.ok();
    for t in &tenants {
        state.pools.invalidate(t.id).await;
    }
    drop(state);
    drop(provisioner);
    drop(registry);
    // A fresh registry: connections opened by the servers' worker runtimes died with them.
    let cleaner = Provisioner::new(Registry::connect(&master_url, vault).await?, master.dir());
    for t in &tenants {
        if let Err(e) = cleaner
            .delete(&t.id.into(), t.subdomain.as_str(), &Actor::System.into())
            .await
        {
            progress(format!("warning: deleting tenant {}: {e}", t.subdomain));
        }
    }
    drop(cleaner);
    drop(master);
    let measured = outcome?;

    let results = Results {
        args,
        machine,
        workers,
        max_connections,
        measured,
    };
    let table = report(&results);
    println!("{table}");
    if let Some(doc) = &results.args.doc {
        write_doc(doc, &section(&results, &table))?;
        progress(format!("wrote {}", doc.display()));
    }
    let failures = &results.measured.failures;
    ensure!(
        failures.is_empty(),
        "{} run(s) had failed requests{LOG_HINT}:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
    Ok(())
}

/// The baseline connects as the hot tenant's own role too, and PostgreSQL counts every connection
/// of a role against its `CONNECTION LIMIT`, which the provisioner sets to the plan's maximum:
/// without room for every pool, whichever runs second cannot open its last connections.
async fn make_room_for_baseline(
    admin_url: &str,
    tenant: &tenantry_registry::Tenant,
    limit: u32,
) -> Result<()> {
    let role = tenant
        .db_user
        .as_deref()
        .context("the hot tenant has no role")?;
    ensure!(
        role.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "unexpected role name {role:?}"
    );
    let mut admin = PgConnection::connect(admin_url).await?;
    admin
        .execute(AssertSqlSafe(format!(
            r#"ALTER ROLE "{role}" CONNECTION LIMIT {limit}"#
        )))
        .await?;
    admin.close().await.ok();
    Ok(())
}

/// What `cargo test` checks: arguments, wrk's output, the scripts and statistics (panics on a
/// mismatch).
fn self_check() {
    pgbench::self_check();
    let args = parse_args(["http", "--bench", "--duration", "5", "--tenants", "0"])
        .expect("valid arguments");
    assert!(args.bench && args.duration == 5 && args.tenants == 0);
    assert_eq!(args.non_default(), " --duration 5 --tenants 0");
    assert_eq!(parse_args(["http"]).unwrap().non_default(), "");
    assert!(parse_args(["http", "--tenants", "1"]).is_err());
    assert!(parse_args(["http", "--threads", "4", "--connections", "2"]).is_err());
    assert!(parse_args(["http", "--rounds", "0"]).is_err());

    let out = format!(
        "Running 10s test\n  2 threads\n{WRK_MARKER}{{\"requests\":50000,\"duration_us\":10000000,\
         \"connect\":0,\"read\":0,\"write\":0,\"status\":0,\"timeout\":0,\"p50_us\":1500.0,\
         \"p99_us\":9000.5,\"max_us\":20000.0}}\n"
    );
    let run = parse_wrk(&out).expect("wrk output parses");
    assert_eq!(run.rps(), 5000.0);
    assert!(run.errors().is_none());
    let bad = parse_wrk(&out.replace("\"status\":0", "\"status\":3")).unwrap();
    assert!(bad.errors().unwrap().starts_with("3 non-2xx"));
    let mut refused = run.clone();
    refused.pool_timeouts = 2.0;
    assert_eq!(refused.failed(), 2.0);
    assert!(parse_wrk("Requests/sec: 1\n").is_err());

    let one = lua_script(&[("a1.localhost:80".into(), "x.y-z_".into())]).unwrap();
    assert!(
        one.contains("wrk.headers[\"Host\"] = \"a1.localhost:80\"") && !one.contains("request =")
    );
    let two = lua_script(&[("a.l:1".into(), "t".into()), ("b.l:1".into(), "u".into())]).unwrap();
    assert!(two.contains("local hosts = {\"a.l:1\", \"b.l:1\"}") && two.contains("request ="));
    assert!(lua_script(&[("a\"; os.exit()".into(), "t".into())]).is_err());

    assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
    assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    assert!(check_loopback("postgres://postgres@127.0.0.1:5432/postgres").is_ok());
    assert!(check_loopback("postgres://postgres@db.example:5432/postgres").is_err());
}
