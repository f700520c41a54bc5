//! Opening one physical connection as a sea-orm connection (a one-connection sqlx pool: sea-orm
//! has no public way to run on a bare connection).

use std::str::FromStr;
use std::time::Duration;

use sea_orm::{DatabaseConnection, SqlxPostgresConnector, SqlxSqliteConnector};
use secrecy::{ExposeSecret, SecretString};
use sqlx::ConnectOptions;
use sqlx::pool::PoolOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};

fn one_connection<DB: sqlx::Database>(timeout: Duration) -> PoolOptions<DB> {
    PoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(timeout)
        .test_before_acquire(false)
}

/// Connects now (so a dead database fails here, not at the first query). Messages never
/// contain the URL.
pub(crate) async fn open(
    url: &SecretString,
    timeout: Duration,
) -> Result<DatabaseConnection, String> {
    let raw = url.expose_secret();
    if raw.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(raw)
            .map_err(|e| e.to_string())?
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5))
            .disable_statement_logging();
        let pool = one_connection(timeout)
            .connect_with(options)
            .await
            .map_err(|e| e.to_string())?;
        Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
    } else {
        let options = PgConnectOptions::from_str(raw)
            .map_err(|_| "invalid tenant database URL".to_owned())?
            .application_name("tenantry")
            .disable_statement_logging();
        let connect = one_connection(timeout).connect_with(options);
        let pool = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| format!("connect timed out after {timeout:?}"))?
            .map_err(|e| e.to_string())?;
        Ok(SqlxPostgresConnector::from_sqlx_postgres_pool(pool))
    }
}
