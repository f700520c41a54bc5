//! Fixtures and throwaway databases shared by the integration tests.
// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

pub mod scenarios;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use tenantry_migrate::{Dialect, MigrationSource};

/// V1 creates `notes`, V2 adds a column and a row.
pub static OK: MigrationSource = tenantry_migrate::embed!("tests/fixtures/ok");
/// OK plus a V3 that creates a table and inserts a row, then fails.
pub static BAD: MigrationSource = tenantry_migrate::embed!("tests/fixtures/bad");
/// OK plus a V3 whose SQL succeeds but makes its own history INSERT fail.
pub static HISTORY_REFUSED: MigrationSource =
    tenantry_migrate::embed!("tests/fixtures/history_refused");
/// OK with V2's SQL edited.
pub static DIVERGENT: MigrationSource = tenantry_migrate::embed!("tests/fixtures/divergent");
/// OK without V2.
pub static V1_ONLY: MigrationSource = tenantry_migrate::embed!("tests/fixtures/v1only");
/// V1 plus `X1_bad.sql`.
pub static BAD_NAME: MigrationSource = tenantry_migrate::embed!("tests/fixtures/badname");
/// Only a `sqlite/` directory (with a `.gitkeep`).
pub static SQLITE_ONLY: MigrationSource = tenantry_migrate::embed!("tests/fixtures/sqlite_only");

/// A SQLite database in a temporary directory, removed on drop.
pub struct SqliteDb {
    pub conn: DatabaseConnection,
    _dir: tempfile::TempDir,
}

pub async fn sqlite_db() -> SqliteDb {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
    let conn = Database::connect(url).await.expect("open SQLite");
    SqliteDb { conn, _dir: dir }
}

/// A PostgreSQL database with a random name on the server of `TENANTRY_TEST_PG_URL`,
/// dropped on drop (also when the test panics).
pub struct PgDb {
    pub conn: DatabaseConnection,
    admin_url: String,
    name: String,
}

pub async fn pg_db() -> PgDb {
    let admin_url = std::env::var("TENANTRY_TEST_PG_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| {
            panic!("TENANTRY_TEST_PG_URL is not set: run the suite with scripts/test")
        });
    let name = format!("tm_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(&admin_url)
        .await
        .expect("connect to TENANTRY_TEST_PG_URL");
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create the test database");
    admin.close().await.expect("close the admin connection");
    let mut url = url::Url::parse(&admin_url).expect("TENANTRY_TEST_PG_URL is a URL");
    url.set_path(&format!("/{name}"));
    let conn = Database::connect(url.as_str())
        .await
        .expect("connect to the test database");
    PgDb {
        conn,
        admin_url,
        name,
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        // Drop is sync and may run inside the test's runtime: use a thread with its own.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let admin = Database::connect(&admin_url).await?;
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                admin.execute_unprepared(&sql).await?;
                admin.close().await
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}: {dropped:?}", self.name);
        }
    }
}

/// Rows of `refinery_schema_history` as (version, name, applied_on, checksum).
pub async fn history(conn: &DatabaseConnection) -> Vec<(i32, String, String, String)> {
    let sql =
        "SELECT version, name, applied_on, checksum FROM refinery_schema_history ORDER BY version";
    let rows = conn
        .query_all_raw(raw(conn, sql))
        .await
        .expect("read the history");
    rows.iter()
        .map(|row| {
            let col = |i| row.try_get_by_index::<String>(i).expect("a text column");
            (
                row.try_get_by_index(0).expect("version"),
                col(1),
                col(2),
                col(3),
            )
        })
        .collect()
}

pub async fn table_exists(conn: &DatabaseConnection, table: &str) -> bool {
    let sql = match Dialect::of(conn).expect("a supported backend") {
        Dialect::Postgres => format!("SELECT COUNT(*) FROM pg_tables WHERE tablename = '{table}'"),
        Dialect::Sqlite => format!("SELECT COUNT(*) FROM sqlite_master WHERE name = '{table}'"),
    };
    count(conn, &sql).await > 0
}

pub async fn count(conn: &DatabaseConnection, sql: &str) -> i64 {
    let row = conn
        .query_one_raw(raw(conn, sql))
        .await
        .expect("count query");
    row.expect("one row")
        .try_get_by_index(0)
        .expect("an integer")
}

fn raw(conn: &DatabaseConnection, sql: &str) -> Statement {
    Statement::from_string(conn.get_database_backend(), sql)
}

/// One `#[tokio::test]` per scenario of [`scenarios`], each on a fresh database from `$db`.
#[allow(unused_macros)]
macro_rules! scenario_tests {
    ($db:path: $($scenario:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $scenario() {
            let db = $db().await;
            common::scenarios::$scenario(&db.conn).await;
        }
    )*};
}
