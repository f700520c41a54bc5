//! `scripts/bench backup`: a tenant backup and restore against the bare PostgreSQL tools on the
//! same database, server and binaries, in the same run (issue #18).
//!
//! One tenant is created through the `Provisioner` and filled through its own connection
//! (`--vouchers N` vouchers, three lines each, on 2000 ledgers), then vacuumed. After
//! `--warmup` unmeasured rounds, each of `--rounds` rounds times the following, each after an
//! untimed `CHECKPOINT`, in an order that rotates from round to round:
//!
//! - dumps: bare `pg_dump -Fc -f FILE` as the admin (which fsyncs FILE), the same with
//!   `--no-sync`, and `Provisioner::backup` (pg_dump → XChaCha20-Poly1305 → local store);
//! - restores: bare `CREATE DATABASE` + `pg_restore --single-transaction --no-owner
//!   --no-privileges -d` of that round's bare dump, and `Provisioner::restore` of that round's
//!   backup with `fence_settle` 0; then `archive::verify` of the backup alone, so that the load
//!   (`CREATE DATABASE`, decrypt → `pg_restore`, migration check) is `prepare_ms` − verify.
//!
//! Needs `TENANTRY_TEST_PG_URL` and `TENANTRY_TEST_PG_BIN` (`scripts/with-pg --durable`).
//! Without `--bench` (under `cargo test --all-targets`) it only checks its statistics.

#[path = "backup/args.rs"]
mod args;
#[path = "backup/measure.rs"]
mod measure;
#[path = "backup/report.rs"]
mod report;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Parser as _;
use secrecy::SecretString;
use sqlx::{Connection as _, PgConnection};
use tenantry_core::vault::{KeyRing, Vault, hash_password};
use tenantry_core::{Email, PlanId, ServerName, Subdomain, settings::DatabaseUrl};
use tenantry_provision::{BackupConfig, CreateTenant, FinalBackup, Provisioner};
use tenantry_registry::{Actor, NewServer, Origin, Registry, ServerDialect};
use tenantry_test_utils::bench_doc::median;
use tenantry_test_utils::{TestDb, bench_doc};
use url::Url;

use args::Args;
use measure::{Bare, measure};
use report::report;

const SECTION: &str = "## Backups: throughput and restore against bare pg_dump / pg_restore";

const METHOD: &str = "Method: one throwaway cluster (`scripts/with-pg --durable`); both sides run \
the same `pg_dump`/`pg_restore` (`TENANTRY_TEST_PG_BIN`) on the same database; files on the same \
disk. Each measurement starts from a `CHECKPOINT` (untimed), the order rotating each round; \
\"paired\" is the median of the per-round ratios. **Dump baseline** = `pg_dump -Fc -f FILE` as \
the server admin (it fsyncs FILE; `--no-sync` shown too). **Backup** = `Provisioner::backup` end \
to end: operation and backup rows in the master, `pg_dump -Fc` → XChaCha20-Poly1305 STREAM + \
sha256 → local store (which does not fsync). Throughput = `pg_database_size` / time; its ratio is \
baseline time / backup time. **Restore baseline** = `CREATE DATABASE` + `pg_restore \
--single-transaction --no-owner --no-privileges -d` of the round's bare dump, timed together \
(ours creates its database too). **Restore** = `Provisioner::restore` with `fence_settle` 0: \
verify the file (sha256 + AEAD), `CREATE DATABASE`, decrypt → `pg_restore --single-transaction \
--no-owner --no-privileges --role=<tenant>`, migration check, fence, swap, `DROP DATABASE` of the \
old one; its load is `prepare_ms` − a separate `archive::verify` of the same file. The production \
fence settle is a fixed sleep, added on its own row.";

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if !args.bench {
        assert_eq!(median(&[3.0, 1.0, 2.0, 9.0]), 2.5, "median");
        println!("bench backup: report logic ok (measure with `scripts/bench backup`)");
        return ExitCode::SUCCESS;
    }
    let Err(e) = run(args).await else {
        return ExitCode::SUCCESS;
    };
    eprintln!("bench backup: error: {e:#}");
    ExitCode::FAILURE
}

