//! refinery's async driver traits, implemented over a sea-orm connection.

use crate::Dialect;
use refinery_core::Migration;
use refinery_core::traits::r#async::{AsyncMigrate, AsyncQuery, AsyncTransaction};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbErr, QueryResult, Statement, TransactionTrait,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A sea-orm connection seen as a refinery driver.
pub(crate) struct SeaOrmMigrator<'c> {
    conn: &'c DatabaseConnection,
}

impl<'c> SeaOrmMigrator<'c> {
    pub(crate) fn new(conn: &'c DatabaseConnection) -> Self {
        SeaOrmMigrator { conn }
    }

    /// Whether `table` exists, without creating it (refinery's own check creates it).
    pub(crate) async fn table_exists(&self, dialect: Dialect, table: &str) -> Result<bool, DbErr> {
        // `table` is one of our constants, never user input.
        let sql = match dialect {
            Dialect::Postgres => format!("SELECT to_regclass('{table}') IS NOT NULL"),
            Dialect::Sqlite => format!(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{table}')"
            ),
        };
        let row = self.conn.query_one_raw(self.statement(sql)).await?;
        let row =
            row.ok_or_else(|| DbErr::Custom("table existence check returned no row".into()))?;
        match dialect {
            Dialect::Postgres => row.try_get_by_index::<bool>(0),
            Dialect::Sqlite => row.try_get_by_index::<i64>(0).map(|n| n != 0),
        }
    }

    fn statement(&self, sql: impl Into<String>) -> Statement {
        Statement::from_string(self.conn.get_database_backend(), sql)
    }
}

impl AsyncTransaction for SeaOrmMigrator<'_> {
    type Error = DbErr;

    /// Runs every query of one call in one transaction. refinery calls this once per
    /// migration with its SQL and its history `INSERT`, so the two commit or fail together.
    async fn execute<'a, T: Iterator<Item = &'a str> + Send + 'a>(
        &'a mut self,
        queries: T,
    ) -> Result<usize, DbErr> {
        let txn = self.conn.begin().await?;
        let mut count = 0;
        for query in queries {
            // Unprepared: a migration file holds several statements.
            if let Err(err) = txn.execute_unprepared(query).await {
                if let Err(rollback) = txn.rollback().await {
                    tracing::warn!(error = %rollback, "rollback after a failed migration statement failed");
                }
                return Err(err);
            }
            count += 1;
        }
        txn.commit().await?;
        Ok(count)
    }
}

impl AsyncQuery<Vec<Migration>> for SeaOrmMigrator<'_> {
    /// Runs refinery's history `SELECT` (version, name, applied_on, checksum).
    async fn query<'a>(&'a mut self, query: &'a str) -> Result<Vec<Migration>, DbErr> {
        let rows = self.conn.query_all_raw(self.statement(query)).await?;
        rows.iter().map(applied_migration).collect()
    }
}

impl AsyncMigrate for SeaOrmMigrator<'_> {}

/// Parses a history row as refinery's drivers do, but with errors instead of panics.
fn applied_migration(row: &QueryResult) -> Result<Migration, DbErr> {
    let version: i32 = row.try_get_by_index(0)?;
    let bad_row = |what: String| {
        DbErr::Type(format!(
            "refinery_schema_history row for version {version}: {what}"
        ))
    };
    let name: String = row.try_get_by_index(1)?;
    let applied_on: String = row.try_get_by_index(2)?;
    let applied_on = OffsetDateTime::parse(&applied_on, &Rfc3339)
        .map_err(|e| bad_row(format!("applied_on {applied_on:?} is not RFC 3339: {e}")))?;
    // refinery stores the u64 checksum as text: it does not fit a signed BIGINT.
    let checksum: String = row.try_get_by_index(3)?;
    let checksum = checksum
        .parse::<u64>()
        .map_err(|e| bad_row(format!("checksum {checksum:?} is not a u64: {e}")))?;
    Ok(Migration::applied(version, name, applied_on, checksum))
}
