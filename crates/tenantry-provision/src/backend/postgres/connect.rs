//! Reaching the server: the admin pool, and single direct attempts that name the cause of a
//! failure (the pool retries a refusal until its acquire timeout, then reports only that).

use sqlx::Connection as _;
use sqlx::Postgres;
use sqlx::pool::PoolConnection;

use super::{ACQUIRE_TIMEOUT, CONNECT_TIMEOUT, PostgresBackend};
use crate::backend::BackendError;
use crate::backend::connect_error::{ConnectFailure, connect_once};

impl PostgresBackend {
    pub(super) async fn conn(&self) -> Result<PoolConnection<Postgres>, BackendError> {
        if self.pool.size() == 0 {
            // Nothing open, so nothing known about the server: one attempt tells the cause of a
            // failure at once, where the pool would retry a refusal until ACQUIRE_TIMEOUT.
            let probe = connect_once(&self.options, CONNECT_TIMEOUT)
                .await
                .map_err(|cause| self.unreachable(cause))?;
            let _ = probe.close().await;
        }
        match self.pool.acquire().await {
            Ok(conn) => Ok(conn),
            Err(sqlx::Error::PoolTimedOut) => Err(self.busy_or_gone().await),
            Err(e) => Err(self.error("connect", e)),
        }
    }

    /// The pool timed out: either every admin connection is busy, or the server went away.
    async fn busy_or_gone(&self) -> BackendError {
        match connect_once(&self.options, CONNECT_TIMEOUT).await {
            Err(cause) => self.unreachable(cause),
            Ok(conn) => {
                let _ = conn.close().await;
                BackendError::Unreachable {
                    server: self.server.clone(),
                    message: format!(
                        "no admin connection free within {}s",
                        ACQUIRE_TIMEOUT.as_secs()
                    ),
                }
            }
        }
    }

    fn unreachable(&self, cause: ConnectFailure) -> BackendError {
        BackendError::Unreachable {
            server: self.server.clone(),
            message: cause.to_string(),
        }
    }

    /// Checks the server as an operator registers it: one connection attempt under
    /// [`CONNECT_TIMEOUT`], then whether the admin may create databases and roles. Returns the
    /// server's version. Uses no pooled connection, so it reports the server as it is now.
    pub async fn check(&self) -> Result<String, BackendError> {
        let mut conn = connect_once(&self.options, CONNECT_TIMEOUT)
            .await
            .map_err(|cause| self.unreachable(cause))?;
        let query = sqlx::query_as(
            "SELECT current_setting('server_version'), \
                    (rolsuper OR (rolcreatedb AND rolcreaterole)) \
             FROM pg_roles WHERE rolname = current_user",
        )
        .fetch_optional(&mut conn);
        let row: Option<(String, bool)> = match tokio::time::timeout(CONNECT_TIMEOUT, query).await {
            Err(_) => {
                return Err(self.unreachable(ConnectFailure::TimedOut(Some(CONNECT_TIMEOUT))));
            }
            Ok(row) => row.map_err(|e| self.error("check admin role", e))?,
        };
        let _ = conn.close().await;
        match row {
            None => Err(BackendError::Failed {
                action: "check admin role",
                message: "the admin role is not visible in pg_roles".into(),
            }),
            Some((_, false)) => Err(BackendError::Failed {
                action: "check admin role",
                message: "the admin role lacks CREATEDB and CREATEROLE".into(),
            }),
            Some((version, true)) => Ok(format!("PostgreSQL {version}")),
        }
    }

    /// Connection-level failures (network, TLS, credentials refused, server not accepting
    /// connections) are `Unreachable`, described by their cause; anything the server answered
    /// to a statement is `Failed`. Neither sqlx nor the server puts the URL or a password in
    /// these messages.
    pub(super) fn error(&self, action: &'static str, err: sqlx::Error) -> BackendError {
        let unreachable = match &err {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed => true,
            sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                // 08 connection exception, 28 invalid authorization, 3D000 no such database,
                // 53300 too many connections, 57P0x admin shutdown / crash / cannot connect now.
                code.starts_with("08")
                    || code.starts_with("28")
                    || code == "3D000"
                    || code == "53300"
                    || code.starts_with("57P0")
            }),
            _ => false,
        };
        if unreachable {
            self.unreachable(ConnectFailure::classify(&err))
        } else {
            BackendError::Failed {
                action,
                message: err.to_string(),
            }
        }
    }
}
