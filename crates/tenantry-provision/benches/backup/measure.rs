//! The measurement: `Bare` runs the server's own tools as its admin; `measure` fills the tenant
//! and times each round's dumps and restores, bare and through the `Provisioner`, into a `Round`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result, ensure};
use sea_orm::{ConnectionTrait as _, DbBackend, Statement};
use sqlx::{AssertSqlSafe, Connection as _, Executor as _, PgConnection};
use tenantry_backup::{archive, store::BackupStore};
use tenantry_provision::Provisioner;
use tenantry_registry::{Actor, Origin, Tenant};
use url::Url;

use crate::args::Args;

const MB: f64 = 1024.0 * 1024.0;

/// One round, in seconds (sizes in MB).
#[derive(Default, Clone, Copy)]
pub(crate) struct Round {
    pub(crate) db_mb: f64,
    pub(crate) dump: f64,
    pub(crate) dump_nosync: f64,
    pub(crate) backup: f64,
    pub(crate) create_db: f64,
    pub(crate) bare_restore: f64,
    pub(crate) restore: f64,
    pub(crate) prepare: f64,
    pub(crate) switch: f64,
    pub(crate) verify: f64,
    pub(crate) dump_mb: f64,
    pub(crate) archive_mb: f64,
}

/// The server's own tools, as its admin.
pub(crate) struct Bare {
    pub(crate) admin: PgConnection,
    pub(crate) url: Url,
    pub(crate) bin: PathBuf,
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

/// Fills the tenant, then runs the rounds. Returns the tables' size and the measured rounds.
pub(crate) async fn measure(
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
