//! The sqlx calls a slot makes, with errors in sea-orm's own shapes (so `DbErr::sql_err` reads
//! them as it reads sea-orm's) and transactions driven through sqlx's transaction manager.

use std::sync::Arc;

use sea_orm::sea_query::Values;
use sea_orm::{DbErr, RuntimeErr, Statement, TransactionOptions};
use sea_query_sqlx::SqlxValues;
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection, Database, Executor, Postgres};
use sqlx_core::transaction::TransactionManager;

/// sea-orm's own error shapes, so `DbErr::sql_err` (unique violations…) reads them alike.
pub(crate) fn exec_err(err: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(err)))
}

pub(crate) fn query_err(err: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(err)))
}

pub(crate) fn query<DB>(stmt: &Statement) -> sqlx::query::Query<'_, DB, SqlxValues>
where
    DB: Database,
    SqlxValues: sqlx::IntoArguments<DB>,
{
    let values = stmt.values.clone().unwrap_or(Values(Vec::new()));
    sqlx::query_with(AssertSqlSafe(stmt.sql.as_str()), SqlxValues(values))
}

pub(crate) async fn begin_postgres(
    c: &mut PgConnection,
    options: TransactionOptions,
) -> sqlx::Result<()> {
    <Postgres as Database>::TransactionManager::begin(c, None).await?;
    let mut settings = Vec::new();
    if let Some(level) = options.isolation_level {
        settings.push(format!("ISOLATION LEVEL {level}"));
    }
    if let Some(mode) = options.access_mode {
        settings.push(mode.to_string());
    }
    if !settings.is_empty() {
        let sql = format!("SET TRANSACTION {}", settings.join(" "));
        if let Err(e) = c.execute(AssertSqlSafe(sql)).await {
            // No transaction object will own it: roll it back with the next round trip.
            start_rollback(c);
            return Err(e);
        }
    }
    Ok(())
}

pub(crate) fn transaction_depth<C: Connection>(c: &C) -> usize {
    <C::Database as Database>::TransactionManager::get_transaction_depth(c)
}

pub(crate) async fn commit<C: Connection>(c: &mut C) -> sqlx::Result<()> {
    <C::Database as Database>::TransactionManager::commit(c).await
}

pub(crate) async fn rollback<C: Connection>(c: &mut C) -> sqlx::Result<()> {
    <C::Database as Database>::TransactionManager::rollback(c).await
}

pub(crate) fn start_rollback<C: Connection>(c: &mut C) {
    <C::Database as Database>::TransactionManager::start_rollback(c);
}
