//! Tenant databases on a PostgreSQL server, managed over a small pool of admin connections.
//!
//! The only SQL built at run time is DDL whose dynamic parts are [`DbIdent::quoted`] names, an
//! integer, and a [`ScramVerifier`] literal: role passwords are hashed client-side, so neither
//! the server's statement log nor `pg_stat_activity` ever sees a plaintext password. Values in
//! queries are bind parameters.
//!
//! Deletion order: drop the database first, then the role — a role that still owns a database
//! cannot be dropped (`DROP OWNED` cannot reach across databases).
//!
//! DDL retries the errors of concurrent catalog changes (`contention.rs`). A server is first
//! reached with one direct attempt under [`CONNECT_TIMEOUT`], so an operator learns *why* it is
//! unreachable (`connect_error.rs`, `postgres/connect.rs`) instead of a pool's timeout.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret as _, SecretString};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions as _, Executor as _};
use tenantry_migrate::Dialect;
use url::Url;

use super::contention::run_retrying;
use super::scram::ScramVerifier;
use super::{BackendError, DatabaseBackend, DbIdent, Login, TenantDatabase};

mod catalog;
mod connect;
mod database;
mod replication;
mod role;
mod spare;
mod tools;

use database::database_exists;
use tools::PgTools;

/// How long one connection attempt to a server may take (TCP, TLS, authentication) before it is
/// reported as timed out: a server check, or the first connection of an empty admin pool.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an operation waits for a free admin connection once the server has answered.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// Query parameters of the admin URL that tenant URLs keep (where and how securely to connect;
/// never whom to connect as).
const TENANT_URL_PARAMS: [&str; 8] = [
    "host",
    "hostaddr",
    "port",
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
];

/// Attributes of every tenant role: log in to its own database, nothing else. INHERIT on
/// purpose: the role is granted no roles, but as database owner it is implicitly a member of
/// `pg_database_owner`, which owns schema `public` (PostgreSQL 15+); a NOINHERIT role could not
/// create its own tables there.
const ROLE_ATTRIBUTES: &str =
    "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS";
/// What a non-superuser admin may restate on an existing role: SUPERUSER, REPLICATION and
/// BYPASSRLS may only be mentioned by a superuser, even to switch them off.
const ROLE_ATTRIBUTES_NON_SUPERUSER: &str = "LOGIN NOCREATEDB NOCREATEROLE INHERIT";

/// A PostgreSQL server holding tenant databases, reached with its decrypted admin credentials.
pub struct PostgresBackend {
    server: String,
    pool: PgPool,
    /// For single direct connection attempts: the pool retries a refusal until its acquire
    /// timeout and then reports only the timeout.
    options: PgConnectOptions,
    /// The admin URL without credentials, database or other parameters: where tenants connect.
    tenant_base: Url,
    /// `pg_dump` / `pg_restore` with the admin's credentials.
    tools: PgTools,
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Connect options hold the admin password.
        f.debug_struct("PostgresBackend")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl PostgresBackend {
    /// `server_name` is for messages; `admin_url` carries the admin password (never printed).
    /// Connects lazily: an unreachable server is reported by the first operation. Call inside a
    /// Tokio runtime (the pool starts its idle reaper).
    pub fn new(server_name: &str, admin_url: &SecretString) -> Result<Self, BackendError> {
        Self::with_pg_bin(server_name, admin_url, None)
    }

    /// Like [`Self::new`]; backups run `pg_dump` and `pg_restore` from `pg_bin` when it is set.
    pub fn with_pg_bin(
        server_name: &str,
        admin_url: &SecretString,
        pg_bin: Option<std::path::PathBuf>,
    ) -> Result<Self, BackendError> {
        let invalid = |message: String| BackendError::Failed {
            action: "parse server URL",
            message,
        };
        // `url` errors never echo the input, so they cannot leak the password.
        let url = Url::parse(admin_url.expose_secret()).map_err(|e| invalid(e.to_string()))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(invalid(format!(
                "scheme {:?} is not postgres://",
                url.scheme()
            )));
        }
        let mut options = PgConnectOptions::from_url(&url)
            .map_err(|_| invalid("not a PostgreSQL connection URL".into()))?
            .application_name("tenantry-provision")
            // DDL carries SCRAM verifiers: keep it out of our own logs as well.
            .disable_statement_logging();
        if options.get_database().is_none() {
            options = options.database("postgres");
        }
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .idle_timeout(Duration::from_secs(60))
            .connect_lazy_with(options.clone());
        Ok(Self {
            server: server_name.to_owned(),
            pool,
            options,
            tenant_base: tenant_base(&url),
            tools: PgTools::from_url(&url, pg_bin),
        })
    }
}

