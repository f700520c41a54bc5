//! Creating and dropping databases on the test PostgreSQL server.

use sea_orm::DatabaseConnection;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use url::Url;
use uuid::Uuid;

const PG_URL_VAR: &str = "TENANTRY_TEST_PG_URL";

/// The admin URL of the test PostgreSQL server (`TENANTRY_TEST_PG_URL`).
///
/// Panics with "TENANTRY_TEST_PG_URL is not set: run the suite with scripts/test" if it is unset:
/// tests never silently skip.
pub fn pg_admin_url() -> String {
    match std::env::var(PG_URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!("{PG_URL_VAR} is not set: run the suite with scripts/test"),
    }
}

/// The admin URL of the second test PostgreSQL server (`TENANTRY_TEST_PG2_URL`), where tenants
/// move to. Panics like [`pg_admin_url`] if it is unset.
pub fn pg2_admin_url() -> String {
    match std::env::var("TENANTRY_TEST_PG2_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!("TENANTRY_TEST_PG2_URL is not set: run the suite with scripts/test"),
    }
}

/// A connection to the test server's `postgres` database as the admin role (for assertions such
/// as `pg_stat_activity`, `pg_roles`, `pg_database`).
pub async fn pg_admin() -> DatabaseConnection {
    let url = url_for_database("postgres");
    sea_orm::Database::connect(url.as_str())
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL server at {url}: {e}"))
}

/// A database on the test server, named `tenantry_test_<uuid>`.
pub(crate) struct Database {
    name: String,
    url: String,
}

impl Database {
    pub(crate) async fn create() -> Database {
        let name = format!("tenantry_test_{}", Uuid::new_v4().simple());
        let url = url_for_database(&name).into();
        let mut admin = connect_admin()
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL server: {e}"));
        admin
            .execute(AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        // Best effort: the server cleans up after a dropped socket anyway.
        let _ = admin.close().await;
        Database { name, url }
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Drops the database, terminating any open connections. `Drop` cannot await and may run
    /// inside or outside a tokio runtime (whose thread must not be blocked on itself), so the
    /// work runs on its own thread with its own runtime. Never panics: failures go to stderr.
    pub(crate) fn drop_blocking(&self) {
        let sql = format!(r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#, self.name);
        let outcome = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime
                .block_on(async {
                    let mut admin = connect_admin().await?;
                    admin.execute(AssertSqlSafe(sql)).await?;
                    admin.close().await
                })
                .map_err(|e| e.to_string())
        })
        .join();
        let error = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e,
            Err(_) => "the drop thread panicked".to_owned(),
        };
        eprintln!(
            "tenantry-test-utils: could not drop test database {}: {error}",
            self.name
        );
    }
}

async fn connect_admin() -> Result<PgConnection, sqlx::Error> {
    PgConnection::connect(&pg_admin_url()).await
}

/// The admin URL with its database replaced.
fn url_for_database(database: &str) -> Url {
    let admin_url = pg_admin_url();
    let mut url = Url::parse(&admin_url)
        .unwrap_or_else(|e| panic!("{PG_URL_VAR} is not a valid URL ({admin_url}): {e}"));
    url.set_path(&format!("/{database}"));
    url
}
