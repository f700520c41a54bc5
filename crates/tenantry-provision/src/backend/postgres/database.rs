//! Tenant databases: creating or converging one with its grants, dropping it, ending sessions.

use std::time::Instant;

use sqlx::postgres::PgConnection;

use super::{PostgresBackend, lost_race, run_retrying};
use crate::backend::contention::{Sessions, TERMINATE_PASSES, end_sessions};
use crate::backend::{BackendError, DbIdent, TenantDatabase};

impl PostgresBackend {
    /// [`DatabaseBackend::ensure_database`](crate::backend::DatabaseBackend::ensure_database).
    pub(super) async fn converge_database(&self, db: &TenantDatabase) -> Result<(), BackendError> {
        let (name, owner) = (db.name.quoted(), self.role(db)?.quoted());
        let mut conn = self.conn().await?;
        let mut created = false;
        if !database_exists(&mut conn, &db.name)
            .await
            .map_err(|e| self.error("look up database", e))?
        {
            // Cannot run in a transaction; takes a lock that serialises creations server-wide.
            let started = Instant::now();
            // 55006 (another session is using template1 for a moment) is retried.
            match run_retrying(&mut conn, &format!("CREATE DATABASE {name} OWNER {owner}")).await {
                Ok(()) => created = true,
                Err(e) if lost_race(&e, "42P04") => {}
                Err(e) => return Err(self.error("create database", e)),
            }
            tracing::debug!(database = %db.name, elapsed_ms = started.elapsed().as_millis() as u64, "CREATE DATABASE");
        }
        if !created {
            run_retrying(
                &mut conn,
                &format!("ALTER DATABASE {name} OWNER TO {owner}"),
            )
            .await
            .map_err(|e| self.error("set database owner", e))?;
        }
        let privileges = format!(
            "REVOKE CONNECT, TEMPORARY ON DATABASE {name} FROM PUBLIC; \
             GRANT CONNECT ON DATABASE {name} TO {owner}"
        );
        // Two sessions changing one database's ACL at once: the loser gets "tuple concurrently
        // updated", which `run_retrying` retries.
        run_retrying(&mut conn, &privileges)
            .await
            .map_err(|e| self.error("restrict database access", e))
    }

    /// [`DatabaseBackend::drop_database`](crate::backend::DatabaseBackend::drop_database).
    pub(super) async fn drop_tenant_database(
        &self,
        db: &TenantDatabase,
    ) -> Result<(), BackendError> {
        let mut conn = self.conn().await?;
        run_retrying(
            &mut conn,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", db.name.quoted()),
        )
        .await
        .map_err(|e| self.error("drop database", e))
    }

    /// [`DatabaseBackend::end_sessions`](crate::backend::DatabaseBackend::end_sessions).
    pub(super) async fn end_tenant_sessions(
        &self,
        db: &TenantDatabase,
    ) -> Result<(), BackendError> {
        let mut conn = self.conn().await?;
        let which = Sessions::LeftBy {
            role: db.role.as_ref(),
            database: &db.name,
        };
        self.terminate(&mut conn, which).await
    }

    pub(super) async fn terminate(
        &self,
        conn: &mut PgConnection,
        which: Sessions<'_>,
    ) -> Result<(), BackendError> {
        match end_sessions(conn, &which)
            .await
            .map_err(|e| self.error("end sessions", e))?
        {
            Some(ended) => {
                if ended > 0 {
                    tracing::info!(server = %self.server, ended, "ended leftover sessions");
                }
                Ok(())
            }
            None => Err(BackendError::Failed {
                action: "end sessions",
                message: format!("sessions were still open after {TERMINATE_PASSES} attempts"),
            }),
        }
    }
}

pub(super) async fn database_exists(
    conn: &mut PgConnection,
    name: &DbIdent,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name.as_str())
        .fetch_one(conn)
        .await
}
