//! Copying a live tenant database to another PostgreSQL server by logical replication, for a
//! move: the schema first (`pg_dump --schema-only` into `pg_restore`, owned by the tenant role),
//! then a publication of every table here and a subscription there, which copies the rows and
//! then streams every later commit. A marker table proves the copy has caught up: a row written
//! here after the tenant's writes stopped is seen there only once everything before it is.
//!
//! Both servers' admins must be superusers (publications of every table, subscriptions).

use std::time::{Duration, Instant};

use secrecy::ExposeSecret as _;
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, ConnectOptions as _, Connection as _};
use uuid::Uuid;

use super::{PostgresBackend, run};
use crate::backend::{BackendError, DbIdent, TenantDatabase};

/// The publication (source) and subscription (target) of a move, one per database.
const PUBLICATION: &str = "tenantry_move";
const SUBSCRIPTION: &str = "tenantry_move";
/// The marker table, in the tenant database on both sides while the move runs.
const MARKER: &str = "public._tenantry_move";
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(20);

impl PostgresBackend {
    /// An admin session in database `db` (not pooled: moves are rare).
    async fn conn_to(&self, db: &DbIdent) -> Result<PgConnection, BackendError> {
        let options = self.options.clone().database(db.as_str());
        options
            .connect()
            .await
            .map_err(|e| self.error("connect to tenant database", e))
    }

    /// The server's name, as registered.
    pub fn server_name(&self) -> &str {
        &self.server
    }

