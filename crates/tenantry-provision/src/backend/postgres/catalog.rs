//! Read-only catalog queries: tenant names (for drift checks), database size, server version.

use super::PostgresBackend;
use crate::backend::{BackendError, DbIdent, TenantDatabase};

impl PostgresBackend {
    /// [`DatabaseBackend::database_size`](crate::backend::DatabaseBackend::database_size).
    pub(super) async fn database_bytes(&self, db: &TenantDatabase) -> Result<u64, BackendError> {
        let mut conn = self.conn().await?;
        let size: i64 = sqlx::query_scalar("SELECT pg_database_size($1::text::name)")
            .bind(db.name.as_str())
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| self.error("measure database", e))?;
        Ok(u64::try_from(size).unwrap_or(0))
    }

    /// The server's major version (`server_version_num` / 10000), which the client tools must
    /// match or exceed.
    pub(super) async fn server_major(&self) -> Result<u32, BackendError> {
        let mut conn = self.conn().await?;
        let version: String = sqlx::query_scalar("SELECT current_setting('server_version_num')")
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| self.error("read server version", e))?;
        version
            .parse::<u32>()
            .map(|n| n / 10_000)
            .map_err(|_| BackendError::Failed {
                action: "read server version",
                message: format!("unexpected server_version_num {version:?}"),
            })
    }

    /// Catalog names that are Tenantry identifiers. `DbIdent::parse` is the filter, not SQL:
    /// `LIKE 't%'` would also match `template0`/`template1`.
    pub(super) async fn names(
        &self,
        action: &'static str,
        sql: &'static str,
    ) -> Result<Vec<String>, BackendError> {
        let mut conn = self.conn().await?;
        let names: Vec<String> = sqlx::query_scalar(sql)
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| self.error(action, e))?;
        Ok(names
            .into_iter()
            .filter(|name| DbIdent::parse(name).is_ok())
            .collect())
    }
}
