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

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use sea_orm::{ConnectionTrait as _, DbBackend, Statement};
use secrecy::SecretString;
use sqlx::{AssertSqlSafe, Connection as _, Executor as _, PgConnection};
use tenantry_backup::{archive, store::BackupStore};
use tenantry_core::vault::{KeyRing, Vault, hash_password};
use tenantry_core::{Email, PlanId, ServerName, Subdomain, settings::DatabaseUrl};
use tenantry_provision::{BackupConfig, CreateTenant, FinalBackup, Provisioner};
use tenantry_registry::{Actor, NewServer, Origin, Registry, ServerDialect, Tenant};
use tenantry_test_utils::bench_doc::median;
use tenantry_test_utils::{TestDb, bench_doc};
use url::Url;

const SECTION: &str = "## Backups: throughput and restore against bare pg_dump / pg_restore";
const USAGE: &str = "usage: backup [--rounds N] [--warmup N] [--vouchers N] [--doc FILE]";
/// Issue #18: backup throughput ≥ 0.8× bare `pg_dump`, restore time ≤ 1.25× bare `pg_restore`.
const DUMP_TARGET: f64 = 0.8;
const RESTORE_TARGET: f64 = 1.25;
const MB: f64 = 1024.0 * 1024.0;

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

struct Args {
    bench: bool,
    rounds: usize,
    warmup: usize,
    vouchers: u64,
    doc: Option<PathBuf>,
}

fn parse_args() -> Result<Args> {
    let (rounds, warmup, vouchers) = (5, 1, 250_000);
    let mut a = Args {
        bench: false,
        rounds,
        warmup,
        vouchers,
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
            "--warmup" => a.warmup = value()?.parse().context("--warmup")?,
            "--vouchers" => a.vouchers = value()?.parse().context("--vouchers")?,
            "--doc" => a.doc = Some(value()?.into()),
            _ => bail!("unknown argument {arg:?}\n{USAGE}"),
        }
    }
    ensure!(
        a.rounds >= 1 && a.vouchers >= 1,
        "--rounds and --vouchers must be at least 1"
    );
    Ok(a)
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match parse_args() {
        Ok(args) if !args.bench => {
            assert_eq!(median(&[3.0, 1.0, 2.0, 9.0]), 2.5, "median");
            println!("bench backup: report logic ok (measure with `scripts/bench backup`)");
            Ok(())
        }
        Ok(args) => run(args).await,
        Err(e) => Err(e),
    };
    let Err(e) = result else {
        return ExitCode::SUCCESS;
    };
    eprintln!("bench backup: error: {e:#}");
    ExitCode::FAILURE
}

/// One round, in seconds (sizes in MB).
#[derive(Default, Clone, Copy)]
struct Round {
    db_mb: f64,
    dump: f64,
    dump_nosync: f64,
    backup: f64,
    create_db: f64,
    bare_restore: f64,
    restore: f64,
    prepare: f64,
    switch: f64,
    verify: f64,
    dump_mb: f64,
    archive_mb: f64,
}

/// The server's own tools, as its admin.
struct Bare {
    admin: PgConnection,
    url: Url,
    bin: PathBuf,
}

impl Bare {
    fn url_for(&self, db: &str) -> String {
        let mut url = self.url.clone();
        url.set_path(&format!("/{db}"));
        url.into()
    }

    async fn exec(&mut self, sql: String) -> Result<f64> {
        let started = Instant::now();
        self.admin
            .execute(AssertSqlSafe(sql.clone()))
            .await
            .context(sql)?;
        Ok(started.elapsed().as_secs_f64())
    }

