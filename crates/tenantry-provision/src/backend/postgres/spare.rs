//! Claiming a warm spare: its role and database take the tenant's names.

use sqlx::postgres::PgConnection;

use super::{PostgresBackend, database_exists, run_retrying};
use crate::backend::{BackendError, DbIdent, TenantDatabase};

impl PostgresBackend {
    /// Renames `from`'s role, then its database, to `to`'s names; each only while the old name
    /// exists and the new one does not. Ownership and grants follow (they hold the objects'
    /// ids, not names). Nobody is connected to a spare, so the database can be renamed.
    pub(super) async fn rename_spare(
        &self,
        from: &TenantDatabase,
        to: &TenantDatabase,
    ) -> Result<(), BackendError> {
        let mut conn = self.conn().await?;
        if let (Some(old), Some(new)) = (&from.role, &to.role)
            && self.role_exists(&mut conn, old).await?
            && !self.role_exists(&mut conn, new).await?
        {
            run_retrying(
                &mut conn,
                &format!("ALTER ROLE {} RENAME TO {}", old.quoted(), new.quoted()),
            )
            .await
            .map_err(|e| self.error("rename spare role", e))?;
        }
        let old_there = database_exists(&mut conn, &from.name)
            .await
            .map_err(|e| self.error("look up database", e))?;
        let new_there = database_exists(&mut conn, &to.name)
            .await
            .map_err(|e| self.error("look up database", e))?;
        if old_there && !new_there {
            run_retrying(
                &mut conn,
                &format!(
                    "ALTER DATABASE {} RENAME TO {}",
                    from.name.quoted(),
                    to.name.quoted()
                ),
            )
            .await
            .map_err(|e| self.error("rename spare database", e))?;
        }
        Ok(())
    }

    async fn role_exists(
        &self,
        conn: &mut PgConnection,
        role: &DbIdent,
    ) -> Result<bool, BackendError> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(role.as_str())
            .fetch_one(conn)
            .await
            .map_err(|e| self.error("look up role", e))
    }
}