async fn run(args: Args) -> Result<()> {
    let var =
        |k: &str| std::env::var(k).with_context(|| format!("{k}: run `scripts/bench backup`"));
    let (url, bin) = (var("TENANTRY_TEST_PG_URL")?, var("TENANTRY_TEST_PG_BIN")?);
    let m = bench_doc::machine(&url).await?;
    let admin = PgConnection::connect(&url).await?;
    let mut bare = Bare {
        admin,
        url: Url::parse(&url)?,
        bin: bin.into(),
    };
    let files = tempfile::tempdir()?;
    let master = TestDb::postgres().await;
    let vault = Arc::new(Vault::new(KeyRing::from_keys(
        KeyRing::generate_key(),
        vec![],
    )));
    let master_url = DatabaseUrl::parse(master.url()).map_err(anyhow::Error::msg)?;
    let registry = Registry::connect(&master_url, vault).await?;
    registry.migrate().await?;
    let system = || Origin::from(Actor::System);
    let base = url
        .rsplit_once('/')
        .map_or(url.as_str(), |(base, _)| base)
        .to_owned();
    let (name, dialect) = (ServerName::parse("bench-pg")?, ServerDialect::Postgres);
    let server = NewServer {
        name,
        dialect,
        url: base,
        admin_password: None,
        capacity: 10,
    };
    let audit = system().entry("server.add", None, serde_json::json!({}));
    registry.add_server(server, audit).await?;
    let mut config = BackupConfig::local(files.path());
    let settle = config.fence_settle.as_secs_f64();
    config.fence_settle = Duration::ZERO;
    config.pg_bin = Some(bare.bin.clone());
    let pg = Provisioner::new(registry, master.dir()).with_backups(config);

    let request = CreateTenant {
        subdomain: Subdomain::parse("bench-backup", &[])?,
        name: "Backup Ltd".into(),
        plan: PlanId::parse("standard")?,
        admin_email: Email::parse("admin@bench-backup.example")?,
        admin_password_hash: hash_password(&SecretString::from("bench-backup-admin"))?,
        server: None,
        origin: system(),
    };
    let tenant = pg.create(request).await?.tenant;
    let outcome = measure(&args, &mut bare, &pg, &tenant, files.path()).await;
    eprintln!("bench backup: cleaning up");
    let (id, confirm) = (tenant.id.into(), tenant.subdomain.as_str());
    let deleted = pg
        .delete_with(&id, confirm, FinalBackup::Skip, &system())
        .await;
    let (tables_mb, rounds) = outcome?;
    deleted?;

    let table = report(&rounds, settle);
    println!("{table}");
    let Some(doc) = &args.doc else { return Ok(()) };
    let (v, n, w) = (args.vouchers, args.rounds, args.warmup);
    let db = median(&rounds.iter().map(|r| r.db_mb).collect::<Vec<_>>());
    let section = format!(
        "{SECTION}\n\nRun {date} · {cpus} CPUs ({cpu}) · PostgreSQL {pg} ({durability}) · one tenant: \
         {v} vouchers × 3 lines on 2000 ledgers, {tables_mb:.0} MB in its tables, {db:.0} MB database · \
         {n} rounds after {w} warm-up · `scripts/bench backup --vouchers {v} --rounds {n} --warmup {w}`\
         \n\n{METHOD}\n\n{table}",
        date = chrono::Utc::now().format("%Y-%m-%d"),
        cpus = m.cpus,
        cpu = m.cpu_model,
        pg = m.pg_version,
        durability = m.durability,
    );
    bench_doc::write_section(doc, SECTION, &section)?;
    eprintln!("bench backup: wrote {}", doc.display());
    Ok(())
}
