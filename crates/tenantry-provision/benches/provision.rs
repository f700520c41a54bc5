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

#[path = "provision/args.rs"]
mod args;
#[path = "provision/report.rs"]
mod report;
#[path = "provision/rounds.rs"]
mod rounds;
#[path = "provision/server.rs"]
mod server;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use clap::Parser as _;
use secrecy::SecretString;
use sqlx::{Connection as _, PgConnection};
use tenantry_core::ServerName;
use tenantry_core::settings::DatabaseUrl;
use tenantry_core::vault::{KeyRing, Vault, hash_password};
use tenantry_migrate::Dialect as MigrateDialect;
use tenantry_provision::Provisioner;
use tenantry_registry::{Actor, NewServer, Registry, ServerDialect};
use tenantry_test_utils::TestDb;
use tenantry_test_utils::bench_doc::{Machine, machine};
use url::Url;

use args::Args;
use report::{report, section, self_check, write_doc};
use rounds::{Fleet, Samples, measure};
use server::{Leftovers, Server, clean_up};

const SERVER: &str = "bench-pg";
const FLEET_TENANTS: usize = 1000;
const FLEET_CONCURRENCY: usize = 8;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // Under `cargo test` (the workspace suite builds all targets): check the report logic
    // only, without a server, and leave the measuring to `scripts/bench provision`.
    if !args.bench {
        self_check();
        println!("bench provision: report logic ok (measure with `scripts/bench provision`)");
        return ExitCode::SUCCESS;
    }
    match run(args).await {
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
