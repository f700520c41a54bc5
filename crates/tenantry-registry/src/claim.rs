//! The claim transaction (backups due, spares added, a reservation claiming a spare): one that
//! cannot read stale before it writes.

use sea_orm::{
    DatabaseTransaction, DbBackend, DbErr, IsolationLevel, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};

use crate::Registry;

impl Registry {
    /// A transaction that holds the write lock from its first read on SQLite (so the claim's
    /// read cannot go stale before its write), and reads each statement afresh on PostgreSQL.
    pub(crate) async fn begin_claim(&self) -> Result<DatabaseTransaction, DbErr> {
        let options = match self.db.get_database_backend() {
            DbBackend::Sqlite => TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            },
            _ => TransactionOptions {
                isolation_level: Some(IsolationLevel::ReadCommitted),
                ..TransactionOptions::default()
            },
        };
        self.db.begin_with_options(options).await
    }
}
