//! Concurrent DDL on one PostgreSQL role or database: which errors are worth a retry, and how to
//! end the sessions a crashed operation left behind.
//!
//! A `kill -9` of a provisioning process leaves its server sessions alive for a moment: an admin
//! session may still be running `CREATE ROLE`/`CREATE DATABASE`/`GRANT` and a tenant session a
//! migration. Rolling back over them makes the catalogs collide: `DROP ROLE` meets `tuple
//! concurrently deleted`, or a database committed after our `DROP DATABASE` keeps its owner
//! alive. So a rollback first ends those sessions, and every DDL statement retries the errors
//! PostgreSQL raises for concurrent catalog changes.

use std::time::Duration;

use sqlx::postgres::PgConnection;

use super::DbIdent;

/// Backoff between attempts of a statement that met a transient catalog error: four retries,
/// 300 ms in all, far below any operator's patience and above a concurrent DDL's commit.
const RETRY_DELAYS: [Duration; 4] = [
    Duration::from_millis(20),
    Duration::from_millis(40),
    Duration::from_millis(80),
    Duration::from_millis(160),
];
/// Waiting for a terminated session to exit, per pass (`pg_terminate_backend(pid, timeout)`).
const TERMINATE_WAIT_MS: i64 = 2000;
pub(super) const TERMINATE_PASSES: usize = 3;

/// Errors PostgreSQL raises when concurrent DDL on the same role or database got in the way, and
/// that the same statement can overcome a moment later (all our DDL is idempotent):
///
/// - `XX000` with `tuple concurrently updated`/`deleted`: two sessions changed one catalog row
///   (`GRANT`/`ALTER`/`DROP` of one role, two ACL changes of one database, `DROP ROLE` racing a
///   dying session's `ALTER ROLE`). PostgreSQL reports it as an internal error; only the message
///   tells it apart from real ones.
/// - `40001` serialization_failure and `40P01` deadlock_detected: lock-order conflicts between
///   `CREATE`/`DROP` and sessions holding locks on the shared catalogs.
/// - `55006` object_in_use: `CREATE DATABASE`'s template (`template1`) or the database being
///   dropped is open in another session for a moment.
/// - `55P03` lock_not_available: a `lock_timeout` set on the admin role expired.
///
/// Not transient: permission errors, `2BP01` (the role still owns a database: drop it first), and
/// connection errors (the session is gone; `reconcile` retries on its next run).
pub(super) fn transient(err: &sqlx::Error) -> bool {
    let Some(db) = err.as_database_error() else {
        return false;
    };
    match db.code().as_deref() {
        Some("40001" | "40P01" | "55006" | "55P03") => true,
        Some("XX000") => {
            let message = db.message();
            message.contains("tuple concurrently updated")
                || message.contains("tuple concurrently deleted")
        }
        _ => false,
    }
}

/// Runs an idempotent statement (simple protocol), retrying [`transient`] errors with bounded
/// backoff.
pub(super) async fn run_retrying(conn: &mut PgConnection, sql: &str) -> Result<(), sqlx::Error> {
    let mut delays = RETRY_DELAYS.iter();
    loop {
        match super::postgres::run(conn, sql.to_owned()).await {
            Err(e) if transient(&e) => match delays.next() {
                Some(delay) => {
                    tracing::debug!(error = %e, "concurrent catalog change; retrying");
                    tokio::time::sleep(*delay).await;
                }
                None => return Err(e),
            },
            other => return other,
        }
    }
}

/// Which sessions to end.
pub(super) enum Sessions<'a> {
    /// Sessions logged in as the role (suspending a tenant).
    OfRole(&'a DbIdent),
    /// Everything a crashed operation on the tenant may have left: sessions of its role, sessions
    /// on its database, and any other session (an admin's) still running a `CREATE`, `ALTER`,
    /// `GRANT` or `REVOKE` that names either — a `CREATE DATABASE` that would otherwise commit
    /// after our `DROP DATABASE`. A `DROP` is spared: it is another `reconcile` rolling back the
    /// same operation, and both may finish.
    LeftBy {
        role: Option<&'a DbIdent>,
        database: &'a DbIdent,
    },
}

/// Ends the sessions and checks none is left: a login that passed authentication just before
/// `NOLOGIN` committed, or a dying process's last statement, may show up a moment later. Returns
/// how many were ended, or `None` if some survived every pass.
pub(super) async fn end_sessions(
    conn: &mut PgConnection,
    which: &Sessions<'_>,
) -> Result<Option<i64>, sqlx::Error> {
    let (role, database, in_flight) = match which {
        Sessions::OfRole(role) => (Some(role.as_str()), None, false),
        Sessions::LeftBy { role, database } => {
            (role.map(DbIdent::as_str), Some(database.as_str()), true)
        }
    };
    // Idle sessions show their *last* statement in `query`: only running ones are matched by
    // text, so our own idle pool connections (whose last DDL named the tenant) are spared. Names
    // are bound, so no statement of ours that looks for them contains them.
    let sql = "SELECT count(pg_terminate_backend(pid, $3)) FROM pg_stat_activity \
               WHERE pid <> pg_backend_pid() \
                 AND (usename = $1 OR datname = $2 \
                      OR ($4 AND state <> 'idle' \
                          AND upper(ltrim(query)) ~ '^(CREATE|ALTER|GRANT|REVOKE)' \
                          AND (strpos(query, $1) > 0 OR strpos(query, $2) > 0)))";
    let mut ended = 0;
    for pass in 0..TERMINATE_PASSES {
        if pass > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let found: i64 = sqlx::query_scalar(sql)
            .bind(role)
            .bind(database)
            .bind(TERMINATE_WAIT_MS)
            .bind(in_flight)
            .fetch_one(&mut *conn)
            .await?;
        if found == 0 {
            return Ok(Some(ended));
        }
        ended += found;
    }
    Ok(None)
}