    /// Refuses a move this server's admin cannot take part in: publishing every table and
    /// subscribing need a superuser.
    pub async fn check_superuser(&self) -> Result<(), BackendError> {
        let mut conn = self.conn().await?;
        let superuser: bool =
            sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| self.error("check admin role", e))?;
        if superuser {
            return Ok(());
        }
        Err(BackendError::Failed {
            action: "check admin role",
            message: format!(
                "moving a tenant needs a superuser admin on server {}",
                self.server
            ),
        })
    }

    /// Refuses a database whose updates could not be replicated: a table without a primary
    /// key (or another replica identity).
    pub async fn check_replicable(&self, db: &TenantDatabase) -> Result<(), BackendError> {
        let mut conn = self.conn_to(&db.name).await?;
        let unkeyed: Vec<String> = sqlx::query_scalar(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND c.relreplident = 'd' \
               AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)",
        )
        .fetch_all(&mut conn)
        .await
        .map_err(|e| self.error("check tables", e))?;
        conn.close().await.ok();
        if unkeyed.is_empty() {
            return Ok(());
        }
        Err(BackendError::Failed {
            action: "check tables",
            message: format!(
                "tables without a primary key cannot be replicated: {}",
                unkeyed.join(", ")
            ),
        })
    }

    /// Adds the marker table to `db` here, copies its schema into the (new, empty) `db` on
    /// `target`, owned by its tenant role, and publishes every table here.
    pub async fn copy_schema_to(
        &self,
        target: &PostgresBackend,
        db: &TenantDatabase,
    ) -> Result<(), BackendError> {
        let mut conn = self.conn_to(&db.name).await?;
        let setup = format!(
            "CREATE TABLE IF NOT EXISTS {MARKER} (token uuid PRIMARY KEY); \
             DROP PUBLICATION IF EXISTS {PUBLICATION}"
        );
        run(&mut conn, setup)
            .await
            .map_err(|e| self.error("prepare source", e))?;
        let (major, target_major) = (self.server_major().await?, target.server_major().await?);
        let (mut dump_in, mut dump_out) = tokio::io::duplex(64 * 1024);
        let dump = async {
            let dumped = self.tools.dump(major, &db.name, true, &mut dump_in).await;
            drop(dump_in);
            dumped
        };
        let role = target.role(db)?;
        let restore = target
            .tools
            .restore(target_major, &db.name, role, &mut dump_out);
        tokio::try_join!(dump, restore)?;
        let publish = format!("CREATE PUBLICATION {PUBLICATION} FOR ALL TABLES");
        run(&mut conn, publish)
            .await
            .map_err(|e| self.error("create publication", e))?;
        conn.close().await.ok();
        Ok(())
    }

    /// Subscribes `db` here to `source`'s publication: its rows are copied, then every later
    /// commit streamed. The replication slot on the source is named after the database.
    pub async fn subscribe_to(
        &self,
        source: &PostgresBackend,
        db: &TenantDatabase,
    ) -> Result<(), BackendError> {
        let conninfo = source.tools.conninfo(&db.name);
        let literal = conninfo.expose_secret().replace('\'', "''");
        let mut conn = self.conn_to(&db.name).await?;
        let sql = format!(
            "CREATE SUBSCRIPTION {SUBSCRIPTION} CONNECTION '{literal}' PUBLICATION {PUBLICATION} \
             WITH (slot_name = '{}', copy_data = true)",
            db.name.as_str()
        );
        run(&mut conn, sql)
            .await
            .map_err(|e| self.error("create subscription", e))?;
        conn.close().await.ok();
        Ok(())
    }

    /// Waits until every table's initial copy is done and streaming has taken over.
    pub async fn wait_copied(
        &self,
        db: &TenantDatabase,
        within: Duration,
    ) -> Result<(), BackendError> {
        let mut conn = self.conn_to(&db.name).await?;
        let started = Instant::now();
        loop {
            let (pending, total): (i64, i64) = sqlx::query_as(
                "SELECT count(*) FILTER (WHERE r.srsubstate <> 'r'), count(*) \
                 FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid \
                 WHERE s.subname = $1",
            )
            .bind(SUBSCRIPTION)
            .fetch_one(&mut conn)
            .await
            .map_err(|e| self.error("watch the copy", e))?;
            if total > 0 && pending == 0 {
                conn.close().await.ok();
                return Ok(());
            }
            if started.elapsed() > within {
                return Err(BackendError::Failed {
                    action: "copy tenant database",
                    message: format!("{pending} of {total} tables not copied after {within:?}"),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits up to `within` for the tenant role's sessions in `db` to finish what they are
    /// running (none active or inside a transaction); whether they did. New requests are
    /// fenced off by then, so this lets the last ones end rather than cutting them off.
    pub async fn wait_idle(
        &self,
        db: &TenantDatabase,
        within: Duration,
    ) -> Result<bool, BackendError> {
        let role = self.role(db)?;
        let mut conn = self.conn().await?;
        let started = Instant::now();
        loop {
            let busy: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE usename = $1 AND datname = $2 AND state <> 'idle'",
            )
            .bind(role.as_str())
            .bind(db.name.as_str())
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| self.error("watch sessions", e))?;
            if busy == 0 {
                return Ok(true);
            }
            if started.elapsed() >= within {
                return Ok(false);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Writes a marker row here (as the admin: the tenant's own writes have stopped) and
    /// returns its token, for [`Self::wait_for_marker`] on the target.
    pub async fn write_marker(&self, db: &TenantDatabase) -> Result<Uuid, BackendError> {
        let token = Uuid::new_v4();
        let mut conn = self.conn_to(&db.name).await?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {MARKER} (token) VALUES ($1)"
        )))
        .bind(token)
        .execute(&mut conn)
        .await
        .map_err(|e| self.error("write marker", e))?;
        conn.close().await.ok();
        Ok(token)
    }

    /// Waits until the marker `token` has arrived here: every commit before it has too.
    pub async fn wait_for_marker(
        &self,
        db: &TenantDatabase,
        token: Uuid,
        within: Duration,
    ) -> Result<(), BackendError> {
        let mut conn = self.conn_to(&db.name).await?;
        let started = Instant::now();
        loop {
            let arrived: bool = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT EXISTS (SELECT 1 FROM {MARKER} WHERE token = $1)"
            )))
            .bind(token)
            .fetch_one(&mut conn)
            .await
            .map_err(|e| self.error("wait for the copy", e))?;
            if arrived {
                conn.close().await.ok();
                return Ok(());
            }
            if started.elapsed() > within {
                return Err(BackendError::Failed {
                    action: "catch up",
                    message: format!("the copy did not catch up within {within:?}"),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Every sequence's position here (replication does not carry them), for
    /// [`Self::set_sequences`] on the target.
    pub async fn sequences(&self, db: &TenantDatabase) -> Result<Vec<(String, i64)>, BackendError> {
        let mut conn = self.conn_to(&db.name).await?;
        let positions = sqlx::query_as(
            "SELECT format('%I.%I', schemaname, sequencename), last_value FROM pg_sequences \
             WHERE last_value IS NOT NULL",
        )
        .fetch_all(&mut conn)
        .await
        .map_err(|e| self.error("read sequences", e))?;
        conn.close().await.ok();
        Ok(positions)
    }

    pub async fn set_sequences(
        &self,
        db: &TenantDatabase,
        positions: &[(String, i64)],
    ) -> Result<(), BackendError> {
        let mut conn = self.conn_to(&db.name).await?;
        for (sequence, value) in positions {
            sqlx::query("SELECT setval($1::regclass, $2, true)")
                .bind(sequence)
                .bind(value)
                .execute(&mut conn)
                .await
                .map_err(|e| self.error("set sequence", e))?;
        }
        conn.close().await.ok();
        Ok(())
    }

    /// Ends the subscription in `db` here (dropping its slot on the source when the source
    /// answers; [`Self::end_publication`] drops a slot left behind) and the marker table.
    /// Idempotent; a database that does not exist has nothing to end.
    pub async fn end_subscription(&self, db: &TenantDatabase) -> Result<(), BackendError> {
        if !super::database_exists(&mut *self.conn().await?, &db.name)
            .await
            .map_err(|e| self.error("look up database", e))?
        {
            return Ok(());
        }
        let mut conn = self.conn_to(&db.name).await?;
        // Detached from its slot first, so the drop does not depend on the source. One
        // statement at a time; one that finds no subscription (never made, or gone) is done.
        for sql in [
            format!("ALTER SUBSCRIPTION {SUBSCRIPTION} DISABLE"),
            format!("ALTER SUBSCRIPTION {SUBSCRIPTION} SET (slot_name = NONE)"),
            format!("DROP SUBSCRIPTION IF EXISTS {SUBSCRIPTION}"),
        ] {
            match run(&mut conn, sql).await {
                Err(e) if super::sqlstate(&e).as_deref() != Some("42704") => {
                    return Err(self.error("drop subscription", e));
                }
                _ => {}
            }
        }
        run(&mut conn, format!("DROP TABLE IF EXISTS {MARKER}"))
            .await
            .map_err(|e| self.error("drop marker", e))?;
        conn.close().await.ok();
        Ok(())
    }

    /// Drops the publication, the marker table and the move's replication slot here.
    /// Idempotent.
    pub async fn end_publication(&self, db: &TenantDatabase) -> Result<(), BackendError> {
        let mut admin = self.conn().await?;
        // The slot stays active for a moment after its subscription is gone.
        let started = Instant::now();
        loop {
            let dropped = sqlx::query(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                 WHERE slot_name = $1 AND NOT active",
            )
            .bind(db.name.as_str())
            .execute(&mut *admin)
            .await;
            let left: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)",
            )
            .bind(db.name.as_str())
            .fetch_one(&mut *admin)
            .await
            .map_err(|e| self.error("look up replication slot", e))?;
            if !left {
                break;
            }
            if started.elapsed() > Duration::from_secs(10) {
                dropped.map_err(|e| self.error("drop replication slot", e))?;
                return Err(BackendError::Failed {
                    action: "drop replication slot",
                    message: format!("slot {} is still in use", db.name),
                });
            }
            tokio::time::sleep(POLL).await;
        }
        if !super::database_exists(&mut admin, &db.name)
            .await
            .map_err(|e| self.error("look up database", e))?
        {
            return Ok(());
        }
        let mut conn = self.conn_to(&db.name).await?;
        let drop =
            format!("DROP PUBLICATION IF EXISTS {PUBLICATION}; DROP TABLE IF EXISTS {MARKER}");
        run(&mut conn, drop)
            .await
            .map_err(|e| self.error("drop publication", e))?;
        conn.close().await.ok();
        Ok(())
    }
}
