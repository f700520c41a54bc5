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

use std::time::{Duration, Instant};

use async_trait::async_trait;
use secrecy::{ExposeSecret as _, SecretString};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions as _, Executor as _};
use tenantry_migrate::Dialect;
use url::Url;

use super::contention::{Sessions, TERMINATE_PASSES, end_sessions, run_retrying};
use super::scram::ScramVerifier;
use super::{BackendError, DatabaseBackend, DbIdent, Login, TenantDatabase};

mod connect;
mod replication;
mod spare;
mod tools;

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

    fn role<'a>(&self, db: &'a TenantDatabase) -> Result<&'a DbIdent, BackendError> {
        db.role.as_ref().ok_or_else(|| BackendError::Failed {
            action: "resolve tenant role",
            message: format!("PostgreSQL tenant database {} has no role", db.name),
        })
    }

    async fn terminate(
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
        let role = self.role(db)?;
        let verifier = ScramVerifier::for_random_password(password);
        let mut conn = self.conn().await?;
        let (exists, superuser): (bool, bool) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1), \
                    (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)",
        )
        .bind(role.as_str())
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| self.error("look up role", e))?;
        let mut created = false;
        if !exists {
            match run_retrying(
                &mut conn,
                &role_sql("CREATE", role, ROLE_ATTRIBUTES, connection_limit, &verifier),
            )
            .await
            {
                Ok(()) => created = true,
                Err(e) if lost_race(&e, "42710") => {}
                Err(e) => return Err(self.error("create role", e)),
            }
        }
        if !created {
            let attributes = if superuser {
                ROLE_ATTRIBUTES
            } else {
                ROLE_ATTRIBUTES_NON_SUPERUSER
            };
            run_retrying(
                &mut conn,
                &role_sql("ALTER", role, attributes, connection_limit, &verifier),
            )
            .await
            .map_err(|e| self.error("alter role", e))?;
        }
        if !superuser {
            // A CREATEROLE admin can only make the role a database owner, drop that database
            // and end the role's sessions as a member of it. Granting twice is a no-op.
            run_retrying(
                &mut conn,
                &format!("GRANT {} TO CURRENT_USER", role.quoted()),
            )
            .await
            .map_err(|e| self.error("grant role to admin", e))?;
        }
        Ok(())
    }

    async fn ensure_database(&self, db: &TenantDatabase) -> Result<(), BackendError> {
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
        let role = self.role(db)?;
        let mut conn = self.conn().await?;
        match login {
            Login::Allowed => {
                run_retrying(&mut conn, &format!("ALTER ROLE {} LOGIN", role.quoted()))
                    .await
                    .map_err(|e| self.error("allow login", e))
            }
            Login::Refused => {
                run_retrying(&mut conn, &format!("ALTER ROLE {} NOLOGIN", role.quoted()))
                    .await
                    .map_err(|e| self.error("refuse login", e))?;
                self.terminate(&mut conn, Sessions::OfRole(role)).await
            }
        }
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
        let mut conn = self.conn().await?;
        run_retrying(
            &mut conn,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", db.name.quoted()),
        )
        .await
        .map_err(|e| self.error("drop database", e))
    }

    async fn drop_role(&self, db: &TenantDatabase) -> Result<(), BackendError> {
        let Some(role) = &db.role else { return Ok(()) };
        let mut conn = self.conn().await?;
        run_retrying(&mut conn, &format!("DROP ROLE IF EXISTS {}", role.quoted()))
            .await
            .map_err(|e| match sqlstate(&e).as_deref() {
                // dependent_objects_still_exist: its database was not dropped first.
                Some("2BP01") => BackendError::Failed {
                    action: "drop role",
                    message: format!(
                        "role {role} still owns objects; drop database {} first",
                        db.name
                    ),
                },
                _ => self.error("drop role", e),
            })
    }

    async fn end_sessions(&self, db: &TenantDatabase) -> Result<(), BackendError> {
        let mut conn = self.conn().await?;
        let which = Sessions::LeftBy {
            role: db.role.as_ref(),
            database: &db.name,
        };
        self.terminate(&mut conn, which).await
    }

    async fn database_exists(&self, db: &TenantDatabase) -> Result<bool, BackendError> {
        let mut conn = self.conn().await?;
        database_exists(&mut conn, &db.name)
            .await
            .map_err(|e| self.error("look up database", e))
    }

    async fn database_size(&self, db: &TenantDatabase) -> Result<u64, BackendError> {
        let mut conn = self.conn().await?;
        let size: i64 = sqlx::query_scalar("SELECT pg_database_size($1::text::name)")
            .bind(db.name.as_str())
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| self.error("measure database", e))?;
        Ok(u64::try_from(size).unwrap_or(0))
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

impl PostgresBackend {
    /// The server's major version (`server_version_num` / 10000), which the client tools must
    /// match or exceed.
    async fn server_major(&self) -> Result<u32, BackendError> {
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
    async fn names(
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

async fn database_exists(conn: &mut PgConnection, name: &DbIdent) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name.as_str())
        .fetch_one(conn)
        .await
}

#[cfg(test)]
mod tests;