    /// Runs `tool` with whitespace-separated `args` (temp paths and URLs: no spaces).
    async fn tool(&self, tool: &str, args: String) -> Result<f64> {
        let started = Instant::now();
        let mut command = tokio::process::Command::new(self.bin.join(tool));
        let out = command.args(args.split_whitespace()).output().await?;
        ensure!(
            out.status.success(),
            "{tool}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(started.elapsed().as_secs_f64())
    }
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

/// Fills the tenant, then runs the rounds. Returns the tables' size and the measured rounds.
async fn measure(
    args: &Args,
    bare: &mut Bare,
    pg: &Provisioner,
    tenant: &Tenant,
    dir: &Path,
) -> Result<(f64, Vec<Round>)> {
    eprintln!(
        "bench backup: filling the tenant with {} vouchers",
        args.vouchers
    );
    let conn = pg.connect_tenant(tenant).await?;
    let fill = [
        "INSERT INTO ledgers (code, name, type) SELECT 'L' || lpad(i::text, 5, '0'), \
         'Ledger ' || i || ' ' || md5(i::text), (ARRAY['asset','liability','equity','income',\
         'expense'])[1 + i % 5] FROM generate_series(1, 2000) i"
            .to_owned(),
        format!(
            "INSERT INTO vouchers (number, date, narration, posted_at) SELECT 'V' || \
             lpad(i::text, 9, '0'), DATE '2020-01-01' + i % 2000, 'Payment ' || i || ' ref ' \
             || md5(i::text), now() FROM generate_series(1, {}) i",
            args.vouchers
        ),
        // Balanced: one debit of 2a, two credits of a, on ledgers spread over the chart.
        "INSERT INTO voucher_lines (voucher_id, ledger_id, debit, credit) SELECT v.id, \
         l.first + (v.id * 7 + k * 13) % 2000, CASE WHEN k = 0 THEN 2 * a ELSE 0 END, \
         CASE WHEN k = 0 THEN 0 ELSE a END FROM (SELECT id, 100 + id * 37 % 100000 AS a \
         FROM vouchers) v, generate_series(0, 2) k, (SELECT min(id) AS first FROM ledgers) l"
            .to_owned(),
        "VACUUM (ANALYZE) ledgers, vouchers, voucher_lines".to_owned(),
        "SELECT sum(pg_table_size(t::regclass))::bigint FROM \
         unnest(ARRAY['ledgers','vouchers','voucher_lines']) t"
            .to_owned(),
    ];
    let mut size = None;
    for sql in fill {
        size = conn
            .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await?;
    }
    let tables_mb = size.context("no size")?.try_get_by_index::<i64>(0)? as f64 / MB;
    conn.close().await?;
    eprintln!("bench backup: {tables_mb:.0} MB in the tables");

    let mut rounds = Vec::new();
    for round in 0..args.warmup + args.rounds {
        let db_url = bare.url_for(&pg.registry().find_tenant(&tenant.id.into()).await?.db_name);
        let size = "SELECT pg_database_size(current_database())";
        let mut db = PgConnection::connect(&db_url).await?;
        let db_bytes: i64 = sqlx::query_scalar(size).fetch_one(&mut db).await?;
        db.close().await?;
        let mut r = Round {
            db_mb: db_bytes as f64 / MB,
            ..Round::default()
        };
        let dump = dir
            .join(format!("bare-{round}.dump"))
            .to_string_lossy()
            .into_owned();
        let mut backup = None;
        for i in 0..3 {
            bare.exec("CHECKPOINT".into()).await?;
            match (round + i) % 3 {
                0 => {
                    r.dump = bare
                        .tool("pg_dump", format!("-Fc -f {dump} -d {db_url}"))
                        .await?
                }
                1 => {
                    let args = format!("-Fc --no-sync -f {dump}.nosync -d {db_url}");
                    r.dump_nosync = bare.tool("pg_dump", args).await?;
                }
                _ => {
                    let started = Instant::now();
                    backup = Some(
                        pg.backup(&tenant.id.into(), &Origin::from(Actor::System))
                            .await?,
                    );
                    r.backup = started.elapsed().as_secs_f64();
                }
            }
        }
        let backup = backup.expect("each round takes a backup");
        r.dump_mb = std::fs::metadata(&dump)?.len() as f64 / MB;
        r.archive_mb = backup.bytes.unwrap_or_default() as f64 / MB;
        let fresh = format!("bare_restore_{round}");
        for i in 0..2 {
            bare.exec("CHECKPOINT".into()).await?;
            if (round + i) % 2 == 0 {
                r.create_db = bare.exec(format!(r#"CREATE DATABASE "{fresh}""#)).await?;
                let flags = "--single-transaction --no-owner --no-privileges";
                let args = format!("{flags} -d {} {dump}", bare.url_for(&fresh));
                r.bare_restore = r.create_db + bare.tool("pg_restore", args).await?;
            } else {
                let started = Instant::now();
                let origin = Origin::from(Actor::System);
                let restored = pg.restore(&tenant.id.into(), backup.id, &origin).await?;
                r.restore = started.elapsed().as_secs_f64();
                r.prepare = restored.prepare_ms as f64 / 1e3;
                r.switch = restored.switch_ms as f64 / 1e3;
            }
        }
        let (store, key) = BackupStore::for_location(&backup.location, &pg.backup_config().s3)?;
        let started = Instant::now();
        archive::verify(pg.registry().vault(), store.reader(&key).await?).await?;
        r.verify = started.elapsed().as_secs_f64();
        bare.exec(format!(r#"DROP DATABASE "{fresh}" WITH (FORCE)"#))
            .await?;
        std::fs::remove_file(&dump)?;
        std::fs::remove_file(format!("{dump}.nosync"))?;
        store.delete(&key).await?;
        let measured = round.checked_sub(args.warmup);
        let label = measured.map_or("warm-up".into(), |i| format!("{}/{}", i + 1, args.rounds));
        eprintln!(
            "bench backup: {label}: pg_dump {:.2} s, backup {:.2} s; pg_restore {:.2} s, \
             restore {:.2} s (prepare {:.2}, verify {:.2}, switch {:.2})",
            r.dump, r.backup, r.bare_restore, r.restore, r.prepare, r.verify, r.switch
        );
        rounds.extend(measured.map(|_| r));
    }
    Ok((tables_mb, rounds))
}

type Of = fn(&Round) -> f64;
/// A row's figure, the baseline it is compared with (`true`: as throughput, baseline time /
/// ours; `false`: as time, ours / baseline), and whether the row carries the issue's target.
type Row = (&'static str, Of, Option<(Of, bool)>, bool);

const DUMP: Option<(Of, bool)> = Some((|r| r.dump, true));
const BARE: Option<(Of, bool)> = Some((|r| r.bare_restore, false));

#[rustfmt::skip]
const ROWS: [Row; 11] = [
    ("**dump baseline**: `pg_dump -Fc -f FILE`", |r| r.dump, None, false),
    ("&nbsp;&nbsp;`pg_dump -Fc --no-sync -f FILE`", |r| r.dump_nosync, DUMP, false),
    ("**Tenantry backup** (`Provisioner::backup`)", |r| r.backup, DUMP, true),
    ("**restore baseline**: `CREATE DATABASE` + bare `pg_restore`", |r| r.bare_restore, None, false),
    ("&nbsp;&nbsp;of which `CREATE DATABASE`", |r| r.create_db, BARE, false),
    ("**Tenantry restore** (`Provisioner::restore`, fence settle 0)", |r| r.restore, BARE, true),
    ("&nbsp;&nbsp;prepare (`prepare_ms`)", |r| r.prepare, BARE, false),
    ("&nbsp;&nbsp;&nbsp;&nbsp;verify (sha256 + AEAD, timed apart)", |r| r.verify, BARE, false),
    ("&nbsp;&nbsp;&nbsp;&nbsp;load: prepare − verify", |r| r.prepare - r.verify, BARE, true),
    ("&nbsp;&nbsp;fence → swap (`switch_ms`)", |r| r.switch, BARE, false),
    ("&nbsp;&nbsp;after the swap (drop of the old database)", |r| r.restore - r.prepare - r.switch, BARE, false),
];

/// The figures as a markdown table.
fn report(rounds: &[Round], settle: f64) -> String {
    let col = |f: Of| median(&rounds.iter().map(f).collect::<Vec<_>>());
    let db = col(|r| r.db_mb);
    let mut out = String::from(
        "| measurement | median s | min–max s | MB/s of database | × baseline (medians) \
         | × baseline (paired) | target |\n|---|---:|---:|---:|---:|---:|---|\n",
    );
    for (what, of, versus, has_target) in ROWS {
        let v: Vec<f64> = rounds.iter().map(of).collect();
        let (lo, hi) = v
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), x| (l.min(*x), h.max(*x)));
        let m = median(&v);
        let (mut ratio, mut paired, mut target) = (String::new(), String::new(), String::new());
        if let Some((base, throughput)) = versus {
            let of_pair = |o: f64, b: f64| if throughput { b / o } else { o / b };
            let x = of_pair(m, col(base));
            let pairs: Vec<f64> = rounds.iter().map(|r| of_pair(of(r), base(r))).collect();
            (ratio, paired) = (format!("{x:.2}×"), format!("{:.2}×", median(&pairs)));
            let (bound, ok) = match throughput {
                true => (format!("≥ {DUMP_TARGET}×"), x >= DUMP_TARGET),
                false => (format!("≤ {RESTORE_TARGET}×"), x <= RESTORE_TARGET),
            };
            if has_target {
                target = format!("{bound} — {}", if ok { "met" } else { "**missed**" });
            }
        }
        let _ = writeln!(
            out,
            "| {what} | {m:.2} | {lo:.2}–{hi:.2} | {:.0} | {ratio} | {paired} | {target} |",
            db / m
        );
    }
    let whole = col(|r| r.restore) + settle;
    let _ = writeln!(
        out,
        "\nBare dump {:.1} MB, archive {:.1} MB. With the production fence settle ({settle} s, a \
         sleep) the whole restore takes {whole:.2} s, {:.2}× the baseline.",
        col(|r| r.dump_mb),
        col(|r| r.archive_mb),
        whole / col(|r| r.bare_restore)
    );
    out
}
