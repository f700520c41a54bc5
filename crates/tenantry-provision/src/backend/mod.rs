//! Where tenant databases live. One trait, one implementation per database engine; the
//! provisioner drives them step by step and never formats SQL itself.
//!
//! Every method is idempotent: calling it again after a crash (or twice in a row) converges on
//! the same state, which is what makes provisioning and deletion crash-safe.

pub mod connect_error;
mod contention;
mod names;
pub mod postgres;
mod scram;
pub mod sqlite;

use async_trait::async_trait;
use secrecy::SecretString;
use tenantry_migrate::Dialect;
use tokio::io::{AsyncRead, AsyncWrite};

pub use connect_error::ConnectFailure;
pub use names::{DbIdent, IdentError};

/// A tenant's database and (on servers with roles) its login role. Both names are derived from
/// the tenant's subdomain and id by [`DbIdent::derive`], never taken from raw input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantDatabase {
    pub name: DbIdent,
    /// `None` on SQLite, which has no roles.
    pub role: Option<DbIdent>,
}

/// What a backend does to a tenant's login when it is suspended or reactivated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    Allowed,
    /// The role can no longer log in and its open sessions are ended.
    Refused,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The server could not be reached or refused our admin credentials.
    #[error("cannot reach database server {server}: {message}")]
    Unreachable { server: String, message: String },
    #[error("database operation failed ({action}): {message}")]
    Failed {
        action: &'static str,
        message: String,
    },
    #[error("filesystem operation failed ({action}) on {path}: {source}")]
    Io {
        action: &'static str,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// A place that can hold tenant databases: a PostgreSQL server (reached with its decrypted admin
/// credentials) or a directory of SQLite files.
#[async_trait]
pub trait DatabaseBackend: Send + Sync {
    fn dialect(&self) -> Dialect;

    /// Creates the tenant's LOGIN role with `password` (NOSUPERUSER NOCREATEDB NOCREATEROLE
    /// NOREPLICATION NOBYPASSRLS, `CONNECTION LIMIT connection_limit`), or, if it
    /// exists, resets its password, limit and LOGIN. No-op without roles (SQLite).
    async fn ensure_role(
        &self,
        db: &TenantDatabase,
        password: &SecretString,
        connection_limit: i32,
    ) -> Result<(), BackendError>;

    /// Creates the database owned by the tenant role, with `REVOKE CONNECT, TEMPORARY ... FROM
    /// PUBLIC` and `GRANT CONNECT ... TO role`. Exists already → fixes ownership/privileges.
    async fn ensure_database(&self, db: &TenantDatabase) -> Result<(), BackendError>;

    /// The URL the tenant's own role connects with (never the admin's). For sqlx/sea-orm.
    fn tenant_url(&self, db: &TenantDatabase, password: Option<&SecretString>) -> SecretString;

    /// Suspends (`Refused`: `ALTER ROLE ... NOLOGIN` + terminate the role's sessions) or
    /// reactivates (`Allowed`) the tenant's role. No-op on SQLite.
    async fn set_login(&self, db: &TenantDatabase, login: Login) -> Result<(), BackendError>;

    /// Drops the database if it exists, ending any sessions on it first (on SQLite: removes
    /// the file and its -wal/-shm companions).
    async fn drop_database(&self, db: &TenantDatabase) -> Result<(), BackendError>;

    /// Ends every session a crashed operation on this tenant may have left: the role's, those on
    /// its database, and any admin session still running a statement that names either. Call
    /// before rolling a creation back, so no dying session commits after the drops. No-op where
    /// there is no server (SQLite: a killed process's file handles died with it).
    async fn end_sessions(&self, _db: &TenantDatabase) -> Result<(), BackendError> {
        Ok(())
    }

    /// Claims a warm spare for a tenant, as one transaction: the spare's role and database take
    /// the tenant's names (`spare` → `tenant`), the role its `password` and
    /// `connection_limit`. Servers only: there are no spares of SQLite files.
    async fn claim_spare(
        &self,
        spare: &TenantDatabase,
        tenant: &TenantDatabase,
        password: &SecretString,
        connection_limit: i32,
    ) -> Result<(), BackendError> {
        let _ = (spare, tenant, password, connection_limit);
        Err(BackendError::Failed {
            action: "claim spare",
            message: "this backend keeps no warm spares".into(),
        })
    }

    /// Drops the role if it exists. No-op on SQLite.
    async fn drop_role(&self, db: &TenantDatabase) -> Result<(), BackendError>;

    async fn database_exists(&self, db: &TenantDatabase) -> Result<bool, BackendError>;

    /// The database's size on disk in bytes, as its storage quota counts it: PostgreSQL's
    /// `pg_database_size`, SQLite's file with its write-ahead log.
    async fn database_size(&self, db: &TenantDatabase) -> Result<u64, BackendError>;

    /// Names of tenant databases present on this backend (those matching the `t_` naming scheme,
    /// never templates or system databases) — for drift detection.
    async fn list_databases(&self) -> Result<Vec<String>, BackendError>;

    /// Names of tenant roles present on this backend (empty on SQLite) — for drift detection.
    async fn list_roles(&self) -> Result<Vec<String>, BackendError>;

    /// Streams a consistent copy of the tenant's database into `out`: PostgreSQL `pg_dump`'s
    /// custom format, SQLite a `VACUUM INTO` copy of the file. Writers go on meanwhile.
    async fn dump(
        &self,
        db: &TenantDatabase,
        out: &mut (dyn AsyncWrite + Unpin + Send),
    ) -> Result<(), BackendError>;

    /// Loads what [`Self::dump`] wrote into the new database `db`: on PostgreSQL an empty
    /// database made by [`Self::ensure_database`], restored in one transaction with every object
    /// owned by the tenant's role; on SQLite a file that must not exist yet, written whole and
    /// then renamed into place.
    async fn load(
        &self,
        db: &TenantDatabase,
        input: &mut (dyn AsyncRead + Unpin + Send),
    ) -> Result<(), BackendError>;
}
