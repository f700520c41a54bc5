//! Throwaway databases for Tenantry's tests.
//!
//! Every test gets its own [`TestDb`] — a fresh PostgreSQL database on the server that
//! `scripts/test` starts, or a fresh SQLite file — so tests run in parallel without sharing
//! state, and the database is dropped when the `TestDb` is, even if the test panics.
//!
//! PostgreSQL tests never skip silently: without `TENANTRY_TEST_PG_URL` they panic and say how
//! to run the suite.

pub mod bench_doc;
pub mod chaos;
pub mod dns;
mod postgres;
pub mod s3;

use std::path::{Path, PathBuf};

use sea_orm::{Database, DatabaseConnection};
use tempfile::TempDir;

pub use postgres::{pg_admin, pg_admin_url, pg2_admin_url};

/// The database engines Tenantry supports, for tests that run once per dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

impl Dialect {
    /// Every dialect, for `for dialect in Dialect::ALL { ... }`.
    pub const ALL: [Dialect; 2] = [Dialect::Postgres, Dialect::Sqlite];
}

/// A throwaway database: a fresh PostgreSQL database with a random name
/// (`tenantry_test_<uuid simple>`) on the server at `TENANTRY_TEST_PG_URL`, or a fresh SQLite
/// file in its own temp dir. Dropped on Drop.
///
/// Dropping a PostgreSQL `TestDb` terminates any connections still open to it
/// (`DROP DATABASE ... WITH (FORCE)`), so connections obtained from [`TestDb::connect`] need not
/// be closed first.
pub struct TestDb {
    url: String,
    engine: Engine,
    // Declared last so it is removed after the database is dropped.
    dir: TempDir,
}

enum Engine {
    Postgres(postgres::Database),
    Sqlite(PathBuf),
}

impl TestDb {
    /// A fresh database of the given dialect. Panics if it cannot be created.
    pub async fn new(dialect: Dialect) -> TestDb {
        match dialect {
            Dialect::Postgres => Self::postgres().await,
            Dialect::Sqlite => Self::sqlite().await,
        }
    }

    /// A fresh database on the test PostgreSQL server. Panics if `TENANTRY_TEST_PG_URL` is unset
    /// or the database cannot be created.
    pub async fn postgres() -> TestDb {
        let dir = temp_dir();
        let database = postgres::Database::create().await;
        TestDb {
            url: database.url().to_owned(),
            engine: Engine::Postgres(database),
            dir,
        }
    }

    /// A fresh, empty SQLite file in its own temp dir.
    pub async fn sqlite() -> TestDb {
        let dir = temp_dir();
        let path = dir.path().join("test.db");
        // An empty file is a valid empty SQLite database; creating it up front means
        // `sqlite_path` always names a file that exists.
        std::fs::File::create(&path)
            .unwrap_or_else(|e| panic!("cannot create SQLite file {}: {e}", path.display()));
        TestDb {
            url: format!("sqlite://{}?mode=rwc", path.display()),
            engine: Engine::Sqlite(path),
            dir,
        }
    }

    /// Which engine this database runs on.
    pub fn dialect(&self) -> Dialect {
        match self.engine {
            Engine::Postgres(_) => Dialect::Postgres,
            Engine::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// URL for sea-orm / sqlx (`postgres://...` or `sqlite://<path>?mode=rwc`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// For SQLite, the file path (None for PG). The temp dir lives as long as the TestDb.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &self.engine {
            Engine::Postgres(_) => None,
            Engine::Sqlite(path) => Some(path),
        }
    }

    /// A directory that lives as long as the TestDb (for key files, data dirs, config files).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A new sea-orm connection (pool) to this database. Panics if it cannot connect.
    pub async fn connect(&self) -> DatabaseConnection {
        Database::connect(self.url())
            .await
            .unwrap_or_else(|e| panic!("cannot connect to test database {}: {e}", self.url))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Engine::Postgres(database) = &self.engine {
            database.drop_blocking();
        }
    }
}

fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("tenantry-test-")
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"))
}