fn tenant_base(admin: &Url) -> Url {
    let mut base = admin.clone();
    let _ = base.set_username("");
    let _ = base.set_password(None);
    base.set_path("");
    base.set_fragment(None);
    let kept: Vec<(String, String)> = admin
        .query_pairs()
        .filter(|(key, _)| TENANT_URL_PARAMS.contains(&key.as_ref()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    base.set_query(None);
    if !kept.is_empty() {
        base.query_pairs_mut().extend_pairs(kept);
    }
    base
}

fn role_sql(
    verb: &str,
    role: &DbIdent,
    attributes: &str,
    limit: i32,
    password: &ScramVerifier,
) -> String {
    format!(
        "{verb} ROLE {} {attributes} CONNECTION LIMIT {limit} PASSWORD {}",
        role.quoted(),
        password.sql_literal()
    )
}

/// sqlx's `Executor::execute` with no bind parameters uses the simple query protocol: the
/// statement is not prepared or cached, and may hold several statements.
pub(super) async fn run(conn: &mut PgConnection, sql: String) -> Result<(), sqlx::Error> {
    conn.execute(AssertSqlSafe(sql)).await.map(drop)
}

fn sqlstate(err: &sqlx::Error) -> Option<String> {
    err.as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned())
}

/// Another session created the same object between our existence check and our CREATE.
fn lost_race(err: &sqlx::Error, duplicate: &str) -> bool {
    // unique_violation: both passed the catalog's duplicate check before either committed.
    sqlstate(err).is_some_and(|code| code == duplicate || code == "23505")
}

#[async_trait]
impl DatabaseBackend for PostgresBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn ensure_role(
        &self,
        db: &TenantDatabase,
        password: &SecretString,
        connection_limit: i32,
    ) -> Result<(), BackendError> {
        self.converge_role(db, password, connection_limit).await
    }

    async fn ensure_database(&self, db: &TenantDatabase) -> Result<(), BackendError> {
        self.converge_database(db).await
    }

    fn tenant_url(&self, db: &TenantDatabase, password: Option<&SecretString>) -> SecretString {
        let mut url = self.tenant_base.clone();
        url.set_path(db.name.as_str());
        let user = db.role.as_ref().map(DbIdent::as_str);
        let password = password.map(|p| p.expose_secret());
        // `set_username` fails only without a host (a Unix-socket URL): use parameters then.
        let in_authority =
            url.set_username(user.unwrap_or("")).is_ok() && url.set_password(password).is_ok(); // `url` percent-encodes the password
        if !in_authority {
            let mut query = url.query_pairs_mut();
            if let Some(user) = user {
                query.append_pair("user", user);
            }
            if let Some(password) = password {
                query.append_pair("password", password);
            }
        }
        SecretString::from(url.to_string())
    }

    async fn set_login(&self, db: &TenantDatabase, login: Login) -> Result<(), BackendError> {
        self.alter_login(db, login).await
    }

    async fn claim_spare(
        &self,
        spare: &TenantDatabase,
        tenant: &TenantDatabase,
        password: &SecretString,
        connection_limit: i32,
    ) -> Result<(), BackendError> {
        self.claim(spare, tenant, password, connection_limit).await
    }

    async fn drop_database(&self, db: &TenantDatabase) -> Result<(), BackendError> {
        self.drop_tenant_database(db).await
    }

    async fn drop_role(&self, db: &TenantDatabase) -> Result<(), BackendError> {
        self.drop_tenant_role(db).await
    }

    async fn end_sessions(&self, db: &TenantDatabase) -> Result<(), BackendError> {
        self.end_tenant_sessions(db).await
    }

    async fn database_exists(&self, db: &TenantDatabase) -> Result<bool, BackendError> {
        let mut conn = self.conn().await?;
        database_exists(&mut conn, &db.name)
            .await
            .map_err(|e| self.error("look up database", e))
    }

    async fn database_size(&self, db: &TenantDatabase) -> Result<u64, BackendError> {
        self.database_bytes(db).await
    }

    async fn list_databases(&self) -> Result<Vec<String>, BackendError> {
        self.names(
            "list databases",
            "SELECT datname::text FROM pg_database ORDER BY 1",
        )
        .await
    }

    async fn list_roles(&self) -> Result<Vec<String>, BackendError> {
        self.names(
            "list roles",
            "SELECT rolname::text FROM pg_roles ORDER BY 1",
        )
        .await
    }

    async fn dump(
        &self,
        db: &TenantDatabase,
        out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<(), BackendError> {
        let major = self.server_major().await?;
        self.tools.dump(major, &db.name, false, out).await
    }

    async fn load(
        &self,
        db: &TenantDatabase,
        input: &mut (dyn tokio::io::AsyncRead + Unpin + Send),
    ) -> Result<(), BackendError> {
        let major = self.server_major().await?;
        self.tools
            .restore(major, &db.name, self.role(db)?, input)
            .await
    }
}

#[cfg(test)]
mod tests;
